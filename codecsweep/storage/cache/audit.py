"""``codecsweep cache verify``: every record, and every index file a reader would use, checked.

A reader (``store.Cache``) uses the newest readable merged index and the own index of every
pack that one does not cover. ``audit`` reads every record through its pack's own index (or
walks the records of a pack without a usable one, as gc would to index it again), checks
every row of the readers' merged index against those records, and so knows which results a
reader reaches. Damage that leaves a result without a good copy a reader reaches is a
*problem* (its result is a miss: the next run recomputes it). Damaged files whose every result
a reader reaches elsewhere, or that hold nothing a reader could use, and packs without their
index, are *leftovers*: nothing is lost, and any ``gc`` clears them at once, whatever their age
(no job can be using a damaged file).
"""

from __future__ import annotations

import mmap
import os
import pathlib
from dataclasses import dataclass, field

from .index import NO_INDEX, SET_ASIDE, SHA_KIND, DamagedIndex, Index, pack_indexes
from .record import BadRecord, checked_data, decode_record, walk_records


@dataclass
class Findings:
    """``problems``: one line each. ``leftovers``: 'file (what it is)', said together in one line."""

    problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def leftover_line(self) -> str | None:
        if not self.leftovers:
            return None
        return (
            f"{len(self.leftovers)} leftover file(s), nothing lost: {'; '.join(self.leftovers)}; "
            "`codecsweep cache gc` clears them now"
        )


def mapped(path: pathlib.Path):
    """The bytes of a file, memory-mapped (b"" when empty)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""


@dataclass
class PackCheck:
    """One sealed pack's records, checked: walked (packs describe themselves), then read
    through its own index (when it has a usable one), which also finds the records beyond a
    damaged header that stops the walk."""

    size: int
    walked: list = field(default_factory=list)  # (offset, length, header) of each record walked (data unchecked)
    end: int = 0  # where the walk stopped
    good: dict = field(default_factory=dict)  # (offset, length) -> (key id, kind, sha id) of each record that checks
    refused: dict = field(default_factory=dict)  # (offset, length) -> why the record there fails
    indexed: set | None = None  # (offset, length) of good records its own index finds by key (None: no usable index)
    reached: set = field(default_factory=set)  # the ids (keys, sha256s) its own index reaches a good record by
    bad: list = field(default_factory=list)  # (offset, kind, key, reason) per key row whose record fails
    damaged_rows: int = 0  # rows of its own index that find no record (or find one under another kind)
    orphans: list = field(default_factory=list)  # ids of its own index's key rows that find no record at all
    past_end: int = 0  # rows of its own index that point past the pack's end (a truncated pack, or damaged rows)


def check_pack(buf, index: Index | None = None) -> PackCheck:
    """Every record of a pack (``buf``), and every row of its own ``index`` (if given)."""
    out = PackCheck(len(buf))
    for header, offset, length in walk_records(buf):
        out.end = offset + length
        out.walked.append((offset, length, header))
        try:  # the header is checked (walking parsed it): the data
            checked_data(header, buf[out.end - header["size"] : out.end])
        except BadRecord as exc:
            out.refused[offset, length] = str(exc)
            continue
        out.good[offset, length] = (bytes.fromhex(header["key"]), header["kind"], bytes.fromhex(header["sha"]))
    if index is not None:
        out.indexed = set()
        for idb, _, offset, length, kind in index.rows():
            found = _row(buf, out, idb, offset, length, kind)
            record = out.good.get((offset, length))
            if record is not None and idb in (record[0], record[2]):  # as a reader finds it (see reached)
                out.reached.add(idb)
            if found is None:
                out.damaged_rows += 1
                out.past_end += offset + length > out.size
                if record is None and kind != SHA_KIND:  # its result: lost, unless served elsewhere
                    out.orphans.append(idb)
            elif found and kind != SHA_KIND:
                out.indexed.add((offset, length))
            elif not found and kind != SHA_KIND:  # the record it finds fails: that record's damage, not the row's
                out.bad.append((offset, kind, idb.hex(), out.refused[offset, length]))
    return out


def _check_record(buf, out: PackCheck, offset: int, length: int) -> None:
    try:
        header, _ = decode_record(buf[offset : offset + length])
    except BadRecord as exc:
        out.refused[offset, length] = str(exc)
        return
    out.good[offset, length] = (bytes.fromhex(header["key"]), header["kind"], bytes.fromhex(header["sha"]))


def _row(buf, out: PackCheck, idb: bytes, offset: int, length: int, kind: str) -> bool | None:
    """Whether an index row finds a good record of this pack by its id and kind (True), finds a
    record that fails (False), or is damaged (None: no record there, or another record)."""
    where = (offset, length)
    if where not in out.good and where not in out.refused and out.end <= offset and offset + length <= out.size:
        _check_record(buf, out, offset, length)  # beyond a damaged header that stops the walk: read it
    record = out.good.get(where)
    if record is None:
        return False if where in out.refused else None
    if (idb, kind) in ((record[0], record[1]), (record[2], SHA_KIND)):
        return True
    return None


def reached(buf, check: PackCheck, rows) -> tuple[set, int, list]:
    """The ids of good records that a reader's ``rows`` (id, offset, length, kind) of this pack
    reach (a reader finds rows by id and checks the record's own header, so a row reaches a
    record whose key or sha256 is its id, whatever its kind says), how many rows are damaged,
    and the ids of the key rows that find no record at all (their results: lost unless served elsewhere)."""
    ids, damaged, orphans = set(), 0, []
    for idb, offset, length, kind in rows:
        found = _row(buf, check, idb, offset, length, kind)
        record = check.good.get((offset, length))
        if record is not None and idb in (record[0], record[2]):
            ids.add(idb)
        damaged += found is None
        if found is None and record is None and kind != SHA_KIND:
            orphans.append(idb)
    return ids, damaged, orphans


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, DamagedIndex) else (getattr(exc, "strerror", None) or str(exc))


class Audit:
    """What the readers reach, gathered pack by pack, then judged file by file."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.findings = Findings()
        self.checks: dict[str, PackCheck] = {}
        self.unusable: dict[str, str] = {}  # pack -> why its own index is unusable
        self.served: set[bytes] = set()  # every id (key or sha256) a reader reaches a good record of
        self.merged: Index | None = None
        self.unsorted = False  # the readers' merged index has its rows out of order
        self.merged_damage = 0  # damaged rows of the readers' merged index
        self.merged_reasons: list[str] = []
        self.missed: list[tuple] = []  # (key, sha) of covered packs' good records the merged index does not reach
        self.covered: set[str] = set()  # the packs the readers' merged index covers

    def run(self) -> Findings:
        per_pack = self._merged_rows()
        self.covered = covered = set(self.merged.packs) if self.merged is not None else set()
        for name, index in pack_indexes(self.root).items():
            try:
                buf = mapped(self.root / "packs" / f"{name}.pack")
            except FileNotFoundError:
                continue  # removed by a gc since it was listed
            if isinstance(index, str):
                self.unusable[name] = index
            self.checks[name] = check = check_pack(buf, None if isinstance(index, str) else index)
            if name in covered:
                rows = per_pack.pop(name, ())
                ids, wrong, orphans = reached(buf, check, rows)
                past = sum(1 for _, offset, length, _ in rows if offset + length > check.size)
                self._merged_damage(
                    wrong, f"rows of pack {name} that find no record" + (f" ({past} past its end)" if past else "")
                )
                ids = self._looked_up(name, check) if self.unsorted else ids
                self.missed += [(key, sha) for key, _, sha in check.good.values() if key not in ids or sha not in ids]
                self.missed += [(key, key) for key in orphans]
            else:
                ids = check.reached
            self.served |= ids
        for name, rows in per_pack.items():  # rows of packs that are gone: what they find is lost
            self._merged_damage(len(rows), f"rows of the missing pack {name}")
            self.missed += [(idb, idb) for idb, _, _, kind in rows if kind != SHA_KIND]
        self._judge_records()
        self._judge_unindexed()
        self._judge_dangling()
        self._judge_merged()
        return self.findings

    def _looked_up(self, name: str, check: PackCheck) -> set:
        """The ids of this pack's good records that a reader's binary search of the (unsorted)
        merged index finds: one search per id, as ``Index.find`` does (a search for many ids
        at once takes shortcuts that hold only for sorted rows)."""
        found = set()
        for where, (key, _, sha) in check.good.items():
            for idb in (key, sha):
                for pack, offset, length in (loc for loc in self.merged.find(idb) if not isinstance(loc, str)):
                    if pack == name and (offset, length) == where:
                        found.add(idb)
        return found

    def _merged_damage(self, rows: int, reason: str) -> None:
        if rows:
            self.merged_damage += rows
            self.merged_reasons.append(f"{rows} {reason}")

    def _lost(self, records) -> int:
        """How many of ``records`` ((key, sha) ids) a reader cannot serve (by key or by sha256)."""
        return sum(1 for key, sha in records if key not in self.served or sha not in self.served)

    def _merged_rows(self) -> dict[str, list]:
        """Pick the readers' merged index (damaged ones are leftovers); its rows per pack name."""
        for path in sorted((self.root / "merged").glob("*.idx"), reverse=True):
            try:
                index = Index(path, rows_checked=False)
            except FileNotFoundError:
                continue
            except (OSError, DamagedIndex) as exc:
                self.findings.leftovers.append(f"merged/{path.name} ({_reason(exc)}; the pack indexes serve)")
                continue
            self.merged = self.merged or index
        for path in sorted((self.root / "merged").glob(f"*{SET_ASIDE}")):
            self.findings.leftovers.append(f"merged/{path.name} (set aside; the pack indexes serve)")
        if self.merged is None:
            return {}
        ids, loc, per_pack = self.merged.ids, self.merged.loc, {}
        self.unsorted = len(ids) > 1 and not bool((ids[1:] >= ids[:-1]).all())
        if self.unsorted:  # a reader's binary search misses some rows: see _looked_up
            self.merged_reasons.append("its rows are out of order")
        ok = loc["pack"] < len(self.merged.packs)  # a row naming no listed kind still finds its record
        self._merged_damage(int((~ok).sum()), "rows that name no listed pack")
        kinds, packs, loc = self.merged.kinds, self.merged.packs, loc[ok]
        columns = zip(ids[ok].tolist(), loc["pack"].tolist(), loc["offset"].tolist(), loc["length"].tolist())
        for (idb, number, offset, length), kind in zip(columns, loc["kind"].tolist()):
            row = (idb.ljust(32, b"\0"), offset, length, kinds[kind] if kind < len(kinds) else None)
            per_pack.setdefault(packs[number], []).append(row)
        return per_pack

    def _judge_records(self) -> None:
        """Records that fail, and pack indexes whose rows find no record."""
        for name, check in sorted(self.checks.items()):
            for offset, kind, key, reason in check.bad:
                if bytes.fromhex(key) not in self.served:  # a good copy a reader reaches serves: not a problem
                    self.findings.problems.append(f"corrupt {kind} {key} in pack {name} at offset {offset}: {reason}")
            if not check.damaged_rows:
                continue
            what = f"{check.damaged_rows} row(s) find no record of its pack"
            if check.past_end:
                what += f" ({check.past_end} point past its end: a truncated pack, or damaged rows)"
            lost = self._lost((key, sha) for key, _, sha in check.good.values())
            if name not in self.covered:  # else a reader does not read this index (the merged one counts)
                lost += self._lost((key, key) for key in check.orphans)
            if lost:
                self.findings.problems.append(
                    f"damaged cache index {self.root / 'packs' / name}.idx: {what}: {lost} of the "
                    f"{len(check.good) + len(check.orphans)} results it lists not served (the next run recomputes "
                    "them) until `codecsweep cache gc` indexes the pack again"
                )
            else:
                self.findings.leftovers.append(f"packs/{name}.idx ({what}; nothing lost, gc indexes its pack again)")

    def _index_file(self, name: str) -> tuple[str, str]:
        """The damaged index file of pack ``name`` (in place, or set aside), relative to the cache."""
        for file in (f"{name}.idx", f"{name}.idx{SET_ASIDE}"):
            if (self.root / "packs" / file).exists():
                return f"packs/{file}", str(self.root / "packs" / file)
        return f"packs/{name}.idx", str(self.root / "packs" / f"{name}.idx")

    def _judge_unindexed(self) -> None:
        """Packs without a usable index: their results are unseen (misses) until gc indexes them."""
        for name, reason in sorted(self.unusable.items()):
            check = self.checks[name]
            n, lost = len(check.good), self._lost((key, sha) for key, _, sha in check.good.values())
            tail = "" if check.end == check.size else f", unreadable from offset {check.end} on"
            if reason == NO_INDEX:  # a job killed as it sealed it, or a deleted index: harmless
                unseen = f": {lost} of its {n} results not served until then" if lost else ""
                self.findings.leftovers.append(f"packs/{name}.pack (no index yet, gc indexes it{tail}{unseen})")
            elif lost:
                self.findings.problems.append(
                    f"{reason}: {lost} of the {n} results of its pack not served (no other copy{tail}) "
                    "until `codecsweep cache gc` indexes the pack again"
                )
            else:
                file, path = self._index_file(name)
                what = reason.split(f"{path}: ", 1)[-1]
                self.findings.leftovers.append(f"{file} ({what}; nothing lost, gc indexes its pack again{tail})")

    def _judge_dangling(self) -> None:
        """Indexes without their pack (a deleted pack): what they list is lost unless served elsewhere."""
        packs = self.root / "packs"
        for path in sorted(packs.glob("*.idx")):
            if path.with_suffix(".pack").exists():
                continue
            try:
                keys = [row[0] for row in Index(path, rows_checked=False).rows() if row[4] != SHA_KIND]
            except FileNotFoundError:
                continue
            except (OSError, DamagedIndex) as exc:
                self.findings.leftovers.append(f"packs/{path.name} ({_reason(exc)}, and its pack is missing)")
                continue
            lost = [key for key in keys if key not in self.served]
            if lost:
                self.findings.problems.append(
                    f"index {path.name} without its pack: {len(lost)} of its {len(keys)} results lost (the next run "
                    "recomputes them); `codecsweep cache gc` removes the index"
                )
            else:
                self.findings.leftovers.append(
                    f"packs/{path.name} (its pack is missing; each result it lists has another copy)"
                )
        for path in sorted(packs.glob(f"*.idx{SET_ASIDE}")):
            if not (packs / (path.name[: -len(f".idx{SET_ASIDE}")] + ".pack")).exists():
                self.findings.leftovers.append(f"packs/{path.name} (set aside, and its pack is missing)")

    def _judge_merged(self) -> None:
        if self.merged is None:
            return
        lost = self._lost(self.missed)
        detail = "; ".join(self.merged_reasons) or "rows missing"
        if lost:
            self.findings.problems.append(
                f"merged index {self.merged.path}: {lost} results of its packs not served ({detail}): the next "
                "run recomputes them; `codecsweep cache gc` rewrites the index"
            )
        elif self.merged_damage or self.unsorted:
            self.findings.leftovers.append(f"merged/{self.merged.path.name} ({detail}; nothing lost)")


def audit(cache) -> Findings:
    """Problems and leftovers of the cache ``cache.root`` (see the module docstring)."""
    return Audit(cache.root).run()
