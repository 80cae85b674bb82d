"""The Parquet writer refuses rows whose columns are not exactly the table's."""

import pyarrow.parquet as pq
import pytest

from codecsweep.core import schemas
from codecsweep.storage import records


def test_unknown_column_is_an_error(tmp_path):
    row = records.new_row(schemas.RUNSTATS, stage="encode", dataset="d", shard=0)
    row["new_metric_nobody_declared"] = 1.0
    with pytest.raises(records.SchemaError, match="unknown \\['new_metric_nobody_declared'\\]"):
        records.write([row], schemas.RUNSTATS, tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


def test_missing_column_is_an_error(tmp_path):
    row = records.new_row(schemas.RUNSTATS, stage="encode")
    del row["wall_s"]
    with pytest.raises(records.SchemaError, match="missing \\['wall_s'\\]"):
        records.write([row], schemas.RUNSTATS, tmp_path / "t.parquet")


def test_new_row_names_unknown_columns_and_fills_nulls(tmp_path):
    with pytest.raises(records.SchemaError, match="not columns of the table: psnr_typo"):
        records.new_row(schemas.METRICS, psnr_typo=1.0)
    row = records.new_row(schemas.METRICS, dataset="d", image_id="i", psnr=31.5)
    records.write([row], schemas.METRICS, tmp_path / "m.parquet")
    back = pq.read_table(tmp_path / "m.parquet").to_pylist()
    assert back == [dict(row)] and back[0]["ssim"] is None and back[0]["psnr"] == 31.5


def test_a_full_disk_names_the_table_and_leaves_nothing(tmp_path):
    """A real 12 KiB tmpfs (root only; skipped elsewhere) that a 2,000-row table cannot fit."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        rows = [records.new_row(schemas.RUNSTATS, stage=f"stage-{i}" * 20, items=i) for i in range(2000)]
        out = disk / "t.parquet"
        with pytest.raises(OSError, match=f"cannot write the results table {out}: .*No space left on device"):
            records.write(rows, schemas.RUNSTATS, out)
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)
