"""Reports are byte-identical between reruns: built in separate processes from the same
Parquet, in other row orders, with other figure-worker counts.

What made them differ: a Spearman correlation that is exactly 0 in exact arithmetic (with a
binary side, top-1 agreement, the metric's mean rank among the agreeing variants equals the
overall mean rank). DuckDB computes ``corr`` with an online update over threads whose order
changes from run to run, so the 0 comes out as ±1e-16 and ``round(…, 4)`` as 0.0 or -0.0.
``numbers.settled`` (through ``Report.table``, which every table passes) writes both as 0.0.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.report_benchmark import synthetic_study
from codecsweep.report.numbers import rounded, settled
from codecsweep.report.render import Report
from tests.test_report import _shuffled

REPO = pathlib.Path(__file__).resolve().parent.parent
KEY = ["dataset", "image_id", "encoder", "scale", "color", "param"]

SCRIPT = """
import json, sys
from codecsweep.report.build import build_report

if __name__ == "__main__":  # the figure workers are spawned: they import this script again
    files, sql, out, workers = json.loads(sys.argv[1])
    build_report(files, sql, out_dir=out, figure_workers=workers)
"""


def with_zero_correlation(files: dict, encoder: str = "jpeg2000") -> None:
    """Rewrite ``encoder``'s SSIM and top-1 agreement so that their Spearman correlation is
    exactly 0 (but both sides vary): SSIM ranks 0..n-1, agreement where rank % 4 is 0 or 3."""
    metrics = pq.read_table(files["metrics"][0]).to_pandas()
    preds = pq.read_table(files["predictions"][0]).to_pandas()
    rows = np.flatnonzero((metrics.encoder == encoder).to_numpy())
    assert len(rows) % 4 == 0
    rank = np.empty(len(rows), int)
    rank[np.argsort(metrics.ssim.to_numpy()[rows], kind="stable")] = np.arange(len(rows))
    metrics.loc[rows, "ssim"] = 0.5 + rank / (4 * len(rows))
    agrees = metrics.loc[rows, KEY].assign(new=(rank % 4 == 0) | (rank % 4 == 3))
    preds = preds.merge(agrees, on=KEY, how="left")
    preds["top1_agrees"] = preds.new.where(preds.new.notna(), preds.top1_agrees).astype(bool)
    for name, df in (("metrics", metrics), ("predictions", preds.drop(columns="new"))):
        schema = pq.read_schema(files[name][0])
        pq.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False), files[name][0])


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    files = synthetic_study(tmp_path_factory.mktemp("results"), 4, encoders=("jpeg", "jpeg2000"))
    with_zero_correlation(files)
    return files


@pytest.mark.slow  # five whole reports, one after another (figures are most of each): a minute or two
def test_report_is_byte_identical_across_processes_row_orders_and_workers(study, tmp_path):
    """Five processes, five row orders of the input files, 0, 1 or 2 figure workers: the same bytes,
    with a correlation cell that came out as 0.0 or -0.0 about every other run before."""
    sql = sorted(str(p) for p in (REPO / "reports/sql").glob("*.sql"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
    script = tmp_path / "build.py"
    script.write_text(SCRIPT)
    outs = []
    for seed, workers in enumerate((0, 1, 2, 0, 1)):  # one at a time: the machine's cores are shared
        (tmp_path / f"in{seed}").mkdir()
        files = _shuffled(study, tmp_path / f"in{seed}", seed)
        out = tmp_path / f"out{seed}"
        args = json.dumps([files, sql, str(out), workers])
        subprocess.run([sys.executable, str(script), args], env=env, check=True, capture_output=True, timeout=600)
        outs.append(out)
    names = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(names) > 40 and pathlib.Path("tables/metric_correlation.csv") in names
    for out in outs[1:]:
        assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == names
        assert [str(n) for n in names if (out / n).read_bytes() != (outs[0] / n).read_bytes()] == []
    table = pd.read_csv(outs[0] / "tables/metric_correlation.csv")
    cell = table[(table.scope == "jpeg2000") & (table.metric == "ssim")].spearman_top1_agreement
    assert cell.tolist() == [0.0] and math.copysign(1, cell.iloc[0]) == 1  # the case is there, written as 0.0


def test_signed_zeros_and_summation_noise_are_written_alike(tmp_path):
    """The one place every table passes (``Report.table``) writes -0.0 and 0.0 alike, and a
    value whose last bits depend on the order of a sum like its exact twin: CSV, Markdown, HTML."""
    noisy = pd.DataFrame(
        {"name": ["a", "b", "c"], "r": [-0.0, 0.1 + 0.2, np.nan], "n": [1, 2, 3], "o": [None, -0.0, 2.5]}
    )
    exact = pd.DataFrame({"name": ["a", "b", "c"], "r": [0.0, 0.3, np.nan], "n": [1, 2, 3], "o": [None, 0.0, 2.5]})
    texts = []
    for n, df in enumerate((noisy, exact)):
        report = Report(tmp_path / f"r{n}")
        report.table("t", "T", "notes", df)
        report.write([], [], tmp_path / f"s{n}.md", tmp_path / f"i{n}.html")
        files = ("tables/t.csv", "tables/t.md")
        texts.append([(tmp_path / f"r{n}" / f).read_text() for f in files] + [(tmp_path / f"i{n}.html").read_text()])
        assert math.copysign(1, report.tables["t"].r[0]) == 1
    assert texts[0] == texts[1] and "-0" not in "".join(texts[0])


def test_rounded_settles_the_noise_before_it_rounds():
    """A half-way value computed in two orders rounds alike, and rounding never gives -0.0."""
    half = 0.12345
    assert rounded(np.nextafter(half, 0), 4) == rounded(half, 4) == rounded(np.nextafter(half, 1), 4) == 0.1235
    assert math.copysign(1, rounded(-1e-18, 4)) == 1 and math.copysign(1, rounded(-0.0, 2)) == 1
    assert settled(1234.5678) == 1234.5678 and settled(0.30000000000000004) == 0.3 and settled(-2.5) == -2.5
    assert rounded(None, 2) is None and rounded(float("nan"), 2) is None and math.isinf(settled(math.inf))
