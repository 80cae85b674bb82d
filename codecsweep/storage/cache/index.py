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
import re
import secrets
import struct
import time

import numpy as np

from .errors import CacheWriteError

INDEX_MAGIC = b"CSIX1\n"
SHA_KIND = "sha256"  # the kind of the index rows that find a record by its data's sha256
LOC = np.dtype([("pack", "<u4"), ("offset", "<u8"), ("length", "<u4"), ("kind", "<u2")])
NO_INDEX = "no index yet"
#: Suffix of an index file a reader found damaged and moved out of the readers' way; gc
#: re-indexes its pack from the pack's own records and removes it.
SET_ASIDE = ".damaged"
PACK_NAME = re.compile(r"[0-9A-Za-z_][0-9A-Za-z_.-]*")  # what new_name() makes, and never a path


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


class DamagedIndex(ValueError):
    """An index file that fails its checks: ``path``, ``reason`` and the inode that was read."""

    def __init__(self, path: pathlib.Path, reason, ino: int | None = None):
        super().__init__(f"unreadable cache index {path}: {reason}")
        self.path, self.reason, self.ino = path, str(reason), ino


class Index:
    """One index file, read in place (memory-mapped).

    The header is always checked (magic, JSON, pack names, size). ``rows_checked``: also every
    row (pack and kind numbers in range, ids in order), a pass over the whole file: what the
    small pack indexes get; a merged index is checked row by row as ``find`` meets them, so a
    job reads a few of its pages, not the file. ``pack``: the one pack a pack index must list.
    Raises ``DamagedIndex`` for damage, ``OSError`` when the file cannot be read."""

    def __init__(self, path: pathlib.Path, rows_checked: bool = True, pack: str | None = None):
        self.path = path
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if st.st_size else b""
        try:
            self._read(buf, st.st_size)
            if pack is not None and self.packs != [pack]:
                raise ValueError(f"lists the packs {self.packs[:2]}, not its own")
            problem = self.problem() if rows_checked else None
            if problem:
                raise ValueError(problem)
        except (ValueError, KeyError, TypeError, struct.error, RecursionError) as exc:
            raise DamagedIndex(path, exc, st.st_ino) from None

    def _read(self, buf, size: int) -> None:
        if buf[: len(INDEX_MAGIC)] != INDEX_MAGIC:
            raise ValueError("not a cache index")
        (hlen,) = struct.unpack("<I", buf[6:10])
        head = json.loads(bytes(buf[10 : 10 + hlen]))
        self.packs, self.kinds, n = head["packs"], head["kinds"], head["rows"]
        if not isinstance(self.packs, list) or not all(
            isinstance(p, str) and PACK_NAME.fullmatch(p) for p in self.packs
        ):
            raise ValueError("its pack names are damaged")
        if not isinstance(self.kinds, list) or not all(isinstance(k, str) for k in self.kinds):
            raise ValueError("its kinds are damaged")
        if type(n) is not int or n < 0:
            raise ValueError("its row count is damaged")
        start = 10 + hlen + (-(10 + hlen) % 8)
        if size != start + n * (32 + LOC.itemsize):
            raise ValueError(f"{size} bytes, expected {start + n * (32 + LOC.itemsize)}")
        self.ids = np.frombuffer(buf, "S32", n, start)
        self.loc = np.frombuffer(buf, LOC, n, start + 32 * n)

    def problem(self) -> str | None:
        """Why not every row can be trusted (a pack or kind number out of range, ids out of order), or None."""
        if not len(self.ids):
            return None
        if int(self.loc["pack"].max()) >= len(self.packs):
            return f"a row names pack #{int(self.loc['pack'].max())}, the index lists {len(self.packs)}"
        if int(self.loc["kind"].max()) >= len(self.kinds):
            return f"a row names kind #{int(self.loc['kind'].max())}, the index lists {len(self.kinds)}"
        if not bool((self.ids[1:] >= self.ids[:-1]).all()):
            return "its rows are out of order"
        return None

    def find(self, idb: bytes) -> list[tuple[str, int, int] | str]:
        """Every (pack, offset, length) indexed under ``idb``; a row that names no listed pack
        gives why, in its place (the caller counts it as a damaged copy)."""
        lo, hi = np.searchsorted(self.ids, idb, "left"), np.searchsorted(self.ids, idb, "right")
        found = []
        for r in self.loc[lo:hi]:
            number = int(r["pack"])
            if number < len(self.packs):
                found.append((self.packs[number], int(r["offset"]), int(r["length"])))
            else:
                found.append(f"index {self.path}: a row names pack #{number}, the index lists {len(self.packs)}")
        return found

    def rows(self):
        """(id, pack name, offset, length, kind) for every row (rows that name no listed pack or kind left out)."""
        n_packs, n_kinds = len(self.packs), len(self.kinds)
        for start in range(0, len(self.ids), 1 << 16):  # as Python values, a chunk at a time
            loc = self.loc[start : start + (1 << 16)]
            ids = self.ids[start : start + (1 << 16)].tolist()
            columns = zip(
                ids, loc["pack"].tolist(), loc["offset"].tolist(), loc["length"].tolist(), loc["kind"].tolist()
            )
            for idb, number, offset, length, kind in columns:
                if number < n_packs and kind < n_kinds:
                    # numpy drops an S32 value's trailing zero bytes: pad the id back to 32
                    yield idb.ljust(32, b"\0"), self.packs[number], offset, length, self.kinds[kind]


class Recent:
    """The indexes of packs that no merged index covers yet (each checked row by row), merged in memory."""

    def __init__(self, indexes: list[Index]):
        self.path = "of the recent packs"
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
    """The sealed packs under the cache ``root``, oldest first (a file whose name no writer makes is no pack)."""
    return sorted(p.stem for p in (root / "packs").glob("*.pack") if PACK_NAME.fullmatch(p.stem))


def pack_indexes(root: pathlib.Path) -> dict[str, Index | str]:
    """Each sealed pack's own index (checked row by row), or why it cannot be read: ``NO_INDEX``
    (killed between sealing the pack and writing its index), or the damage found in it (also
    when a reader has set it aside)."""
    out = {}
    for name in pack_names(root):
        path = root / "packs" / f"{name}.idx"
        try:
            out[name] = Index(path, pack=name)
        except FileNotFoundError:
            out[name] = NO_INDEX
            aside = path.with_name(path.name + SET_ASIDE)
            if aside.exists():
                try:
                    Index(aside, pack=name)
                    out[name] = f"unreadable cache index {aside}: set aside"
                except (OSError, ValueError) as exc:
                    out[name] = str(exc)
        except (OSError, ValueError) as exc:
            out[name] = str(exc)
    return out


def set_aside(path: pathlib.Path, ino: int | None) -> bool | str:
    """Move the damaged index file ``path`` (inode ``ino``, as read) out of the readers' way, to
    ``<name>.idx.damaged``: True when done here; False when another process did, or replaced the
    file since (a gc that re-indexed its pack); else why it cannot be moved (a read-only cache)."""
    try:
        if ino is not None and os.stat(path).st_ino != ino:
            return False
        os.rename(path, path.with_name(path.name + SET_ASIDE))
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        return exc.strerror or str(exc)


def key_rows(index) -> int:
    """Number of key rows (not sha256 rows) in a pack's index (0 for an unreadable one)."""
    if not isinstance(index, Index):
        return 0
    sha = index.kinds.index(SHA_KIND) if SHA_KIND in index.kinds else -1
    return int((index.loc["kind"] != sha).sum())
