"""Damaged results files are recognised from their framing (a cheap check at workflow start)."""

from codecsweep.core import schemas
from codecsweep.storage import records


def test_parquet_damage_is_recognised_and_removed(tmp_path):
    row = records.new_row(schemas.RUNSTATS, stage="encode", dataset="d", shard=0, items=3)
    good, cut, empty, text = (tmp_path / f"r/{n}.parquet" for n in ("good", "cut", "empty", "text"))
    records.write([row], schemas.RUNSTATS, good)
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    empty.write_bytes(b"")
    text.write_text("not parquet at all, but long enough")
    assert records.parquet_damage(good) is None
    assert "magic" in records.parquet_damage(cut)
    assert "too short" in records.parquet_damage(empty)
    assert "magic" in records.parquet_damage(text)
    removed = dict(records.remove_damaged(tmp_path / "r"))
    assert sorted(removed) == sorted(str(p) for p in (cut, empty, text))
    assert good.exists() and not cut.exists()
    assert records.read(good)[0]["items"] == 3
