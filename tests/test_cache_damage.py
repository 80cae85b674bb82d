"""Self-healing of the cache: no damaged byte anywhere in it (a record, a pack, a pack's
index, the merged index, a temp file) raises anything but a counted miss, which is
recomputed; ``verify`` names every damaged file a reader would use; after a run has
recomputed what was lost, ``verify`` is clean or says in one line what is left and that
``codecsweep cache gc`` clears it, and plain ``gc`` does, whatever the files' age."""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct

import numpy as np
import pytest

from codecsweep.core.keys import make_key
from codecsweep.pipeline.jobs import JobStats
from codecsweep.storage import records
from codecsweep.storage.cache import Cache, CacheCorruptError, sha256_bytes
from codecsweep.storage.cache.index import INDEX_MAGIC, LOC, DamagedIndex, Index, write_index
from tests.test_stages import encode, study  # noqa: F401  (a fixture, used by the stage test)


def build(root) -> dict:
    """A cache of three jobs' packs: two covered by a merged index (gc), one written after it.
    Returns {(kind, key): (data, meta)}."""
    entries = {}
    jobs = [
        [("metric", json.dumps({"psnr": i + 0.5}).encode(), {"group": "pixel-v1"}) for i in range(12)],
        [("artifact", bytes([i]) * (200 + i), {"width": 64 + i, "height": 48, "encode_ms": 1.5}) for i in range(12)],
    ]
    for n, job in enumerate(jobs):
        with Cache(root) as cache:
            for i, (kind, data, meta) in enumerate(job):
                key = make_key(kind, job=n, i=i)
                cache.put(kind, key, data, meta)
                entries[kind, key] = (data, meta)
    Cache(root).gc()  # young packs: kept as they are, their indexes merged
    with Cache(root) as cache:
        for i in range(8):
            key = make_key("prediction", i=i)
            data = np.arange(i, i + 10, dtype="<f4").tobytes()
            cache.put("prediction", key, data, {"model": "m"})
            entries["prediction", key] = (data, {"model": "m"})
    assert len(list((root / "merged").glob("*.idx"))) == 1 and len(list((root / "packs").glob("*.idx"))) == 3
    return entries


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine") / "cache"
    return root, build(root)


def copy_of(pristine, tmp_path, name="cache"):
    root, entries = pristine
    shutil.copytree(root, tmp_path / name)
    return tmp_path / name, entries


def read_all(root, entries) -> tuple[Cache, list]:
    """Every entry through a fresh reader: the exact entry or a counted miss, never an exception;
    every blob the exact data or CacheCorruptError. Returns the reader and what a run computes
    again: its misses, and the blobs read_blob misses (the analyze stage repairs those)."""
    cache = Cache(root)
    missed, blobs = [], []
    for (kind, key), (data, meta) in entries.items():
        entry = cache.get(kind, key)
        if entry is None:
            missed.append((kind, key))
            continue
        assert (entry.data, entry.meta, entry.blob) == (data, meta, sha256_bytes(data))
        try:
            assert cache.read_blob(entry.blob) == data
        except CacheCorruptError:  # a damaged sha256 row only
            blobs.append((kind, key))
    kinds = {kind for kind, _ in entries}
    assert sum(cache.counts[k, o] for k in kinds for o in ("hit", "miss", "corrupt")) == len(entries)
    assert sum(cache.counts[k, "hit"] for k in kinds) == len(entries) - len(missed)
    cache.stats()  # reads every index a reader uses: never raises either
    return cache, missed + blobs


def rerun(root, entries, missed) -> None:
    """What the next run does with its misses: computes them and puts them (a new pack)."""
    with Cache(root) as cache:
        for kind, key in missed:
            data, meta = entries[kind, key]
            cache.put(kind, key, data, meta)


def said(findings) -> str:
    return "\n".join(findings.problems + ([findings.leftover_line()] if findings.leftovers else []))


def heals(root, entries, damaged_name: str, verify_first: bool = True) -> None:
    """The whole cycle on a damaged cache: verify names the file when a read misses; the run
    serves or misses; after recomputing, verify has no problem; after plain gc, nothing at all."""
    before = Cache(root).audit() if verify_first else None
    _, missed = read_all(root, entries)
    if missed:
        text = said(before or Cache(root).audit())
        assert damaged_name in text, (damaged_name, text)
    rerun(root, entries, missed)
    after = Cache(root).audit()
    assert after.problems == [], after.problems
    assert Cache(root).gc() is not None  # plain gc: every file here is young
    clean = Cache(root).audit()
    assert (clean.problems, clean.leftovers) == ([], []), said(clean)
    _, missed = read_all(root, entries)
    assert missed == []


# -- index files ----------------------------------------------------------------------


def index_parts(path):
    """(start of the ids, rows) of an index file as written."""
    buf = path.read_bytes()
    (hlen,) = struct.unpack("<I", buf[6:10])
    head = json.loads(buf[10 : 10 + hlen])
    return 10 + hlen + (-(10 + hlen) % 8), head["rows"]


def poke_row(path, row: int, field: str, value: int) -> None:
    """Overwrite one field of one row's location (pack, offset, length, kind)."""
    start, n = index_parts(path)
    at = start + 32 * n + row * LOC.itemsize + LOC.fields[field][1]
    size = LOC.fields[field][0].itemsize
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(int(value % (1 << (8 * size))).to_bytes(size, "little"))


def damage_index(path, rng, how: str, tmp) -> None:
    size = path.stat().st_size
    start, n = index_parts(path)
    if how == "random bytes":
        buf = bytearray(path.read_bytes())
        for at in rng.integers(0, size, rng.integers(1, 9)):
            buf[at] = int(rng.integers(0, 256))
        path.write_bytes(bytes(buf))
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: int(rng.integers(0, size))])
    elif how == "garbage":
        path.write_bytes(rng.integers(0, 256, int(rng.integers(0, 2 * size)), dtype=np.uint8).tobytes())
    elif how == "garbage with magic":
        path.write_bytes(INDEX_MAGIC + rng.integers(0, 256, int(rng.integers(0, size)), dtype=np.uint8).tobytes())
    elif how in ("pack number", "kind number", "offset", "length"):
        field = {"pack number": "pack", "kind number": "kind"}.get(how, how)
        value = int(rng.integers(1, 1 << 62)) if how == "offset" else int(rng.integers(1, 1 << 32))
        poke_row(path, int(rng.integers(0, n)), field, value)
    elif how == "ids out of order":
        with open(path, "r+b") as f:
            f.seek(start + 32 * int(rng.integers(0, n)))
            f.write(bytes(rng.integers(0, 256, 32, dtype=np.uint8)))
    elif how == "truncated listing":  # the header lists fewer packs than the rows name
        head = json.loads(path.read_bytes()[10 : 10 + struct.unpack("<I", path.read_bytes()[6:10])[0]])
        index_rows = []
        buf = path.read_bytes()
        ids = np.frombuffer(buf, "S32", n, start)
        loc = np.frombuffer(buf, LOC, n, start + 32 * n)
        for idb, r in zip(ids, loc):
            index_rows.append(
                (idb.ljust(32, b"\0"), int(r["pack"]), int(r["offset"]), int(r["length"]), int(r["kind"]))
            )
        write_index(path, tmp, head["packs"][:-1], head["kinds"], index_rows)
    elif how == "deleted":
        path.unlink()
    else:
        raise ValueError(how)


INDEX_DAMAGE = [
    "random bytes",
    "truncated",
    "garbage",
    "garbage with magic",
    "pack number",
    "kind number",
    "offset",
    "length",
    "ids out of order",
    "truncated listing",
    "deleted",
]


@pytest.mark.parametrize("which", ["merged", "covered pack", "recent pack"])
@pytest.mark.parametrize("how", INDEX_DAMAGE)
def test_fuzzed_index_files_give_misses_never_an_exception(pristine, tmp_path, which, how):
    for trial in range(6):
        root, entries = copy_of(pristine, tmp_path, f"cache{trial}")
        rng = np.random.default_rng([trial, INDEX_DAMAGE.index(how), len(which)])
        if which == "merged":
            (path,) = (root / "merged").glob("*.idx")
        else:
            covered = json.loads(
                (lambda b: b[10 : 10 + struct.unpack("<I", b[6:10])[0]])(
                    next((root / "merged").glob("*.idx")).read_bytes()
                )
            )["packs"]
            packs = sorted((root / "packs").glob("*.idx"))
            path = [p for p in packs if (p.stem in covered) == (which == "covered pack")][0]
        if how == "truncated listing" and which != "merged":
            continue  # a pack index lists one pack: a shorter listing is an empty one ("pack number" covers it)
        damage_index(path, rng, how, root / "tmp")
        heals(root, entries, path.stem, verify_first=trial % 2 == 0)


@pytest.mark.parametrize("how", ["garbage", "pack number", "truncated listing", "kind number", "ids out of order"])
def test_verify_names_a_damaged_merged_index_before_any_reader_does(pristine, tmp_path, how):
    """verify reads merged/ too: every index a reader would use, row by row."""
    root, entries = copy_of(pristine, tmp_path)
    (path,) = (root / "merged").glob("*.idx")
    damage_index(path, np.random.default_rng(7), how, root / "tmp")
    assert path.stem in said(Cache(root).audit())


def test_out_of_range_merged_row_is_a_counted_miss(pristine, tmp_path):
    """The fault-injection run's case: one merged row names pack #N of fewer. It was an
    IndexError in every job; it is a damaged copy (counted corrupt, a miss, recomputed)."""
    root, entries = copy_of(pristine, tmp_path)
    (path,) = (root / "merged").glob("*.idx")
    start, n = index_parts(path)
    ids = np.frombuffer(path.read_bytes(), "S32", n, start)
    keys = {bytes.fromhex(key): (kind, key) for kind, key in entries}
    row = next(i for i, idb in enumerate(ids) if idb.ljust(32, b"\0") in keys)
    poke_row(path, row, "pack", 7)
    kind, key = keys[ids[row].ljust(32, b"\0")]
    cache = Cache(root)
    assert cache.get(kind, key) is None and cache.counts[kind, "corrupt"] == 1
    assert "a row names pack #7" in cache.problems[0]
    (problem,) = Cache(root).audit().problems
    assert problem.startswith(f"merged index {path}: 1 results of its packs not served")
    assert main_verify(root) == 1
    heals(root, entries, path.stem)


def main_verify(root) -> int:
    from codecsweep.cli import main

    return main(["cache", "verify", "--cache-dir", str(root)])


# -- records and packs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("one") / "cache"
    entries = {}
    with Cache(root) as cache:
        for i in range(3):
            key = make_key("artifact", i=i)
            data, meta = bytes([i + 1]) * 40, {"width": 500 + i, "height": 375, "encode_ms": 2.25}
            cache.put("artifact", key, data, meta)
            entries["artifact", key] = (data, meta)
    return root, entries


def test_every_damaged_byte_of_a_record_is_a_miss_never_a_wrong_entry(one_pack, tmp_path):
    """Header (magic, length, JSON: kind, key, size, sha256, meta) and data: a damaged byte is
    caught (the header checks itself, the data has its sha256) and never served, not even in
    the meta (a width of 501 for 500 would be a wrong result, not a miss)."""
    source, entries = one_pack
    (pack,) = source.glob("packs/*.pack")
    size = pack.stat().st_size
    first = pack.read_bytes().index(b"CSR1", 1)  # the second record: from its magic ...
    last = pack.read_bytes().index(b"CSR1", first + 1)  # ... to the third one's
    for at in range(first, last):
        shutil.rmtree(tmp_path / "c", ignore_errors=True)
        shutil.copytree(source, tmp_path / "c")
        root = tmp_path / "c"
        with open(root / "packs" / pack.name, "r+b") as f:
            f.seek(at)
            b = f.read(1)[0]
            f.seek(at)
            f.write(bytes([b ^ (1 << (at % 8))]))
        assert (root / "packs" / pack.name).stat().st_size == size
        heals(root, entries, pack.stem, verify_first=at % 2 == 0)


@pytest.mark.parametrize("which", ["covered pack", "recent pack"])
@pytest.mark.parametrize("how", ["truncated", "deleted", "garbage", "garbage appended", "emptied"])
def test_damaged_packs_give_misses_never_an_exception(pristine, tmp_path, which, how):
    for trial in range(3):
        root, entries = copy_of(pristine, tmp_path, f"cache{trial}")
        rng = np.random.default_rng([trial, len(how), len(which)])
        packs = sorted((root / "packs").glob("*.pack"))
        path = packs[-1] if which == "recent pack" else packs[trial % 2]
        buf = path.read_bytes()
        if how == "truncated":
            path.write_bytes(buf[: int(rng.integers(0, len(buf)))])
        elif how == "deleted":
            path.unlink()
        elif how == "garbage":
            path.write_bytes(rng.integers(0, 256, len(buf), dtype=np.uint8).tobytes())
        elif how == "garbage appended":
            path.write_bytes(buf + rng.integers(0, 256, 100, dtype=np.uint8).tobytes())
        else:
            path.write_bytes(b"")
        heals(root, entries, path.stem, verify_first=trial % 2 == 0)


def test_records_written_before_header_checks_are_still_read(tmp_path):
    """A record of the earlier format (no "check" in its header) serves as before."""
    key = make_key("metric", x=1)
    data = b'{"psnr": 31.5}'
    header = {"kind": "metric", "key": key, "sha": sha256_bytes(data), "size": len(data), "meta": {"v": 1}}
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    (tmp_path / "packs").mkdir()
    name = "0000000000000001-aaaaaaaaaaaa"
    (tmp_path / "packs" / f"{name}.pack").write_bytes(b"CSR1" + struct.pack("<I", len(head)) + head + data)
    assert Cache(tmp_path).gc()["reindexed_packs"] == 1  # a pack without its index: any gc indexes it
    entry = Cache(tmp_path).get("metric", key)
    assert (entry.data, entry.meta) == (data, {"v": 1}) and Cache(tmp_path).audit().problems == []


def test_damaged_temp_files_never_stop_a_run(pristine, tmp_path):
    """tmp/ holds packs being written: a reader reads only its own there (checked like any
    record), gc removes the rest once they are an hour old (or at once with verify --repair)."""
    root, entries = copy_of(pristine, tmp_path)
    (root / "tmp" / "18edb4409c5d4e14-54b01d804618.pack").write_bytes(b"CSR1\xff\xff\xff\xff garbage")
    (root / "tmp" / "junk").write_bytes(os.urandom(300))
    (root / "tmp" / "a folder").mkdir()
    (root / "tmp" / "a folder" / "x").write_bytes(b"x")
    cache = Cache(root)
    key = make_key("metric", own=1)
    sha = cache.put("metric", key, b'{"psnr": 20}')
    (own,) = [p for p in (root / "tmp").glob("*.pack") if p.name.startswith(cache._writer[0].name)]
    with open(own, "r+b") as f:  # another process damages the pack this job is writing
        f.seek(40)
        f.write(b"\0\0\0")
    assert cache.get("metric", key) is None and cache.counts["metric", "corrupt"] == 1
    with pytest.raises(CacheCorruptError):
        cache.read_blob(sha)
    cache.close()
    _, missed = read_all(root, entries)
    assert missed == [] and Cache(root).audit().problems != []  # the sealed pack's damaged record, no good copy
    assert "removed_partial_writes" not in Cache(root).gc()  # young: a running job's, perhaps
    assert Cache(root).gc(grace_s=0)["removed_partial_writes"] == 3 and list((root / "tmp").iterdir()) == []
    rerun(root, {("metric", key): (b'{"psnr": 20}', {})}, [("metric", key)])
    assert Cache(root).audit().problems == []


# -- after a recovery: verify tells the truth, plain gc clears what is left, one log line --------


def damaged_then_recovered(pristine, tmp_path):
    """The fault-injection run's cache: one recent pack's index garbage, one pack deleted
    (its index left); then a run that recomputed everything it missed."""
    root, entries = copy_of(pristine, tmp_path)
    for merged in (root / "merged").glob("*.idx"):
        merged.unlink()  # as before any gc: every pack read through its own index
    packs = sorted((root / "packs").glob("*.pack"))
    packs[-1].with_suffix(".idx").write_bytes(os.urandom(500))
    packs[0].unlink()
    _, missed = read_all(root, entries)
    assert len(missed) == 12 + 8
    rerun(root, entries, missed)
    return root, entries, packs


def test_verify_after_a_recovery_is_one_line_and_plain_gc_clears_it(pristine, tmp_path, capsys):
    from codecsweep.cli import main

    root, entries, packs = damaged_then_recovered(pristine, tmp_path)
    assert main(["cache", "verify", "--cache-dir", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1] == "0 problem(s)", lines
    assert f"packs/{packs[-1].stem}.idx.damaged (not a cache index; nothing lost" in lines[0]
    assert f"packs/{packs[0].stem}.idx (its pack is missing" in lines[0]
    assert lines[0].startswith("2 leftover file(s), nothing lost: ") and "`codecsweep cache gc` clears them" in lines[0]
    assert main(["cache", "gc", "--cache-dir", str(root)]) == 0  # plain gc: every file here is seconds old
    capsys.readouterr()
    assert main(["cache", "verify", "--cache-dir", str(root)]) == 0
    assert capsys.readouterr().out == "0 problem(s)\n"
    _, missed = read_all(root, entries)
    assert missed == []


def test_a_damaged_index_is_logged_once_and_no_job_claims_a_recomputation(pristine, tmp_path, caplog):
    """Found by the first job, which sets it aside and says so, once; every later job serves
    everything and logs nothing; and no line claims a recomputation (before: every later job
    logged 'corrupt entry recomputed: unreadable cache index ...')."""
    root, entries = copy_of(pristine, tmp_path)
    recent = sorted((root / "packs").glob("*.idx"))[-1]  # the pack written after the merge
    recent.write_bytes(b"not an index at all")
    caplog.set_level(logging.INFO, logger="codecsweep")

    def job(n) -> tuple[list, list[str]]:
        caplog.clear()
        cache, missed = read_all(root, entries)
        rerun(root, entries, missed)
        JobStats.finish_all([JobStats(stage="analyze", dataset="d", shard=n)], cache, tmp_path / f"rs{n}.parquet")
        return missed, [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    missed, warnings = job(0)
    assert len(missed) == 8 and len(warnings) == 1, warnings
    assert warnings[0] == (
        f"cache: unreadable cache index {recent}: not a cache index: set aside as {recent.name}.damaged; "
        "its pack's results are misses until `codecsweep cache gc` indexes the pack again"
    )
    for n in (1, 2):
        assert job(n) == ([], [])
    recent.write_bytes(b"damaged again")  # two jobs find it at once: one line, from the one that sets it aside
    with pytest.raises(DamagedIndex) as early:
        Index(recent, pack=recent.stem)  # job B reads it ...
    caplog.clear()
    Cache(root)._open(recent, pack=recent.stem)  # ... job A reads it too, sets it aside, says so ...
    Cache(root)._damaged(recent, early.value)  # ... and B finds it gone when it tries
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


def test_a_damaged_entry_is_logged_as_a_miss_not_as_a_recomputation(one_pack, tmp_path, caplog):
    root, entries = copy_of(one_pack, tmp_path)
    (pack,) = root.glob("packs/*.pack")
    (kind, key), (data, _) = next(iter(entries.items()))
    with open(pack, "r+b") as f:
        f.seek(pack.read_bytes().index(data))
        f.write(b"\0")
    caplog.set_level(logging.INFO, logger="codecsweep")
    stats = JobStats(stage="encode", dataset="d", shard=0)
    cache = Cache(root)
    assert stats.lookup(cache, kind, key) is None and stats.corrupt == 1
    JobStats.finish_all([stats], cache, tmp_path / "rs.parquet")
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.startswith(f"cache: damaged copy not used (counted as corrupt, a miss): {kind} {key[:12]}: blob ")


# -- a stage on a damaged cache ------------------------------------------------------------


def test_encode_stage_recomputes_around_a_damaged_cache(study, tmp_path):  # noqa: F811
    """The stage itself, on every kind of damage at once (an out-of-range merged row, a garbage
    pack index, a damaged record, garbage in tmp/): it finishes, recomputes exactly what it
    could not read, writes the same variants table; verify then has no problem, and plain gc
    leaves a clean cache that serves everything."""
    first = encode(study, "jpeg", ["90", "50"])
    variants = records.read(study / "v-jpeg.parquet")
    root = study / "cache"
    Cache(root).gc()  # merge: the one pack is now read through merged/
    for _ in range(2):  # two more packs, outside the merged index, one with the same entries
        with Cache(root) as cache:
            cache.put("metric", make_key("metric", n=_), b"{}")
    (merged,) = (root / "merged").glob("*.idx")
    start, n = index_parts(merged)
    ids = [i.ljust(32, b"\0") for i in np.frombuffer(merged.read_bytes(), "S32", n, start)]
    artifacts = [row for index in Cache(root).pack_indexes().values() for row in index.rows() if row[4] == "artifact"]
    poke_row(merged, ids.index(artifacts[0][0]), "pack", 1 << 20)  # one artifact's merged row
    pack, offset, length = artifacts[1][1:4]  # another one's record: a damaged byte of its data
    with open(root / "packs" / f"{pack}.pack", "r+b") as f:
        f.seek(offset + length - 1)
        last = f.read(1)
        f.seek(offset + length - 1)
        f.write(bytes([last[0] ^ 1]))
    recent = sorted((root / "packs").glob("*.idx"))[-1]
    recent.write_bytes(os.urandom(100))
    (root / "tmp" / "junk.pack").write_bytes(os.urandom(100))
    again = encode(study, "jpeg", ["90", "50"])
    assert (again.items, again.failed) == (first.items, 0) and again.computed + again.served == first.computed
    assert again.computed == again.corrupt == 2  # each recomputed item: a damaged copy, counted
    timeless = [{k: v for k, v in row.items() if k != "encode_ms"} for row in variants]  # the time is measured anew
    assert [
        {k: v for k, v in r.items() if k != "encode_ms"} for r in records.read(study / "v-jpeg.parquet")
    ] == timeless
    (problem,) = Cache(root).audit().problems  # the metric its stage has not run again yet
    assert problem.startswith(f"unreadable cache index {recent}.damaged: not a cache index: 1 of the 1 results")
    with Cache(root) as cache:  # that stage's next run
        cache.put("metric", make_key("metric", n=1), b"{}")
    assert Cache(root).audit().problems == []
    Cache(root).gc()
    findings = Cache(root).audit()
    assert (findings.problems, findings.leftovers) == ([], [])
    last = encode(study, "jpeg", ["90", "50"])
    assert (last.computed, last.served, last.corrupt) == (0, first.computed, 0)
