"""Maintenance of a cache (``codecsweep cache stats|verify|gc``): functions taking a ``Cache``.

Only the files under ``cache.root`` are read here, plus ``cache.read_record`` (a record,
checked) and ``cache.close``/``cache.reload`` (seal the pack being written, forget the
indexes read); so this module needs nothing from the job-facing store. ``verify``'s checks
are in ``audit``.
"""

from __future__ import annotations

import pathlib
import shutil
import time
from collections import Counter

import numpy as np

from .audit import Findings, PackCheck, audit, check_pack, mapped
from .index import SET_ASIDE, SHA_KIND, Index, key_rows, new_name, pack_indexes, pack_names, write_index

__all__ = ["GRACE_S", "REPAIR_GRACE_S", "Findings", "audit", "gc", "stats", "verify"]

#: gc leaves packs and temp files younger than this alone: jobs may be writing or reading them.
#: Damaged files (an index that fails its checks, or is set aside, or has no pack) and packs
#: without an index it clears at any age: no job can be using them.
GRACE_S = 3600
REPAIR_GRACE_S = 0  # verify --repair is run when no job uses the cache (README): nothing is too young


def stats(cache) -> dict:
    """Packs, bytes on disk, files, entries per kind and duplicate entries (reads the indexes only)."""
    root = cache.root
    kinds, key_ids = Counter(), []
    for table in cache._load():
        known = table.loc["kind"] < len(table.kinds)  # a damaged row of a merged index names no kind
        numbers, counts = np.unique(table.loc["kind"][known], return_counts=True)
        kinds.update({table.kinds[k]: int(n) for k, n in zip(numbers, counts) if table.kinds[k] != SHA_KIND})
        if SHA_KIND in table.kinds:
            key_ids.append(table.ids[known & (table.loc["kind"] != table.kinds.index(SHA_KIND))])
        else:
            key_ids.append(table.ids[known])
    n_keys = len(np.unique(np.concatenate(key_ids))) if key_ids else 0
    dup = sum(kinds.values()) - n_keys
    packs = pack_names(root)
    pack_bytes = sum(_size(root / "packs" / f"{n}.pack") for n in packs)
    index_bytes = sum(_size(p) for d in ("packs", "merged") for p in (root / d).glob("*.idx"))
    files = sum(1 for d in ("packs", "merged", "tmp") for _ in (root / d).iterdir())
    return {
        "root": str(root),
        "packs": len(packs),
        "pack_bytes": pack_bytes,
        "index_bytes": index_bytes,
        "files": files,
        "entries": dict(sorted(kinds.items())),
        "duplicate_entries": dup,
        "partial_writes": sum(1 for _ in (root / "tmp").iterdir()),
    }


def _size(path: pathlib.Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # removed by a gc since it was listed
        return 0


def verify(cache, repair: bool = False, grace_s: float = REPAIR_GRACE_S) -> list[str]:
    """The problems ``audit`` finds: damage that leaves a result without a good copy a reader
    reaches (a bad record, a damaged pack or merged index, an index without its pack).

    With ``repair`` (when it finds problems or leftovers), packs holding bad records are
    rewritten without them (the results they held become misses, recomputed by the next run),
    damaged indexes rebuilt and the leftovers of killed writes removed: a ``gc`` of every pack,
    which leaves temp files younger than ``grace_s`` alone (default 0: none, as repair is run
    when no job uses the cache)."""
    findings = audit(cache)
    if repair and (findings.problems or findings.leftovers):
        gc(cache, rewrite_all=True, grace_s=grace_s)
    return findings.problems


def gc(cache, dry_run: bool = False, rewrite_all: bool = False, grace_s: float = GRACE_S) -> dict:
    """Rewrite old packs that hold superseded or corrupt copies, pack small old packs
    together, remove leftovers of killed writes, then merge all pack indexes into one.

    Packs and temp files younger than ``grace_s`` are left alone (a job may be writing or
    reading them); damaged index files and packs without a usable index are dealt with at any
    age (see ``GRACE_S``). The newest good copy of every key is kept: every servable result is kept.
    """
    root = cache.root
    cutoff = time.time() - grace_s
    cache.close()
    result = Counter()
    _remove_leftovers(root, cutoff, dry_run, result)
    checks = _heal_indexes(root, dry_run, result)
    old = {n for n in checks if _mtime(root / "packs" / f"{n}.pack") < cutoff or rewrite_all}
    rewrite, keep = _plan_rewrite(root, old, cache.roll_bytes, result, checks)
    if not dry_run and rewrite:
        _rewrite(cache, rewrite, keep)
    if not dry_run:
        merge_indexes(root)
    cache.reload()
    cache.close()
    return dict(result)


def _mtime(path: pathlib.Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed by another gc since it was listed: not old
        return time.time()


def _remove_leftovers(root: pathlib.Path, cutoff: float, dry_run: bool, result: Counter) -> None:
    """Temp files of killed writers older than ``cutoff``; indexes without their pack, at any
    age (a writer renames its pack before it writes the index, gc removes an index before its
    pack: a reader never needs an index without its pack)."""
    for path in (root / "tmp").iterdir():
        if _mtime(path) < cutoff:  # a running job's pack is younger: never
            result["removed_partial_writes"] += 1
            if not dry_run:
                _remove(path)
    for idx in (root / "packs").glob("*.idx"):
        if not idx.with_suffix(".pack").exists():
            result["removed_dangling_indexes"] += 1
            if not dry_run:
                _remove(idx)


def _remove(path: pathlib.Path) -> None:
    """Remove a file (or whatever else is there: a folder left in ``tmp/``)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _heal_indexes(root: pathlib.Path, dry_run: bool, result: Counter) -> dict[str, PackCheck]:
    """Check every record of every pack (``audit.check_pack``) and index again, from its
    records, every pack without a usable index (none yet, damaged, set aside by a reader) or
    whose index has rows that find no record of it, at any age: a sealed pack never changes, and
    a writer between sealing its pack and writing the index writes the same index. Then remove
    the set-aside files. Returns each pack's check (against its index as it is now)."""
    checks = {}
    for name, index in pack_indexes(root).items():
        try:
            buf = mapped(root / "packs" / f"{name}.pack")
        except FileNotFoundError:  # removed by another gc meanwhile
            continue
        check = check_pack(buf, None if isinstance(index, str) else index)
        if isinstance(index, str) or check.damaged_rows:
            result["reindexed_packs"] += 1
            if not dry_run:
                reindex(root, name, check)
                check = check_pack(buf, Index(root / "packs" / f"{name}.idx", pack=name))
        checks[name] = check
    for path in [*(root / "packs").glob(f"*{SET_ASIDE}"), *(root / "merged").glob(f"*{SET_ASIDE}")]:
        result["removed_damaged_indexes"] += 1
        if not dry_run:
            _remove(path)
    return checks


def _plan_rewrite(
    root: pathlib.Path, old: set[str], roll_bytes: int, result: Counter, checks: dict
) -> tuple[set[str], list]:
    """Which of the ``old`` packs to rewrite, and the copies they hold that are kept
    ((pack, offset, length, kind, sha), in pack order); counts what that frees in ``result``.
    ``checks``: every pack's ``PackCheck``."""
    indexes = pack_indexes(root)
    good, bad = {}, {}  # key -> its good copies its packs' indexes find; pack -> its records that fail
    for name, check in checks.items():
        for offset, length in check.indexed or ():
            key, kind, sha = check.good[offset, length]
            good.setdefault(key, []).append((name, offset, length, kind, sha.hex()))
        if check.bad:
            bad[name] = check.bad
    newest = {idb: max(copies) for idb, copies in good.items()}  # pack names sort by time
    live = Counter(copy[0] for copy in newest.values())
    rewrite = {n for n in old if n in bad or live[n] < key_rows(indexes.get(n))}
    small = {n for n in old if _pack_size(root, n) < roll_bytes // 4}
    if len(small | rewrite) > 1:  # pack small packs together: fewer files, fewer indexes to read
        rewrite |= small
    result["corrupt_records"] = sum(len(v) for k, v in bad.items() if k in rewrite)
    keep = sorted((copy for copy in newest.values() if copy[0] in rewrite), key=lambda c: c[:2])
    result["rewritten_packs"] = len(rewrite)
    result["freed_bytes"] = sum(_pack_size(root, n) for n in rewrite) - sum(c[2] for c in keep)
    result["dropped_records"] = sum(key_rows(indexes.get(n)) for n in rewrite) - len(keep)
    return rewrite, keep


def _rewrite(cache, rewrite: set[str], keep: list) -> None:
    """Copy the kept records into one new pack, then remove the rewritten packs."""
    out = type(cache)(cache.root, roll_bytes=max(cache.roll_bytes, 1 << 30))
    for pack, offset, length, _, _ in keep:
        header, data = cache.read_record(pack, offset, length)
        out.put(header["kind"], header["key"], data, header["meta"])
    out.close()
    for name in rewrite:  # the index first: a reader never finds rows without their pack
        (cache.root / "packs" / f"{name}.idx").unlink(missing_ok=True)
        (cache.root / "packs" / f"{name}.pack").unlink(missing_ok=True)


def _pack_size(root: pathlib.Path, name: str) -> int:
    return _size(root / "packs" / f"{name}.pack")


def reindex(root: pathlib.Path, name: str, check: PackCheck | None = None) -> None:
    """Rebuild a pack's index from its records (packs describe themselves): every record a walk
    finds (by its header) and, beyond a damaged header that stops the walk, every good record the
    old index found (``check``: the pack's ``check_pack`` against it)."""
    path = root / "packs" / f"{name}.pack"
    if check is None:
        try:
            check = check_pack(mapped(path))
        except FileNotFoundError:  # removed by another gc meanwhile
            return
    records = [(bytes.fromhex(h["key"]), h["kind"], bytes.fromhex(h["sha"]), off, n) for off, n, h in check.walked]
    records += [(k, kind, sha, off, n) for (off, n), (k, kind, sha) in sorted(check.good.items()) if off >= check.end]
    kinds = sorted({kind for _, kind, *_ in records} | {SHA_KIND})
    index_rows = []
    for key, kind, sha, off, length in records:
        index_rows.append((key, 0, off, length, kinds.index(kind)))
        index_rows.append((sha, 0, off, length, kinds.index(SHA_KIND)))
    write_index(path.with_suffix(".idx"), root / "tmp", [name], kinds, index_rows)


def merge_indexes(root: pathlib.Path) -> None:
    """One sorted index of every sealed pack; readers then open it and the newer ones."""
    packs, kinds, rows = [], [SHA_KIND], []
    for name, index in pack_indexes(root).items():
        if isinstance(index, str):
            continue
        number = len(packs)
        packs.append(name)
        for idb, _, offset, length, kind in index.rows():
            if kind not in kinds:
                kinds.append(kind)
            rows.append((idb, number, offset, length, kinds.index(kind)))
    old = list((root / "merged").glob("*.idx"))
    write_index(root / "merged" / f"{new_name()}.idx", root / "tmp", packs, kinds, rows)
    for path in old:  # a reader that has one open keeps reading it (POSIX unlink semantics)
        path.unlink(missing_ok=True)
