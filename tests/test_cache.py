"""The packed content-addressed cache: keys, packs and their indexes, verification, gc, migration."""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from codecsweep.core.keys import make_key
from codecsweep.storage.cache import Cache, CacheCorruptError, CacheLayoutError, CacheWriteError, sha256_bytes
from tests.test_stages import encode, study  # noqa: F401  (a fixture, used by the migration test)


def files(root, sub):
    return sorted(p.name for p in (root / sub).iterdir())


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x55]))


def age(root, seconds=7200):
    """Make every file of the cache look ``seconds`` old (gc leaves young files alone)."""
    t = time.time() - seconds
    for p in root.rglob("*"):
        os.utime(p, (t, t))


def test_keys_depend_on_content_only():
    k = make_key("artifact", source="ab", encoder="jpeg", param="20", scale=1.0)
    assert k == make_key("artifact", param="20", scale=1.0, encoder="jpeg", source="ab")  # order-free
    assert k != make_key("artifact", source="ab", encoder="jpeg", param="21", scale=1.0)
    assert k != make_key("prediction", source="ab", encoder="jpeg", param="20", scale=1.0)
    assert len(k) == 64


def test_put_get_layout(tmp_path):
    cache = Cache(tmp_path)
    key = make_key("artifact", x=1)
    sha = cache.put("artifact", key, b"hello", {"encode_ms": 1.5})
    assert sha == sha256_bytes(b"hello")
    assert files(tmp_path, "packs") == []  # unsealed: no other process sees it yet ...
    assert cache.get("artifact", key).data == b"hello"  # ... but its writer does
    cache.close()
    (pack,) = [n for n in files(tmp_path, "packs") if n.endswith(".pack")]
    assert files(tmp_path, "packs") == [pack.replace(".pack", ".idx"), pack] and files(tmp_path, "tmp") == []
    reader = Cache(tmp_path)
    entry = reader.get("artifact", key)
    assert (entry.data, entry.blob, entry.meta) == (b"hello", sha, {"encode_ms": 1.5})
    assert reader.read_blob(sha) == b"hello"
    path, offset, size = reader.locate(sha)
    assert path.read_bytes()[offset : offset + size] == b"hello" and size == 5
    assert reader.get("artifact", make_key("artifact", x=2)) is None
    assert reader.counts["artifact", "hit"] == 1 and reader.counts["artifact", "miss"] == 1


def test_many_results_make_one_pack_per_job(tmp_path):
    with Cache(tmp_path) as cache:
        keys = [make_key("metric", i=i) for i in range(500)]
        for i, k in enumerate(keys):
            cache.put("metric", k, json.dumps({"psnr": i}).encode())
    assert len(files(tmp_path, "packs")) == 2
    reader = Cache(tmp_path)
    assert all(json.loads(reader.get("metric", k).data) == {"psnr": i} for i, k in enumerate(keys))
    stats = reader.stats()
    assert stats["packs"] == 1 and stats["entries"] == {"metric": 500} and stats["duplicate_entries"] == 0


def test_corrupt_blob_is_a_miss_then_recomputed_and_gc_drops_the_bad_copy(tmp_path):
    with Cache(tmp_path) as cache:
        key = make_key("artifact", x=1)
        sha = cache.put("artifact", key, b"some bytes")
        other = make_key("artifact", x=2)
        cache.put("artifact", other, b"other bytes")
    path, offset, _ = Cache(tmp_path).locate(sha)
    flip(path, offset)
    (problem,) = Cache(tmp_path).verify()
    assert problem.startswith(f"corrupt artifact {key} in pack {path.stem}") and "fails its sha256 check" in problem
    cache = Cache(tmp_path)
    assert cache.get("artifact", key) is None and cache.get("artifact", other).data == b"other bytes"
    assert cache.counts["artifact", "corrupt"] == 1 and "fails its sha256 check" in cache.problems[0]
    with pytest.raises(CacheCorruptError, match=f"blob {sha} .* fails its sha256 check"):
        cache.read_blob(sha)
    cache.put("artifact", key, b"some bytes")  # recomputed: a fresh copy, never the damaged one
    cache.close()
    reader = Cache(tmp_path)
    assert reader.get("artifact", key).data == b"some bytes" and reader.read_blob(sha) == b"some bytes"
    assert reader.counts["artifact", "corrupt"] == 0  # the newest copy serves first
    assert Cache(tmp_path).verify() == []  # the bad copy has a good one: nothing is lost
    age(tmp_path)
    result = Cache(tmp_path).gc()
    assert result["corrupt_records"] == 1 and result["rewritten_packs"] == 2 and result["dropped_records"] == 1
    assert len([n for n in files(tmp_path, "packs") if n.endswith(".pack")]) == 1
    reader = Cache(tmp_path)
    assert reader.get("artifact", key).data == b"some bytes" and reader.get("artifact", other).data == b"other bytes"
    assert reader.stats()["duplicate_entries"] == 0


def test_damaged_record_header_spares_the_rest_of_the_pack(tmp_path):
    with Cache(tmp_path) as cache:
        keys = [make_key("prediction", i=i) for i in range(3)]
        shas = [cache.put("prediction", k, bytes([i]) * 4000, {"model": "m"}) for i, k in enumerate(keys)]
    path, offset, _ = Cache(tmp_path).locate(shas[1])
    flip(path, path.read_bytes().rindex(b"CSR1", 0, offset))  # the record's magic, before its header
    cache = Cache(tmp_path)
    assert cache.get("prediction", keys[1]) is None and cache.counts["prediction", "corrupt"] == 1
    assert "record header damaged" in cache.problems[0]
    assert [cache.get("prediction", k).data[:1] for k in (keys[0], keys[2])] == [b"\0", b"\2"]
    assert len(cache.verify()) == 1
    assert cache.verify(repair=True) and Cache(tmp_path).verify() == []  # rewritten without it: now a miss
    assert Cache(tmp_path).get("prediction", keys[1]) is None and Cache(tmp_path).get("prediction", keys[2])


def test_unreadable_pack_index_is_rebuilt_by_gc(tmp_path):
    with Cache(tmp_path) as cache:
        key = make_key("metric", x=1)
        cache.put("metric", key, b"{}")
    (idx,) = (tmp_path / "packs").glob("*.idx")
    idx.write_bytes(idx.read_bytes()[:20])
    cache = Cache(tmp_path)
    assert cache.get("metric", key) is None and "unreadable cache index" in cache.problems[0]
    assert "unreadable cache index" in cache.verify()[0]
    age(tmp_path)
    assert Cache(tmp_path).gc()["reindexed_packs"] == 1
    assert Cache(tmp_path).get("metric", key).data == b"{}" and Cache(tmp_path).verify() == []


def test_failed_write_raises_and_keeps_what_was_complete(tmp_path):
    """A real write failure: the file size limit (EFBIG), as a full disk would fail it."""
    cache = Cache(tmp_path)
    small = make_key("artifact", x=1)
    cache.put("artifact", small, b"small")
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(CacheWriteError, match="File too large") as err:
            cache.put("artifact", make_key("artifact", x=2), b"x" * 10000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert not isinstance(err.value, CacheCorruptError)
    assert files(tmp_path, "tmp") == []  # the failed pack was sealed with its whole records
    reader = Cache(tmp_path)
    assert reader.get("artifact", small).data == b"small" and reader.get("artifact", make_key("artifact", x=2)) is None
    assert reader.verify() == []


def test_two_writers_of_the_same_keys_either_copy_serves(tmp_path):
    key = make_key("artifact", x=1)
    a, b = Cache(tmp_path), Cache(tmp_path)  # two jobs, neither sees the other's unsealed pack
    sha = a.put("artifact", key, b"same bytes", {"encode_ms": 1.0})
    assert b.get("artifact", key) is None
    b.put("artifact", key, b"same bytes", {"encode_ms": 2.0})
    a.close()
    b.close()
    assert Cache(tmp_path).get("artifact", key).meta == {"encode_ms": 2.0}  # the newest pack first
    path, offset, _ = Cache(tmp_path).locate(sha)  # the newest copy: b's
    flip(path, offset + 3)
    reader = Cache(tmp_path)
    assert reader.get("artifact", key).meta == {"encode_ms": 1.0} and reader.read_blob(sha) == b"same bytes"
    assert Cache(tmp_path).verify() == []
    assert Cache(tmp_path).stats()["duplicate_entries"] == 1


WRITER = """
import sys
from codecsweep.storage.cache import Cache
from codecsweep.core.keys import make_key
cache = Cache(sys.argv[1], roll_bytes=int(sys.argv[2]))
for i in range(int(sys.argv[3])):
    cache.put("metric", make_key("metric", i=i), b"%d" % i * 100)
"""


def writer(root, roll_bytes, n):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(roll_bytes), str(n)], env=env)


def test_killed_writer_leaves_no_visible_partial_pack(tmp_path):
    proc = writer(tmp_path, 64 << 10, 10**7)
    deadline = time.time() + 60
    while (len(list((tmp_path / "packs").glob("*.idx"))) < 3 or not files(tmp_path, "tmp")) and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(files(tmp_path, "tmp"))  # the pack it was writing (unless killed just as it sealed it)
    assert partial <= 1
    cache = Cache(tmp_path)
    n = cache.stats()["entries"]["metric"]
    assert n >= 3 * 100 and cache.verify() == []  # >= 3 packs of 64 KiB, records of < 640 bytes
    assert all(cache.get("metric", make_key("metric", i=i)).data == b"%d" % i * 100 for i in range(n))
    age(tmp_path)
    result = Cache(tmp_path).gc()
    assert result["removed_partial_writes"] == partial and files(tmp_path, "tmp") == []
    assert result["dropped_records"] == 0 and Cache(tmp_path).verify() == []
    # A pack sealed just before the kill, but whose index was not yet written, is indexed by gc.
    assert Cache(tmp_path).stats()["entries"]["metric"] >= n


def test_two_processes_write_at_once(tmp_path):
    procs = [writer(tmp_path, 32 << 10, 3000) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    cache = Cache(tmp_path)
    assert cache.stats()["entries"] == {"metric": 6000} and cache.stats()["duplicate_entries"] == 3000
    assert all(cache.get("metric", make_key("metric", i=i)).data == b"%d" % i * 100 for i in range(3000))
    assert cache.verify() == []
    age(tmp_path)
    result = Cache(tmp_path).gc()
    assert result["dropped_records"] == 3000 and Cache(tmp_path).stats()["entries"] == {"metric": 3000}
    assert Cache(tmp_path).stats()["files"] == 3  # one pack, its index, the merged index


def test_gc_keeps_young_packs_and_merges_indexes(tmp_path):
    for i in range(3):
        with Cache(tmp_path) as cache:
            cache.put("metric", make_key("metric", i=i), b"%d" % i)
    assert (
        Cache(tmp_path).gc()["rewritten_packs"] == 0 and len(files(tmp_path, "packs")) == 6
    )  # young: untouched, only merged
    assert len(files(tmp_path, "merged")) == 1
    age(tmp_path)
    assert Cache(tmp_path).gc(dry_run=True)["rewritten_packs"] == 3 and len(files(tmp_path, "packs")) == 6
    assert Cache(tmp_path).gc()["rewritten_packs"] == 3  # small packs packed into one
    assert len(files(tmp_path, "packs")) == 2 and len(files(tmp_path, "merged")) == 1
    with Cache(tmp_path) as cache:  # written after the merge: found through its own index
        cache.put("metric", make_key("metric", i=3), b"3")
    reader = Cache(tmp_path)
    assert [reader.get("metric", make_key("metric", i=i)).data for i in range(4)] == [b"0", b"1", b"2", b"3"]
    assert len(reader._load()) == 2 and len(reader._load()[1].packs) == 1  # merged + one recent pack


def test_repair_and_gc_without_grace_remove_a_killed_writers_young_temp_file(tmp_path):
    """gc leaves temp files younger than ``grace_s`` alone (a job may be writing them);
    ``verify --repair`` is run when no job uses the cache, so it removes them at any age."""
    with Cache(tmp_path) as cache:
        sha = cache.put("artifact", make_key("artifact", x=1), b"some bytes")
        cache.put("artifact", make_key("artifact", x=2), b"other bytes")

    def killed_writer(name):  # the pack a writer killed a minute ago left in tmp/
        path = tmp_path / "tmp" / f"{name}.pack"
        path.write_bytes(b"CSR1" + b"\0" * 60)
        t = time.time() - 60
        os.utime(path, (t, t))
        return path

    killed_writer("0000000000000001-aaaaaaaaaaaa")
    result = Cache(tmp_path).gc()  # default grace (an hour): a running job's pack, kept
    assert "removed_partial_writes" not in result and len(files(tmp_path, "tmp")) == 1
    assert Cache(tmp_path).gc(grace_s=0)["removed_partial_writes"] == 1 and files(tmp_path, "tmp") == []
    killed_writer("0000000000000002-bbbbbbbbbbbb")
    path, offset, _ = Cache(tmp_path).locate(sha)
    flip(path, offset)
    assert Cache(tmp_path).verify(repair=True)  # the corrupt record: a problem, repaired
    assert files(tmp_path, "tmp") == [] and Cache(tmp_path).verify() == []
    reader = Cache(tmp_path)
    assert reader.get("artifact", make_key("artifact", x=1)) is None
    assert reader.get("artifact", make_key("artifact", x=2)).data == b"other bytes"


def write_loose(root, kind, key, data, meta):
    """An entry of the layout before packs: blobs/ab/cdef... + index/<kind>/ab/<key>.json."""
    sha = sha256_bytes(data)
    (root / "blobs" / sha[:2]).mkdir(parents=True, exist_ok=True)
    (root / "blobs" / sha[:2] / sha[2:]).write_bytes(data)
    (root / "index" / kind / key[:2]).mkdir(parents=True, exist_ok=True)
    entry = {"blob": sha, "size": len(data), "meta": meta}
    (root / "index" / kind / key[:2] / f"{key}.json").write_text(json.dumps(entry, sort_keys=True))
    return sha


def test_migrated_loose_cache_serves_instead_of_recomputing(study, tmp_path):  # noqa: F811
    packed = tmp_path / "packed"
    first = encode(study, "jpeg", ["90", "50"])
    assert first.computed == 8 and first.served == 0  # 2 images x 2 scales x 2 params
    variants = (study / "v-jpeg.parquet").read_bytes()
    # The same results in the layout before packs, plus one entry whose blob is damaged.
    loose = tmp_path / "loose"
    source = Cache(study / "cache")
    for kind, key in [(k, h) for k, h in _keys(source)]:
        entry = source.get(kind, key)
        write_loose(loose, kind, key, entry.data, entry.meta)
    bad = write_loose(loose, "metric", make_key("metric", x=1), b'{"psnr": 1}', {})
    (loose / "blobs" / bad[:2] / bad[2:]).write_bytes(b'{"psnr": 2}')
    from codecsweep.cli import main

    with pytest.raises(CacheLayoutError, match="cache migrate --cache-dir"):  # never recomputed silently
        Cache(loose)
    assert main(["cache", "migrate", "--cache-dir", str(loose)]) == 0
    assert sorted(p.name for p in loose.iterdir()) == ["merged", "packs", "tmp"]
    assert Cache(loose).stats()["entries"] == {"artifact": 8} and Cache(loose).verify() == []
    (study / "v-jpeg.parquet").unlink()
    (study / "cache").rename(packed)
    loose.rename(study / "cache")
    again = encode(study, "jpeg", ["90", "50"])
    assert again.computed == 0 and again.served == 8
    assert (study / "v-jpeg.parquet").read_bytes() == variants


def _keys(cache):
    for index in cache.pack_indexes().values():
        for idb, _, _, _, kind in index.rows():
            if kind != "sha256":
                yield kind, idb.hex()


def test_cli_verify_exit_code_and_stats(tmp_path, capsys):
    from codecsweep.cli import main

    with Cache(tmp_path) as cache:
        sha = cache.put("artifact", make_key("artifact", x=1), b"abc")
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 0
    path, offset, _ = Cache(tmp_path).locate(sha)
    flip(path, offset + 2)
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 1
    assert "corrupt artifact" in capsys.readouterr().out
    assert main(["cache", "stats", "--cache-dir", str(tmp_path)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["packs"] == 1 and stats["entries"] == {"artifact": 1}
    assert stats["pack_bytes"] == path.stat().st_size
    assert not any(k.endswith("_size") for k in stats)  # a readable twin is the CLI's `_h`, not a second copy
