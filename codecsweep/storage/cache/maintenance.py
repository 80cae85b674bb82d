"""Maintenance of a cache (``codecsweep cache stats|verify|gc``): functions taking a ``Cache``.

Only the files under ``cache.root`` are read here, plus ``cache.read_record`` (a record,
checked) and ``cache.close``/``cache.reload`` (seal the pack being written, forget the
indexes read); so this module needs nothing from the job-facing store.
"""

from __future__ import annotations

import mmap
import os
import pathlib
import time
from collections import Counter

import numpy as np

from .index import NO_INDEX, SHA_KIND, key_rows, new_name, pack_indexes, pack_names, write_index
from .record import BadRecord, decode_record, walk_records

GRACE_S = 3600  # gc leaves packs and temp files younger than this alone: jobs may be using them
REPAIR_GRACE_S = 0  # verify --repair is run when no job uses the cache (README): nothing is too young


def stats(cache) -> dict:
    """Packs, bytes on disk, files, entries per kind and duplicate entries (reads the indexes only)."""
    root = cache.root
    kinds, key_ids = Counter(), []
    for table in cache._load():
        numbers, counts = np.unique(table.loc["kind"], return_counts=True)
        kinds.update({table.kinds[k]: int(n) for k, n in zip(numbers, counts) if table.kinds[k] != SHA_KIND})
        if SHA_KIND in table.kinds:
            key_ids.append(table.ids[table.loc["kind"] != table.kinds.index(SHA_KIND)])
        else:
            key_ids.append(table.ids)
    n_keys = len(np.unique(np.concatenate(key_ids))) if key_ids else 0
    dup = sum(kinds.values()) - n_keys
    packs = pack_names(root)
    pack_bytes = sum((root / "packs" / f"{n}.pack").stat().st_size for n in packs)
    index_bytes = sum(p.stat().st_size for d in ("packs", "merged") for p in (root / d).glob("*.idx"))
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


def check_packs(root: pathlib.Path, names=None) -> tuple[dict, dict, list[str]]:
    """Read every record of every sealed pack (of ``names``, if given) through its index.

    Returns ({key: [(pack, offset, length, kind, sha)] good copies}, {pack: [bad offsets]},
    problems not tied to a record)."""
    good, bad, other = {}, {}, []
    for name, index in pack_indexes(root).items():
        if names is not None and name not in names:
            continue
        if isinstance(index, str):
            if index != NO_INDEX:  # a pack without index is unseen and harmless; gc indexes it
                other.append(f"pack {name}: {index}")
            continue
        with open(root / "packs" / f"{name}.pack", "rb") as f:
            size = os.fstat(f.fileno()).st_size
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        for idb, _, offset, length, kind in index.rows():
            if kind == SHA_KIND:
                continue
            try:
                header, _ = decode_record(buf[offset : offset + length])
                if (header["kind"], bytes.fromhex(header["key"])) != (kind, idb):
                    raise BadRecord("index points at another record")
                good.setdefault(idb, []).append((name, offset, length, kind, header["sha"]))
            except BadRecord as exc:
                bad.setdefault(name, []).append((offset, kind, idb.hex(), str(exc)))
    return good, bad, other


def verify(cache, repair: bool = False, grace_s: float = REPAIR_GRACE_S) -> list[str]:
    """Check every record of every pack; a bad record with no good copy is a problem.

    With ``repair``, packs holding bad records are rewritten without them (the results
    they held become misses, recomputed by the next run), unreadable indexes rebuilt and
    the leftovers of killed writes removed: a ``gc`` of every pack, which leaves temp files
    younger than ``grace_s`` alone (default 0: none, as repair is run when no job uses the cache)."""
    good, bad, problems = check_packs(cache.root)
    for pack, records in sorted(bad.items()):
        for offset, kind, key, reason in records:
            if bytes.fromhex(key) not in good:  # a good copy elsewhere serves: not a problem
                problems.append(f"corrupt {kind} {key} in pack {pack} at offset {offset}: {reason}")
    for idx in sorted((cache.root / "packs").glob("*.idx")):
        if not idx.with_suffix(".pack").exists():
            problems.append(f"index {idx.name} without its pack")
    if repair and problems:
        gc(cache, rewrite_all=True, grace_s=grace_s)
    return problems


def gc(cache, dry_run: bool = False, rewrite_all: bool = False, grace_s: float = GRACE_S) -> dict:
    """Rewrite old packs that hold superseded or corrupt copies, pack small old packs
    together, remove leftovers of killed writes, then merge all pack indexes into one.

    Packs and temp files younger than ``grace_s`` are left alone (a job may be writing or
    reading them). The newest good copy of every key is kept: every servable result is kept.
    """
    root = cache.root
    cutoff = time.time() - grace_s
    cache.close()
    result = Counter()
    _remove_leftovers(root, cutoff, dry_run, result)
    old = {n for n in pack_names(root) if (root / "packs" / f"{n}.pack").stat().st_mtime < cutoff or rewrite_all}
    for name, index in pack_indexes(root).items():
        if name in old and isinstance(index, str):  # killed between sealing the pack and its index
            result["reindexed_packs"] += 1
            if not dry_run:
                reindex(root, name)
    rewrite, keep = _plan_rewrite(root, old, cache.roll_bytes, result)
    if not dry_run and rewrite:
        _rewrite(cache, rewrite, keep)
    if not dry_run:
        merge_indexes(root)
    cache.reload()
    cache.close()
    return dict(result)


def _remove_leftovers(root: pathlib.Path, cutoff: float, dry_run: bool, result: Counter) -> None:
    """Temp files of killed writers, and indexes without their pack, older than ``cutoff``."""
    for path in (root / "tmp").iterdir():
        if path.stat().st_mtime < cutoff:  # a running job's pack is younger: never
            result["removed_partial_writes"] += 1
            if not dry_run:
                path.unlink(missing_ok=True)
    for idx in (root / "packs").glob("*.idx"):
        if not idx.with_suffix(".pack").exists() and idx.stat().st_mtime < cutoff:
            result["removed_dangling_indexes"] += 1
            if not dry_run:
                idx.unlink(missing_ok=True)


def _plan_rewrite(root: pathlib.Path, old: set[str], roll_bytes: int, result: Counter) -> tuple[set[str], list]:
    """Which of the ``old`` packs to rewrite, and the copies they hold that are kept
    ((pack, offset, length, kind, sha), in pack order); counts what that frees in ``result``."""
    indexes = pack_indexes(root)
    good, bad, _ = check_packs(root)
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
    return (root / "packs" / f"{name}.pack").stat().st_size


def reindex(root: pathlib.Path, name: str) -> None:
    """Rebuild a pack's index by walking its records (packs describe themselves)."""
    path = root / "packs" / f"{name}.pack"
    rows = [(h["key"], h["kind"], h["sha"], off, length) for h, off, length in walk_records(path.read_bytes())]
    kinds = sorted({k for _, k, *_ in rows} | {SHA_KIND})
    index_rows = []
    for key, kind, sha, off, length in rows:
        index_rows.append((bytes.fromhex(key), 0, off, length, kinds.index(kind)))
        index_rows.append((bytes.fromhex(sha), 0, off, length, kinds.index(SHA_KIND)))
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
