"""The cache as a store, measured on synthetic entries (no codecs): numbers, no assertions.

    python benchmarks/cache_benchmark.py [--entries 1000000] [--jobs 100] [--loose-entries 20000]

After (packed store): writes ``--entries`` small results in ``--jobs`` jobs (one Cache each,
as the workflow does), then prints files and bytes on disk, write throughput, lookup cost
(a fresh process's first lookups, which load the indexes, and warm lookups), and the time
of ``stats``, ``verify`` and ``gc`` (after which the indexes are merged), and lookups again.
Before (the loose-file store, one blob file + one index file per entry, taken from git
history): the same on ``--loose-entries`` entries, extrapolated linearly to ``--entries``
(it walks and hashes every file, so its costs grow with the entry count).

A "variant" is counted as 4 entries (1 artifact, 1 prediction, 2 metric groups), as in the
default study (2,592 variants -> 10,233 index entries).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from codecsweep.core.hashing import human_bytes  # noqa: E402
from codecsweep.core.keys import make_key  # noqa: E402
from codecsweep.storage.cache import Cache  # noqa: E402

ENTRIES_PER_VARIANT = 4
BEFORE_COMMIT = "57cf807"  # the last commit with the loose-file store


def payload(i: int) -> tuple[str, str, bytes, dict]:
    """Small synthetic results: 3 of 4 metric-sized JSON (~60 B), 1 of 4 a 1 KiB 'artifact'."""
    if i % 4 == 0:
        return "artifact", make_key("artifact", i=i), random.Random(i).randbytes(1024), {"encode_ms": 1.0}
    return "metric", make_key("metric", i=i), json.dumps({"psnr": i / 7, "ssim": i / 11}).encode(), {}


def disk(root: pathlib.Path) -> tuple[int, int]:
    """(files, bytes allocated on disk)."""
    n = size = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            st = os.stat(os.path.join(dirpath, name))
            n += 1
            size += st.st_blocks * 512
    return n, size


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def write(cache_cls, root, entries: int, jobs: int, close: bool) -> float:
    per_job = -(-entries // jobs)
    t = time.perf_counter()
    for j in range(jobs):
        cache = cache_cls(root)
        for i in range(j * per_job, min(entries, (j + 1) * per_job)):
            cache.put(*payload(i))
        if close:
            cache.close()
    return time.perf_counter() - t


LOOKUP = """
import random, sys, time
sys.path[:0] = [{repo!r}, {extra!r}]
from {module} import Cache
from codecsweep.core.keys import make_key
n, entries = 1000, {entries}
ids = random.Random(1).sample(range(entries), 2 * n)
kind = lambda i: "artifact" if i % 4 == 0 else "metric"
cache = Cache({root!r})
t = time.perf_counter()
assert all(cache.get(kind(i), make_key(kind(i), i=i)) is not None for i in ids[:n])
first = (time.perf_counter() - t) / n
t = time.perf_counter()
assert all(cache.get(kind(i), make_key(kind(i), i=i)) is not None for i in ids[n:])
print(first * 1000, (time.perf_counter() - t) / n * 1000)
"""


def lookups(root, entries: int, module: str = "codecsweep.storage.cache", extra: str = "") -> tuple[float, float]:
    """ms per lookup in a fresh process: its first 1,000 (loading indexes included), then 1,000 more."""
    repo = str(pathlib.Path(__file__).resolve().parent.parent)
    code = LOOKUP.format(repo=repo, extra=extra, module=module, entries=entries, root=str(root))
    first, warm = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(first), float(warm)


def age(root: pathlib.Path) -> None:
    t = time.time() - 7200
    for dirpath, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(dirpath, name), (t, t))


def report(label: str, entries: int, files: int, size: int, scale: float = 1.0) -> None:
    per_1000 = files / (entries / ENTRIES_PER_VARIANT) * 1000
    print(
        f"{label}: {files * scale:,.0f} files, {human_bytes(size * scale)} on disk "
        f"-> {per_1000:.3f} files and {human_bytes(size / (entries / ENTRIES_PER_VARIANT) * 1000)} "
        "per 1,000 variants"
    )


def packed(entries: int, jobs: int, base: pathlib.Path) -> None:
    root = base / "packed"
    print(f"== packed store: {entries:,} entries ({entries // ENTRIES_PER_VARIANT:,} variants) in {jobs} jobs")
    seconds = write(Cache, root, entries, jobs, close=True)
    files, size = disk(root)
    print(f"write: {entries / seconds:,.0f} entries/s, {human_bytes(size / seconds)}/s ({seconds:.1f} s)")
    report("on disk", entries, files, size)
    first, warm = lookups(root, entries)
    print(f"lookup, {jobs} pack indexes: first 1,000 {first:.3f} ms each (index load included), warm {warm:.3f} ms")
    stats, t = timed(lambda: Cache(root).stats())
    pack_h, index_h = human_bytes(stats["pack_bytes"]), human_bytes(stats["index_bytes"])
    print(f"stats: {t:.2f} s ({pack_h} in {stats['packs']} packs, index {index_h})")
    problems, t = timed(lambda: Cache(root).verify())
    print(f"verify: {t:.2f} s ({len(problems)} problems)")
    age(root)
    result, t = timed(lambda: Cache(root).gc())
    print(f"gc (packs small packs together, merges indexes): {t:.2f} s {result}")
    files, size = disk(root)
    report("on disk after gc", entries, files, size)
    first, warm = lookups(root, entries)
    print(f"lookup, merged index: first 1,000 {first:.3f} ms each, warm {warm:.3f} ms")
    _, t = timed(lambda: Cache(root).stats())
    print(f"stats after gc: {t:.2f} s")


def loose(entries: int, target: int, base: pathlib.Path) -> None:
    source = subprocess.run(
        ["git", "show", f"{BEFORE_COMMIT}:codecsweep/cache.py"],
        cwd=pathlib.Path(__file__).parent,
        capture_output=True,
        text=True,
    )
    if source.returncode != 0:
        print(f"before: skipped (the loose-file store is read from git history, {BEFORE_COMMIT}: {source.stderr})")
        return
    extra = base / "before"
    extra.mkdir()
    (extra / "loose_cache.py").write_text(source.stdout)
    sys.path.insert(0, str(extra))
    module = importlib.import_module("loose_cache")
    root = base / "loose"
    scale = target / entries
    print(f"== loose-file store (before): {entries:,} entries; 'x{scale:g}' = extrapolated linearly to {target:,}")
    seconds = write(module.Cache, root, entries, 10, close=False)
    files, size = disk(root)
    print(f"write: {entries / seconds:,.0f} entries/s, {human_bytes(size / seconds)}/s ({seconds:.1f} s)")
    report(f"on disk x{scale:g}", entries, files, size, scale)
    first, warm = lookups(root, entries, "loose_cache", str(extra))
    print(f"lookup: first 1,000 {first:.3f} ms each, warm {warm:.3f} ms")
    for name, fn in (
        ("stats", lambda: module.Cache(root).stats()),
        ("verify", lambda: module.Cache(root).verify()),
        ("gc", lambda: module.Cache(root).gc()),
    ):
        _, t = timed(fn)
        print(f"{name}: {t:.2f} s, x{scale:g} = {t * scale:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--loose-entries", type=int, default=20_000)
    parser.add_argument("--dir", help="where to build the caches (default: a temporary folder, removed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="cache-bench-") as tmp:
        base = pathlib.Path(tmp)
        packed(args.entries, args.jobs, base)
        if args.loose_entries:
            loose(args.loose_entries, args.entries, base)


if __name__ == "__main__":
    main()
