"""The job-facing cache: ``get``/``put``/``read_blob`` on packs, and the pack a job writes."""

from __future__ import annotations

import logging
import os
import pathlib
import struct
import weakref
from collections import Counter
from dataclasses import dataclass

from .errors import CacheCorruptError, CacheLayoutError, CacheWriteError
from .index import (
    PACK_NAME,
    SET_ASIDE,
    SHA_KIND,
    DamagedIndex,
    Index,
    Recent,
    new_name,
    pack_indexes,
    pack_names,
    set_aside,
    write_index,
)
from .maintenance import GRACE_S, REPAIR_GRACE_S, Findings
from .maintenance import audit as _audit
from .maintenance import gc as _gc
from .maintenance import stats as _stats
from .maintenance import verify as _verify
from .migration import migrate as _migrate
from .record import BadRecord, decode_record, encode_record

__all__ = ["Cache", "CacheCorruptError", "CacheLayoutError", "CacheWriteError", "Entry"]

log = logging.getLogger("codecsweep")


@dataclass
class Entry:
    data: bytes
    blob: str
    meta: dict


class _Writer:
    """The pack a Cache appends to; sealed by ``seal``, also from a finalizer at exit."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.name = new_name()
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
        #: human-readable reasons for every damaged copy met (an entry, or an index file)
        self.problems: list[str] = []
        #: those of ``problems`` that are index files, each logged once, when found (set aside)
        self.index_problems: list[str] = []
        for sub in ("packs", "merged", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._writer: list = [None]  # a holder the exit finalizer can see without keeping self alive
        weakref.finalize(self, _Writer.seal_quietly, self._writer)
        self._own: dict[bytes, list] = {}  # what this Cache wrote: id -> [(pack, offset, length)]
        self._own_paths: dict[str, pathlib.Path] = {}
        self._tables: list | None = None
        self._fds: dict[str, list[int]] = {}  # pack -> [fd, size seen]

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
        for fd, _ in self._fds.values():
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
        """The newest readable merged index, plus the indexes of the packs it does not cover.
        A damaged index file is set aside (see ``_damaged``) and not read: a damaged merged
        index leaves the pack indexes to serve, a damaged pack index leaves its pack unseen
        (its results are misses) until gc indexes the pack again from its records."""
        if self._tables is None:
            tables, covered = [], set()
            for path in sorted((self.root / "merged").glob("*.idx"), reverse=True):
                merged = self._open(path, rows_checked=False)
                if merged is not None:
                    tables.append(merged)
                    covered = set(merged.packs)
                    break
            recent = []
            for entry in os.scandir(self.root / "packs"):
                name, ext = os.path.splitext(entry.name)
                if ext == ".idx" and name not in covered and PACK_NAME.fullmatch(name):
                    index = self._open(pathlib.Path(entry.path), pack=name)
                    if index is not None:
                        recent.append(index)
            tables.append(Recent(recent))
            self._tables = tables
        return self._tables

    def _open(self, path: pathlib.Path, **checks) -> Index | None:
        try:
            return Index(path, **checks)
        except FileNotFoundError:
            return None  # replaced by a gc since the folder was listed
        except (OSError, DamagedIndex) as exc:
            self._damaged(path, exc)
            return None

    def _damaged(self, path: pathlib.Path, exc: Exception) -> None:
        """Note a damaged (or unreadable) index file once, and log it when this Cache is the one
        that sets it aside (``<name>.idx.damaged``): later jobs neither read nor log it again."""
        message = str(exc) if isinstance(exc, DamagedIndex) else f"unreadable cache index {path}: {exc.strerror or exc}"
        if message in self.index_problems:
            return
        self.index_problems.append(message)
        self.problems.append(message)
        then = (
            "the packs' own indexes serve until `codecsweep cache gc` merges them again"
            if path.parent.name == "merged"
            else "its pack's results are misses until `codecsweep cache gc` indexes the pack again"
        )
        if not isinstance(exc, DamagedIndex):  # e.g. no permission: nothing to set aside
            log.warning("cache: %s; %s", message, then)
            return
        moved = set_aside(path, exc.ino)
        if moved is True:
            log.warning("cache: %s: set aside as %s%s; %s", message, path.name, SET_ASIDE, then)
        elif moved is not False:  # else another job set it aside (and logged it) first
            log.warning("cache: %s (left in place: %s); %s", message, moved, then)

    def reload(self) -> None:
        """Forget the indexes read so far: the next lookup reads them again (after gc or migrate)."""
        self._tables = None

    def _locations(self, id_hex: str) -> list[tuple[str, int, int] | str]:
        """Every stored copy of ``id_hex`` (a key or a sha256), newest first; then, as the
        reason each is unusable, the index rows that name no pack."""
        idb = bytes.fromhex(id_hex)
        found = [loc for table in self._load() for loc in table.find(idb)]
        copies = sorted((loc for loc in found if not isinstance(loc, str)), key=lambda loc: loc[0], reverse=True)
        return list(reversed(self._own.get(idb, []))) + copies + [loc for loc in found if isinstance(loc, str)]

    def read_record(self, pack: str, offset: int, length: int) -> tuple[dict, bytes]:
        """(header, data) of the record at ``offset`` of ``pack``, checked; raises BadRecord
        (also for a pack that is missing or unreadable, or a row that points past its end)."""
        try:
            held = self._fds.get(pack)
            if held is None:
                fd = os.open(self._own_paths.get(pack, self.root / "packs" / f"{pack}.pack"), os.O_RDONLY)
                if len(self._fds) >= 64:  # bound the open files of a long job
                    os.close(self._fds.pop(next(iter(self._fds)))[0])
                held = self._fds[pack] = [fd, os.fstat(fd).st_size]
            if offset + length > held[1]:
                held[1] = os.fstat(held[0]).st_size  # this job's own pack grows
                if offset + length > held[1]:
                    raise BadRecord(f"index row points past the end of pack {pack} ({held[1]} bytes)")
            buf = os.pread(held[0], length, offset)
        except FileNotFoundError:
            raise BadRecord(f"pack {pack} missing") from None
        except (OSError, ValueError) as exc:
            raise BadRecord(f"pack {pack} unreadable: {exc}") from None
        return decode_record(buf)

    def _first_good(self, ident: str, is_it) -> tuple[dict | None, bytes | None, list[str]]:
        """The newest verified copy of the record indexed under ``ident`` (a key or a sha256)
        whose header satisfies ``is_it``; else (None, None, why each copy was refused)."""
        reasons = []
        for loc in self._locations(ident):
            if isinstance(loc, str):
                reasons.append(loc)
                continue
            try:
                header, data = self.read_record(*loc)
            except BadRecord as exc:
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

    def locate(self, sha: str) -> tuple[pathlib.Path, int, int]:
        """(pack path, offset, size) of the data of the newest copy of ``sha`` (for tests and tools)."""
        for pack, offset, length in (loc for loc in self._locations(sha) if not isinstance(loc, str)):
            path = self.root / "packs" / f"{pack}.pack"
            with open(path, "rb") as f:
                f.seek(offset + 4)
                (hlen,) = struct.unpack("<I", f.read(4))
            return path, offset + 8 + hlen, length - 8 - hlen
        raise KeyError(sha)

    # -- maintenance (codecsweep cache ...): see maintenance.py and migration.py ----------
    def pack_names(self) -> list[str]:
        return pack_names(self.root)

    def pack_indexes(self) -> dict[str, Index | str]:
        """Each sealed pack's own index, or why it cannot be read."""
        return pack_indexes(self.root)

    def stats(self) -> dict:
        """Packs, bytes, files and entries per kind (reads the indexes only)."""
        return _stats(self)

    def verify(self, repair: bool = False, grace_s: float = REPAIR_GRACE_S) -> list[str]:
        """Check every record of every pack; see ``maintenance.verify`` (``repair`` and ``grace_s``)."""
        return _verify(self, repair=repair, grace_s=grace_s)

    def audit(self) -> Findings:
        """Every record and every index a reader would use: problems and leftovers; see ``maintenance.audit``."""
        return _audit(self)

    def gc(self, dry_run: bool = False, rewrite_all: bool = False, grace_s: float = GRACE_S) -> dict:
        """Repack old packs, remove leftovers of killed writes, merge the indexes; see ``maintenance.gc``."""
        return _gc(self, dry_run=dry_run, rewrite_all=rewrite_all, grace_s=grace_s)

    def migrate(self) -> dict:
        """Move a loose-file cache under this root into packs; see ``migration.migrate``."""
        return _migrate(self)
