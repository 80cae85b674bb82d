"""The content-addressed cache: keys, atomic writes, verification, gc."""

import json
import os
import time

import pytest

from codecsweep.cache import Cache, CacheWriteError, make_key, sha256_bytes


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
    assert (tmp_path / "blobs" / sha[:2] / sha[2:]).read_bytes() == b"hello"
    entry = cache.get("artifact", key)
    assert (entry.data, entry.meta) == (b"hello", {"encode_ms": 1.5})
    assert cache.get("artifact", make_key("artifact", x=2)) is None
    assert cache.counts["artifact", "hit"] == 1 and cache.counts["artifact", "miss"] == 1
    assert list((tmp_path / "tmp").iterdir()) == []


def test_corrupt_blob_is_a_miss_and_verify_reports_it(tmp_path):
    cache = Cache(tmp_path)
    key = make_key("artifact", x=1)
    sha = cache.put("artifact", key, b"some bytes")
    blob = cache.blob_path(sha)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF
    blob.write_bytes(bytes(data))
    assert cache.verify() == [f"corrupt blob {sha}"]
    assert cache.get("artifact", key) is None
    assert cache.counts["artifact", "corrupt"] == 1
    assert "fails its sha256 check" in cache.problems[0]
    assert not blob.exists() and not cache.index_path("artifact", key).exists()
    cache.put("artifact", key, b"some bytes")  # recomputed
    assert cache.get("artifact", key).data == b"some bytes"
    assert cache.verify() == []


def test_truncated_index_entry_is_a_miss(tmp_path):
    cache = Cache(tmp_path)
    key = make_key("metric", x=1)
    cache.put("metric", key, b"{}")
    path = cache.index_path("metric", key)
    path.write_bytes(path.read_bytes()[:5])
    assert cache.get("metric", key) is None
    assert cache.counts["metric", "corrupt"] == 1


def test_failed_write_leaves_no_partial_entry(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    real_replace = os.replace

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(CacheWriteError, match="No space left on device"):
        cache.put("artifact", make_key("artifact", x=1), b"data")
    monkeypatch.setattr(os, "replace", real_replace)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list(cache.iter_blobs()) == [] and list(cache.iter_index()) == []


def test_gc_keeps_every_referenced_blob(tmp_path):
    cache = Cache(tmp_path)
    keep = cache.put("artifact", make_key("artifact", x=1), b"kept")
    orphan = cache.put_blob(b"orphan: blob written, index entry never written (killed job)")
    assert cache.gc()["removed_blobs"] == 0  # young: may belong to a job writing its index entry now
    two_hours_ago = time.time() - 7200
    os.utime(cache.blob_path(orphan), (two_hours_ago, two_hours_ago))
    os.utime(cache.blob_path(keep), (two_hours_ago, two_hours_ago))
    assert cache.gc(dry_run=True)["removed_blobs"] == 1 and cache.blob_path(orphan).exists()
    result = cache.gc()
    assert result["removed_blobs"] == 1 and result["freed_bytes"] > 0
    assert cache.blob_path(keep).exists() and not cache.blob_path(orphan).exists()
    stats = cache.stats()
    assert stats["blobs"] == 1 and stats["index_entries"] == {"artifact": 1}


def test_cli_verify_exit_code(tmp_path, capsys):
    from codecsweep.__main__ import main

    cache = Cache(tmp_path)
    sha = cache.put("artifact", make_key("artifact", x=1), b"abc")
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 0
    cache.blob_path(sha).write_bytes(b"abd")
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 1
    assert f"corrupt blob {sha}" in capsys.readouterr().out
    assert main(["cache", "stats", "--cache-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["blobs"] == 1
