"""Content-addressed artifact cache (CAS), packed: a few files per job, not several per result.

Layout under ``cache_dir``::

    packs/<name>.pack   records back to back, each: b"CSR1", u32 header length, header JSON
                        (kind, key, sha256 and size of the data, meta), then the data
    packs/<name>.idx    the pack's index: lookup id -> (pack, offset, length) of a record
    merged/<name>.idx   many packs' indexes merged into one sorted file (written by ``gc``)
    tmp/                a pack (and index) being written; renamed into ``packs/`` when sealed

A key is the sha256 of a canonical JSON of everything the result depends on (and only
content: never a path or a time). Each ``Cache`` appends the results it computes to one new
pack, which it seals (rename the pack, then write its index: temp + rename) on ``close()``,
at interpreter exit, or every ``roll_bytes``, so a killed job loses at most that much work
and never leaves a visible partial pack. Sealed packs and indexes are immutable, so many
processes on many nodes (NFS included) write at once without locks; two packs that hold one
key hold equivalent results, and the newest one (pack names start with the time) serves.

Every record is indexed twice: under its key (``get``) and under the sha256 of its data
(``read_blob``). Reads check the record's header and the data's sha256; a bad copy counts
as ``corrupt`` and the next copy is tried, and a key with no good copy is a miss: the caller
recomputes it and ``put`` writes a fresh copy into the new pack (an existing copy is never
trusted for a write), which serves from then on. ``gc`` drops superseded and corrupt copies
by rewriting old packs, packs small ones together and merges the indexes, so that a reader
opens one memory-mapped index plus those of the packs written since.

No fsync: a killed process cannot leave a half-visible file (rename is atomic), and what a
power cut might truncate is caught by the checks on read.
"""

from __future__ import annotations

import json
import mmap
import os
import pathlib
import secrets
import struct
import time
import weakref
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..core.hashing import sha256_bytes

RECORD_MAGIC = b"CSR1"
INDEX_MAGIC = b"CSIX1\n"
SHA_KIND = "sha256"  # the kind of the index rows that find a record by its data's sha256
LOC = np.dtype([("pack", "<u4"), ("offset", "<u8"), ("length", "<u4"), ("kind", "<u2")])
NO_INDEX = "no index yet"
GRACE_S = 3600  # gc leaves packs and temp files younger than this alone: jobs may be using them


class CacheWriteError(RuntimeError):
    """The cache cannot store a result (e.g. a full disk)."""


class CacheCorruptError(RuntimeError):
    """A stored result is missing or fails its checks when read."""


class CacheLayoutError(RuntimeError):
    """The cache directory holds the loose-file layout from before packs."""


@dataclass
class Entry:
    data: bytes
    blob: str
    meta: dict


class _BadRecord(Exception):
    pass


def _new_name() -> str:
    """Pack names sort by creation time (newest copy wins) and never collide across nodes."""
    return f"{time.time_ns():016x}-{secrets.token_hex(6)}"


def encode_record(kind: str, key: str, data: bytes, meta: dict | None) -> tuple[bytes, str]:
    sha = sha256_bytes(data)
    header = {"kind": kind, "key": key, "sha": sha, "size": len(data), "meta": meta or {}}
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return RECORD_MAGIC + struct.pack("<I", len(head)) + head + data, sha


def decode_record(buf) -> tuple[dict, bytes]:
    """(header, data) of one record, checked: magic, header, size, sha256 of the data."""
    if len(buf) < 8 or bytes(buf[:4]) != RECORD_MAGIC:
        raise _BadRecord("record header damaged")
    (hlen,) = struct.unpack("<I", buf[4:8])
    try:
        header = json.loads(bytes(buf[8 : 8 + hlen]))
        sha, size = header["sha"], header["size"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _BadRecord(f"record header unreadable ({exc})") from None
    data = bytes(buf[8 + hlen : 8 + hlen + size])
    if len(data) != size:
        raise _BadRecord(f"blob {sha[:12]} truncated ({len(data)} of {size} bytes)")
    if sha256_bytes(data) != sha:
        raise _BadRecord(f"blob {sha[:12]} fails its sha256 check")
    return header, data


# -- index files -------------------------------------------------------------------------------
# [INDEX_MAGIC][u32 n][header JSON: packs, kinds, rows][zero pad to 8]
# [rows x 32-byte ids, sorted][rows x LOC]: the ids are one contiguous sorted column, so a
# memory-mapped index is searched in place (binary search reads a few pages, not the file).


def write_index(path: pathlib.Path, tmp_dir: pathlib.Path, packs: list[str], kinds: list[str], rows) -> None:
    """``rows``: (id bytes, pack number, offset, length, kind number); written sorted, atomically."""
    ids = np.array([r[0] for r in rows], dtype="S32")
    loc = np.array([r[1:] for r in rows], dtype=LOC) if rows else np.zeros(0, LOC)
    order = np.argsort(ids, kind="stable")
    head = json.dumps({"packs": packs, "kinds": kinds, "rows": len(rows)}).encode()
    pre = INDEX_MAGIC + struct.pack("<I", len(head)) + head
    pre += b"\0" * (-len(pre) % 8)
    tmp = tmp_dir / f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        with open(tmp, "wb") as f:
            f.write(pre)
            f.write(ids[order].tobytes())
            f.write(loc[order].tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CacheWriteError(f"cannot write cache index {path}: {exc.strerror or exc}") from exc


class Index:
    """One index file, read in place (memory-mapped)."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            if buf[: len(INDEX_MAGIC)] != INDEX_MAGIC:
                raise ValueError("not a cache index")
            (hlen,) = struct.unpack("<I", buf[6:10])
            head = json.loads(bytes(buf[10 : 10 + hlen]))
            self.packs, self.kinds, n = head["packs"], head["kinds"], head["rows"]
            start = 10 + hlen + (-(10 + hlen) % 8)
            if size != start + n * (32 + LOC.itemsize):
                raise ValueError(f"{size} bytes, expected {start + n * (32 + LOC.itemsize)}")
            self.ids = np.frombuffer(buf, "S32", n, start)
            self.loc = np.frombuffer(buf, LOC, n, start + 32 * n)
        except (ValueError, KeyError, TypeError, struct.error) as exc:
            raise ValueError(f"unreadable cache index {path}: {exc}") from None

    def find(self, idb: bytes) -> list[tuple[str, int, int]]:
        lo, hi = np.searchsorted(self.ids, idb, "left"), np.searchsorted(self.ids, idb, "right")
        return [(self.packs[r["pack"]], int(r["offset"]), int(r["length"])) for r in self.loc[lo:hi]]

    def rows(self):
        """(id, pack name, offset, length, kind) for every row."""
        for idb, r in zip(self.ids, self.loc):
            # numpy drops an S32 value's trailing zero bytes: pad the id back to 32
            yield idb.ljust(32, b"\0"), self.packs[r["pack"]], int(r["offset"]), int(r["length"]), self.kinds[r["kind"]]


class _Recent:
    """The indexes of packs that no merged index covers yet, merged in memory."""

    def __init__(self, indexes: list[Index]):
        self.packs = [p for ix in indexes for p in ix.packs]
        self.kinds = sorted({k for ix in indexes for k in ix.kinds})
        self.ids = np.concatenate([ix.ids for ix in indexes]) if indexes else np.zeros(0, "S32")
        locs, base = [], 0
        for ix in indexes:
            loc = ix.loc.copy()
            loc["pack"] += base
            loc["kind"] = np.array([self.kinds.index(k) for k in ix.kinds], "<u2")[loc["kind"]]
            locs.append(loc)
            base += len(ix.packs)
        self.loc = np.concatenate(locs) if locs else np.zeros(0, LOC)
        order = np.argsort(self.ids, kind="stable")
        self.ids, self.loc = self.ids[order], self.loc[order]

    find = Index.find
    rows = Index.rows


class _Writer:
    """The pack a Cache appends to; sealed by ``seal``, also from a finalizer at exit."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.name = _new_name()
        self.tmp = root / "tmp" / f"{self.name}.pack"
        self.f = open(self.tmp, "wb", buffering=0)
        self.size = 0
        self.rows: list[tuple] = []  # (id bytes, offset, length, kind)

    def append(self, record: bytes) -> int:
        offset = self.size
        try:
            view = memoryview(record)
            while view:
                view = view[self.f.write(view) :]
        except OSError:
            self.f.truncate(offset)  # the pack stays a sequence of whole records
            raise
        self.size += len(record)
        return offset

    def seal(self) -> pathlib.Path | None:
        """Rename the pack into place, then write its index (a pack without index is unseen)."""
        if self.f.closed:
            return None
        self.f.close()
        if not self.rows:
            self.tmp.unlink(missing_ok=True)
            return None
        final = self.root / "packs" / f"{self.name}.pack"
        kinds = sorted({r[3] for r in self.rows})
        rows = [(i, 0, off, n, kinds.index(k)) for i, off, n, k in self.rows]
        try:
            os.replace(self.tmp, final)
        except OSError as exc:
            self.tmp.unlink(missing_ok=True)
            raise CacheWriteError(f"cannot seal cache pack {final}: {exc.strerror or exc}") from exc
        try:
            write_index(final.with_suffix(".idx"), self.root / "tmp", [self.name], kinds, rows)
        except CacheWriteError:
            final.unlink(missing_ok=True)
            raise
        return final

    @staticmethod
    def seal_quietly(holder: list) -> None:
        if holder and holder[0] is not None:
            try:
                holder[0].seal()
            except CacheWriteError:
                pass


class Cache:
    """``get``/``put``/``read_blob`` for the stages; ``stats``/``verify``/``gc``/``migrate`` for the CLI."""

    def __init__(self, root, roll_bytes: int = 256 << 20, migrating: bool = False):
        self.root = pathlib.Path(root)
        if not migrating and (self.root / "index").is_dir():  # else its results would silently be recomputed
            raise CacheLayoutError(
                f"{self.root} is a cache of the loose-file layout (blobs/, index/): move its results into "
                f"packs with `python -m codecsweep cache migrate --cache-dir {self.root}`"
            )
        self.roll_bytes = roll_bytes
        #: per (kind, outcome) counters: outcome in hit | miss | corrupt | put
        self.counts: Counter = Counter()
        #: human-readable reasons for every corrupt entry met, for the job log
        self.problems: list[str] = []
        for sub in ("packs", "merged", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._writer: list = [None]  # a holder the exit finalizer can see without keeping self alive
        weakref.finalize(self, _Writer.seal_quietly, self._writer)
        self._own: dict[bytes, list] = {}  # what this Cache wrote: id -> [(pack, offset, length)]
        self._own_paths: dict[str, pathlib.Path] = {}
        self._tables: list | None = None
        self._fds: dict[str, int] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Seal the pack being written (call before the job writes its outputs)."""
        w = self._writer[0]
        if w is not None:
            self._writer[0] = None
            final = w.seal()
            if final is not None:
                self._own_paths[w.name] = final
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    # -- writing -----------------------------------------------------------------------
    def put(self, kind: str, key: str, data: bytes, meta: dict | None = None) -> str:
        """Store ``data`` under ``key`` in this job's pack; returns the data's sha256."""
        record, sha = encode_record(kind, key, data, meta)
        w = self._writer[0]
        try:
            if w is None:
                w = self._writer[0] = _Writer(self.root)
                self._own_paths[w.name] = w.tmp
            offset = w.append(record)
        except OSError as exc:
            self._salvage()
            raise CacheWriteError(
                f"cannot write {kind} {key[:12]} to the cache {self.root}: {exc.strerror or exc}"
            ) from exc
        for idb, k in ((bytes.fromhex(key), kind), (bytes.fromhex(sha), SHA_KIND)):
            w.rows.append((idb, offset, len(record), k))
            self._own.setdefault(idb, []).append((w.name, offset, len(record)))
        self.counts[kind, "put"] += 1
        if w.size >= self.roll_bytes:
            self.close()
        return sha

    def _salvage(self) -> None:
        """After a failed write: seal the whole records written so far, or drop them."""
        w, self._writer[0] = self._writer[0], None
        if w is None:
            return
        try:
            final = w.seal()
            if final is not None:
                self._own_paths[w.name] = final
        except CacheWriteError:
            w.tmp.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------
    def _load(self) -> list:
        """The newest merged index, plus the indexes of the packs it does not cover."""
        if self._tables is None:
            tables, covered = [], set()
            for path in sorted((self.root / "merged").glob("*.idx"), reverse=True):
                try:
                    merged = Index(path)
                except (OSError, ValueError):
                    continue  # being replaced by a gc, or damaged: the pack indexes still serve
                tables.append(merged)
                covered = set(merged.packs)
                break
            recent = []
            for entry in os.scandir(self.root / "packs"):
                name, ext = os.path.splitext(entry.name)
                if ext == ".idx" and name not in covered:
                    try:
                        recent.append(Index(pathlib.Path(entry.path)))
                    except (OSError, ValueError) as exc:
                        self.problems.append(str(exc))
            tables.append(_Recent(recent))
            self._tables = tables
        return self._tables

    def _locations(self, id_hex: str) -> list[tuple[str, int, int]]:
        """Every stored copy of ``id_hex`` (a key or a sha256), newest first."""
        idb = bytes.fromhex(id_hex)
        found = [loc for table in self._load() for loc in table.find(idb)]
        found.sort(key=lambda loc: loc[0], reverse=True)
        return list(reversed(self._own.get(idb, []))) + found

    def _read(self, pack: str, offset: int, length: int) -> tuple[dict, bytes]:
        fd = self._fds.get(pack)
        if fd is None:
            path = self._own_paths.get(pack, self.root / "packs" / f"{pack}.pack")
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                raise _BadRecord(f"pack {pack} missing") from None
            if len(self._fds) >= 64:  # bound the open files of a long job
                os.close(self._fds.pop(next(iter(self._fds))))
            self._fds[pack] = fd
        return decode_record(os.pread(fd, length, offset))

    def _first_good(self, ident: str, is_it) -> tuple[dict | None, bytes | None, list[str]]:
        """The newest verified copy of the record indexed under ``ident`` (a key or a sha256)
        whose header satisfies ``is_it``; else (None, None, why each copy was refused)."""
        reasons = []
        for loc in self._locations(ident):
            try:
                header, data = self._read(*loc)
            except _BadRecord as exc:
                reasons.append(str(exc))
                continue
            if is_it(header):
                return header, data, reasons
            reasons.append(f"index points at another record (pack {loc[0]} offset {loc[1]})")
        return None, None, reasons

    def get(self, kind: str, key: str) -> Entry | None:
        """The verified entry for ``key``, or None (a miss; a key with no good copy is a miss)."""
        header, data, reasons = self._first_good(key, lambda h: (h["kind"], h["key"]) == (kind, key))
        if header is not None:
            self.counts[kind, "hit"] += 1
            return Entry(data=data, blob=header["sha"], meta=header["meta"])
        if reasons:
            self.counts[kind, "corrupt"] += 1
            self.problems.append(f"{kind} {key[:12]}: {reasons[0]}")
        else:
            self.counts[kind, "miss"] += 1
        return None

    def read_blob(self, sha: str) -> bytes:
        """The data whose sha256 is ``sha``, verified; raises CacheCorruptError if no good copy exists."""
        header, data, reasons = self._first_good(sha, lambda h: h["sha"] == sha)
        if header is not None:
            return data
        raise CacheCorruptError(
            f"blob {sha} in the cache {self.root}: {reasons[0] if reasons else 'not found'}; "
            "rerun the job that produced it (delete its results file) to recompute it"
        )

    # -- maintenance (python -m codecsweep cache ...) ------------------------------------
    def pack_names(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "packs").glob("*.pack"))

    def pack_indexes(self) -> dict[str, Index | str]:
        """Each sealed pack's own index, or why it cannot be read."""
        out = {}
        for name in self.pack_names():
            try:
                out[name] = Index(self.root / "packs" / f"{name}.idx")
            except FileNotFoundError:
                out[name] = NO_INDEX  # killed between sealing the pack and writing its index: gc adds it
            except (OSError, ValueError) as exc:
                out[name] = str(exc)
        return out

    def locate(self, sha: str) -> tuple[pathlib.Path, int, int]:
        """(pack path, offset, size) of the data of the newest copy of ``sha`` (for tests and tools)."""
        for pack, offset, length in self._locations(sha):
            path = self.root / "packs" / f"{pack}.pack"
            with open(path, "rb") as f:
                f.seek(offset + 4)
                (hlen,) = struct.unpack("<I", f.read(4))
            return path, offset + 8 + hlen, length - 8 - hlen
        raise KeyError(sha)

    def stats(self) -> dict:
        kinds, key_ids = Counter(), []
        for table in self._load():
            numbers, counts = np.unique(table.loc["kind"], return_counts=True)
            kinds.update({table.kinds[k]: int(n) for k, n in zip(numbers, counts) if table.kinds[k] != SHA_KIND})
            if SHA_KIND in table.kinds:
                key_ids.append(table.ids[table.loc["kind"] != table.kinds.index(SHA_KIND)])
            else:
                key_ids.append(table.ids)
        n_keys = len(np.unique(np.concatenate(key_ids))) if key_ids else 0
        dup = sum(kinds.values()) - n_keys
        packs = self.pack_names()
        pack_bytes = sum((self.root / "packs" / f"{n}.pack").stat().st_size for n in packs)
        index_bytes = sum(p.stat().st_size for d in ("packs", "merged") for p in (self.root / d).glob("*.idx"))
        files = sum(1 for d in ("packs", "merged", "tmp") for _ in (self.root / d).iterdir())
        return {
            "root": str(self.root),
            "packs": len(packs),
            "pack_bytes": pack_bytes,
            "index_bytes": index_bytes,
            "files": files,
            "entries": dict(sorted(kinds.items())),
            "duplicate_entries": dup,
            "partial_writes": sum(1 for _ in (self.root / "tmp").iterdir()),
        }

    def _check_packs(self, names=None) -> tuple[dict, dict, list[str]]:
        """Read every record of every sealed pack through its index.

        Returns ({key: [(pack, offset, length, kind, sha)] good copies}, {pack: [bad offsets]},
        problems not tied to a record)."""
        good, bad, other = {}, {}, []
        for name, index in self.pack_indexes().items():
            if names is not None and name not in names:
                continue
            if isinstance(index, str):
                if index != NO_INDEX:  # a pack without index is unseen and harmless; gc indexes it
                    other.append(f"pack {name}: {index}")
                continue
            with open(self.root / "packs" / f"{name}.pack", "rb") as f:
                size = os.fstat(f.fileno()).st_size
                buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            for idb, _, offset, length, kind in index.rows():
                if kind == SHA_KIND:
                    continue
                try:
                    header, _ = decode_record(buf[offset : offset + length])
                    if (header["kind"], bytes.fromhex(header["key"])) != (kind, idb):
                        raise _BadRecord("index points at another record")
                    good.setdefault(idb, []).append((name, offset, length, kind, header["sha"]))
                except _BadRecord as exc:
                    bad.setdefault(name, []).append((offset, kind, idb.hex(), str(exc)))
        return good, bad, other

    def verify(self, repair: bool = False) -> list[str]:
        """Check every record of every pack; a bad record with no good copy is a problem.

        With ``repair``, packs holding bad records are rewritten without them (the results
        they held become misses, recomputed by the next run) and unreadable indexes rebuilt."""
        good, bad, problems = self._check_packs()
        for pack, records in sorted(bad.items()):
            for offset, kind, key, reason in records:
                if bytes.fromhex(key) not in good:  # a good copy elsewhere serves: not a problem
                    problems.append(f"corrupt {kind} {key} in pack {pack} at offset {offset}: {reason}")
        for idx in sorted((self.root / "packs").glob("*.idx")):
            if not idx.with_suffix(".pack").exists():
                problems.append(f"index {idx.name} without its pack")
        if repair and problems:
            self.gc(rewrite_all=True, grace_s=0)
        return problems

    def gc(self, dry_run: bool = False, rewrite_all: bool = False, grace_s: float = GRACE_S) -> dict:
        """Rewrite old packs that hold superseded or corrupt copies, pack small old packs
        together, remove leftovers of killed writes, then merge all pack indexes into one.

        Packs and temp files younger than ``grace_s`` are left alone (a job may be writing or
        reading them). The newest good copy of every key is kept: every servable result is kept.
        """
        cutoff = time.time() - grace_s
        self.close()
        result = Counter()
        # Leftovers: temp files of killed writers; indexes without pack; packs without index.
        for path in (self.root / "tmp").iterdir():
            if path.stat().st_mtime < time.time() - GRACE_S:  # a running job's pack: never
                result["removed_partial_writes"] += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
        for idx in (self.root / "packs").glob("*.idx"):
            if not idx.with_suffix(".pack").exists() and idx.stat().st_mtime < cutoff:
                result["removed_dangling_indexes"] += 1
                if not dry_run:
                    idx.unlink(missing_ok=True)
        old = {
            n for n in self.pack_names() if (self.root / "packs" / f"{n}.pack").stat().st_mtime < cutoff or rewrite_all
        }
        for name, index in self.pack_indexes().items():
            if name in old and isinstance(index, str):  # killed between sealing the pack and its index
                result["reindexed_packs"] += 1
                if not dry_run:
                    self._reindex(name)
        indexes = self.pack_indexes()
        good, bad, _ = self._check_packs()
        newest = {idb: max(copies) for idb, copies in good.items()}  # pack names sort by time
        live = Counter(copy[0] for copy in newest.values())
        rewrite = {n for n in old if n in bad or live[n] < _keys(indexes.get(n))}
        small = {n for n in old if self._pack_size(n) < self.roll_bytes // 4}
        if len(small | rewrite) > 1:  # pack small packs together: fewer files, fewer indexes to read
            rewrite |= small
        result["corrupt_records"] = sum(len(v) for k, v in bad.items() if k in rewrite)
        keep = sorted((copy for copy in newest.values() if copy[0] in rewrite), key=lambda c: c[:2])
        result["rewritten_packs"] = len(rewrite)
        result["freed_bytes"] = sum(self._pack_size(n) for n in rewrite) - sum(c[2] for c in keep)
        result["dropped_records"] = sum(_keys(indexes.get(n)) for n in rewrite) - len(keep)
        if not dry_run and rewrite:
            out = Cache(self.root, roll_bytes=max(self.roll_bytes, 1 << 30))
            for pack, offset, length, _, _ in keep:
                header, data = self._read(pack, offset, length)
                out.put(header["kind"], header["key"], data, header["meta"])
            out.close()
            for name in rewrite:  # the index first: a reader never finds rows without their pack
                (self.root / "packs" / f"{name}.idx").unlink(missing_ok=True)
                (self.root / "packs" / f"{name}.pack").unlink(missing_ok=True)
        if not dry_run:
            self._merge_indexes()
        self._tables = None
        self.close()
        return dict(result)

    def _pack_size(self, name: str) -> int:
        return (self.root / "packs" / f"{name}.pack").stat().st_size

    def _reindex(self, name: str) -> None:
        """Rebuild a pack's index by walking its records (packs describe themselves)."""
        path = self.root / "packs" / f"{name}.pack"
        buf, rows, offset = path.read_bytes(), [], 0
        while offset + 8 <= len(buf) and buf[offset : offset + 4] == RECORD_MAGIC:
            (hlen,) = struct.unpack("<I", buf[offset + 4 : offset + 8])
            try:
                header = json.loads(buf[offset + 8 : offset + 8 + hlen])
                length = 8 + hlen + header["size"]
            except (ValueError, KeyError, TypeError):
                break
            rows.append((header["key"], header["kind"], header["sha"], offset, length))
            offset += length
        kinds = sorted({k for _, k, *_ in rows} | {SHA_KIND})
        index_rows = []
        for key, kind, sha, off, length in rows:
            index_rows.append((bytes.fromhex(key), 0, off, length, kinds.index(kind)))
            index_rows.append((bytes.fromhex(sha), 0, off, length, kinds.index(SHA_KIND)))
        write_index(path.with_suffix(".idx"), self.root / "tmp", [name], kinds, index_rows)

    def _merge_indexes(self) -> None:
        """One sorted index of every sealed pack; readers then open it and the newer ones."""
        packs, kinds, rows = [], [SHA_KIND], []
        for name, index in self.pack_indexes().items():
            if isinstance(index, str):
                continue
            number = len(packs)
            packs.append(name)
            for idb, _, offset, length, kind in index.rows():
                if kind not in kinds:
                    kinds.append(kind)
                rows.append((idb, number, offset, length, kinds.index(kind)))
        old = list((self.root / "merged").glob("*.idx"))
        write_index(self.root / "merged" / f"{_new_name()}.idx", self.root / "tmp", packs, kinds, rows)
        for path in old:  # a reader that has one open keeps reading it (POSIX unlink semantics)
            path.unlink(missing_ok=True)

    def migrate(self) -> dict:
        """Move a loose-file cache (``blobs/ab/cdef…`` + ``index/<kind>/ab/<key>.json``, the
        layout before packs) under this root into packs. Entries whose blob is missing or
        fails its sha256 are skipped (they would be recomputed anyway); the loose files are
        removed once the packs holding their entries are sealed."""
        result = Counter()
        index_dir, blob_dir = self.root / "index", self.root / "blobs"
        if not index_dir.is_dir():
            return {"migrated": 0, "skipped": 0}
        paths = sorted(index_dir.glob("*/*/*.json"))
        for path in paths:
            kind, key = path.parent.parent.name, path.stem
            try:
                entry = json.loads(path.read_bytes())
                sha = entry["blob"]
                data = (blob_dir / sha[:2] / sha[2:]).read_bytes()
                if sha256_bytes(data) != sha:
                    raise ValueError(f"blob {sha[:12]} fails its sha256 check")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.problems.append(f"not migrated: {kind} {key}: {exc}")
                result["skipped"] += 1
                continue
            self.put(kind, key, data, entry.get("meta", {}))
            result["migrated"] += 1
        self.close()
        for path in paths:
            path.unlink()
        for top in (index_dir, blob_dir):
            for path in sorted(top.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            top.rmdir()
        self._tables = None
        return {"migrated": result["migrated"], "skipped": result["skipped"]}


def _keys(index) -> int:
    """Number of key rows (not sha256 rows) in a pack's index."""
    if not isinstance(index, Index):
        return 0
    sha = index.kinds.index(SHA_KIND) if SHA_KIND in index.kinds else -1
    return int((index.loc["kind"] != sha).sum())
