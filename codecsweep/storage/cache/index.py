"""Index files: lookup id (a key, or the sha256 of a record's data) -> (pack, offset, length).

Format::

    [INDEX_MAGIC][u32 n][header JSON: packs, kinds, rows][zero pad to 8]
    [rows x 32-byte ids, sorted][rows x LOC]

The ids are one contiguous sorted column, so a memory-mapped index is searched in place
(binary search reads a few pages, not the file).
"""

from __future__ import annotations

import json
import mmap
import os
import pathlib
import secrets
import struct
import time

import numpy as np

from .errors import CacheWriteError

INDEX_MAGIC = b"CSIX1\n"
SHA_KIND = "sha256"  # the kind of the index rows that find a record by its data's sha256
LOC = np.dtype([("pack", "<u4"), ("offset", "<u8"), ("length", "<u4"), ("kind", "<u2")])
NO_INDEX = "no index yet"


def new_name() -> str:
    """Pack (and merged index) names sort by creation time (newest copy wins) and never collide across nodes."""
    return f"{time.time_ns():016x}-{secrets.token_hex(6)}"


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


class Recent:
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


def pack_names(root: pathlib.Path) -> list[str]:
    """The sealed packs under the cache ``root``, oldest first."""
    return sorted(p.stem for p in (root / "packs").glob("*.pack"))


def pack_indexes(root: pathlib.Path) -> dict[str, Index | str]:
    """Each sealed pack's own index, or why it cannot be read."""
    out = {}
    for name in pack_names(root):
        try:
            out[name] = Index(root / "packs" / f"{name}.idx")
        except FileNotFoundError:
            out[name] = NO_INDEX  # killed between sealing the pack and writing its index: gc adds it
        except (OSError, ValueError) as exc:
            out[name] = str(exc)
    return out


def key_rows(index) -> int:
    """Number of key rows (not sha256 rows) in a pack's index (0 for an unreadable one)."""
    if not isinstance(index, Index):
        return 0
    sha = index.kinds.index(SHA_KIND) if SHA_KIND in index.kinds else -1
    return int((index.loc["kind"] != sha).sum())
