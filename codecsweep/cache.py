"""Content-addressed artifact cache (CAS).

Layout under ``cache_dir``::

    blobs/ab/cdef...            a blob, named by the sha256 of its own bytes
    index/<kind>/ab/<key>.json  one small file per cache key: which blob, plus metadata
    tmp/                        partial writes; renamed into place when complete

A key is the sha256 of a canonical JSON of everything the result depends on (and only
content: never a path or a time). The index is one file per key rather than a database so
that many processes on many cluster nodes can write at once without locks: every write is
a temp file + ``os.replace`` (atomic on POSIX, also on NFS), and two writers of one key
write equivalent entries. Reads verify the blob's sha256; a corrupt, truncated or dangling
entry counts as a miss (``corrupt``), is removed, and the caller recomputes it.

No fsync: a killed process cannot leave a half-visible file (rename is atomic), and what a
power cut might truncate is caught by the hash check on read.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

#: Bump when the meaning of keys changes; every key includes it.
KEY_SCHEMA = 1


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def make_key(kind: str, **fields) -> str:
    """Cache key: sha256 of the canonical JSON of ``kind`` and ``fields``."""
    doc = {"kind": kind, "key_schema": KEY_SCHEMA, **fields}
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return sha256_bytes(canonical.encode())


class CacheWriteError(RuntimeError):
    pass


@dataclass
class Entry:
    data: bytes
    blob: str
    meta: dict


@dataclass
class Cache:
    root: pathlib.Path
    #: per (kind, outcome) counters: outcome in hit | miss | corrupt | put
    counts: Counter = field(default_factory=Counter)
    #: human-readable reasons for every corrupt entry met, for the job log
    problems: list = field(default_factory=list)

    def __post_init__(self):
        self.root = pathlib.Path(self.root)
        for sub in ("blobs", "index", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- paths -------------------------------------------------------------------------
    def blob_path(self, sha: str) -> pathlib.Path:
        return self.root / "blobs" / sha[:2] / sha[2:]

    def index_path(self, kind: str, key: str) -> pathlib.Path:
        return self.root / "index" / kind / key[:2] / f"{key}.json"

    # -- writing -----------------------------------------------------------------------
    def _atomic_write(self, path: pathlib.Path, data: bytes) -> None:
        tmp = self.root / "tmp" / f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise CacheWriteError(f"cannot write cache entry {path}: {exc.strerror or exc}") from exc

    def put_blob(self, data: bytes) -> str:
        sha = sha256_bytes(data)
        path = self.blob_path(sha)
        if not path.exists():
            self._atomic_write(path, data)
        else:  # reused: make it young, so a concurrent gc keeps it until its index entry exists
            try:
                os.utime(path)
            except OSError:
                pass
        return sha

    def put(self, kind: str, key: str, data: bytes, meta: dict | None = None) -> str:
        """Store ``data`` under ``key``: the blob first, then the index entry that names it."""
        sha = self.put_blob(data)
        entry = {"blob": sha, "size": len(data), "meta": meta or {}}
        self._atomic_write(self.index_path(kind, key), json.dumps(entry, sort_keys=True).encode())
        self.counts[kind, "put"] += 1
        return sha

    # -- reading -----------------------------------------------------------------------
    def _corrupt(self, kind: str, key: str, reason: str) -> None:
        self.counts[kind, "corrupt"] += 1
        self.problems.append(f"{kind} {key[:12]}: {reason}")
        self.index_path(kind, key).unlink(missing_ok=True)

    def get(self, kind: str, key: str) -> Entry | None:
        """The verified entry for ``key``, or None (a miss; corrupt entries are misses)."""
        ipath = self.index_path(kind, key)
        try:
            entry = json.loads(ipath.read_bytes())
            sha = entry["blob"]
        except FileNotFoundError:
            self.counts[kind, "miss"] += 1
            return None
        except (ValueError, KeyError, TypeError) as exc:
            self._corrupt(kind, key, f"unreadable index entry ({exc})")
            return None
        bpath = self.blob_path(sha)
        try:
            data = bpath.read_bytes()
        except FileNotFoundError:
            self._corrupt(kind, key, f"blob {sha[:12]} missing")
            return None
        if sha256_bytes(data) != sha:
            self._corrupt(kind, key, f"blob {sha[:12]} fails its sha256 check")
            bpath.unlink(missing_ok=True)
            return None
        self.counts[kind, "hit"] += 1
        return Entry(data=data, blob=sha, meta=entry.get("meta", {}))

    def read_blob(self, sha: str) -> bytes:
        """A blob by its sha256, verified; raises if it is missing or corrupt."""
        data = self.blob_path(sha).read_bytes()
        if sha256_bytes(data) != sha:
            raise CacheWriteError(f"blob {sha} in {self.root} fails its sha256 check")
        return data

    # -- maintenance (python -m codecsweep cache ...) ------------------------------------
    def iter_blobs(self):
        for sub in sorted((self.root / "blobs").iterdir()):
            for path in sorted(sub.iterdir()):
                yield sub.name + path.name, path

    def iter_index(self):
        for kind_dir in sorted((self.root / "index").iterdir()):
            for path in sorted(kind_dir.glob("*/*.json")):
                yield kind_dir.name, path

    def stats(self) -> dict:
        blobs = list(self.iter_blobs())
        kinds = Counter(kind for kind, _ in self.iter_index())
        return {
            "root": str(self.root),
            "blobs": len(blobs),
            "blob_bytes": sum(p.stat().st_size for _, p in blobs),
            "index_entries": dict(sorted(kinds.items())),
            "partial_writes": sum(1 for _ in (self.root / "tmp").iterdir()),
        }

    def verify(self, repair: bool = False) -> list[str]:
        """Hash every blob and check every index entry; with ``repair``, remove bad ones."""
        problems = []
        for sha, path in self.iter_blobs():
            if sha256_bytes(path.read_bytes()) != sha:
                problems.append(f"corrupt blob {sha}")
                if repair:
                    path.unlink()
        for kind, path in self.iter_index():
            try:
                sha = json.loads(path.read_bytes())["blob"]
                ok = self.blob_path(sha).exists()
            except (ValueError, KeyError, TypeError):
                ok, sha = False, "unreadable"
            if not ok:
                problems.append(f"dangling {kind} entry {path.stem} -> {sha}")
                if repair:
                    path.unlink()
        return problems

    def gc(self, dry_run: bool = False) -> dict:
        """Remove blobs no index entry names, and leftovers of interrupted writes, both >1 h old.

        Every blob an index entry names is kept, so every result that can be served is kept;
        young files are kept too: a running job writes a blob just before its index entry.
        """
        cutoff = time.time() - 3600
        referenced = set()
        for _, path in self.iter_index():
            try:
                referenced.add(json.loads(path.read_bytes())["blob"])
            except (ValueError, KeyError, TypeError):
                pass
        removed = freed = 0
        for sha, path in self.iter_blobs():
            if sha in referenced:
                continue
            st = path.stat()
            if st.st_mtime < cutoff:
                removed += 1
                freed += st.st_size
                if not dry_run:
                    path.unlink()
        tmp = [p for p in (self.root / "tmp").iterdir() if p.stat().st_mtime < cutoff]
        if not dry_run:
            for path in tmp:
                path.unlink(missing_ok=True)
        return {"removed_blobs": removed, "freed_bytes": freed, "removed_partial_writes": len(tmp)}
