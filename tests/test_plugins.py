"""Extending the study is one new file each: a toy encoder, a toy metric group and a toy report
table, dropped into a copy of the package (plus a grid and a metric-table row), run through
encode -> analyze -> report by real Snakemake, without editing any other file."""

from __future__ import annotations

import os
import pathlib
import shutil

import duckdb
import pytest
import yaml

from tests.workflow import Project

REPO = pathlib.Path(__file__).resolve().parent.parent

TOY_ENCODER = '''"""A toy codec: each sample quantized to ``param`` levels, stored as PNG."""

from .base import Encoder, check_range, pillow_save
from .registry import register


@register
class Posterize(Encoder):
    name = "toy_posterize"
    label = "Posterized PNG"
    settings = {"optimize": False, "compress_level": 6}

    def version(self):
        return "toy 1"

    def canonical_param(self, value):
        return str(check_range(self.name, int(value), 2, 256))

    def write(self, image, param):
        step = 256 // int(param)
        return pillow_save(image.point(lambda v: v // step * step), "PNG", **self.settings)
'''

TOY_METRIC = '''"""A toy metric group: the mean absolute error of the variant against its source."""

import numpy as np

from .groups import MetricGroup, register_group


def mean_absolute_error(a: np.ndarray, b: np.ndarray) -> float:
    """>>> mean_absolute_error(np.zeros(4), np.full(4, 2.0))
    2.0
    """
    return float(np.abs(a.astype(np.float64) - b).mean())


@register_group
class Toy(MetricGroup):
    name = "toy"

    def __init__(self, options):
        self.id = "toy-v1"

    def prepare(self, source_rgb, source_taps=None):
        return source_rgb

    def measure(self, reference, decoded_rgb, taps=None):
        return {"toy_mae": mean_absolute_error(reference, decoded_rgb)}
'''

TOY_TABLE = '''"""A toy report table: the toy metric per encoder and parameter."""

from ..spec import TableSpec


def toy_table(ctx):
    return ctx.con.execute(
        "SELECT encoder, param, count(*) AS variants, avg(toy_mae) AS toy_mae FROM metrics GROUP BY ALL ORDER BY ALL"
    ).df()


TABLES = [TableSpec("toy_mae", make=toy_table, title="Toy: mean absolute error per setting", notes="A plugin's table.")]
'''

METRIC_ROW = '    MetricInfo("toy_mae", "toy MAE", "", False, "toy"),\n'


@pytest.mark.slow
def test_toy_encoder_metric_and_table_run_end_to_end(tmp_path):
    p = Project(tmp_path / "p", tmp_path / "cache", encoders=("jpeg", "toy_posterize"))
    package = p.root / "codecsweep"
    shutil.copytree(REPO / "codecsweep", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "codecs/toy.py").write_text(TOY_ENCODER)
    (package / "metrics/toy.py").write_text(TOY_METRIC)
    (package / "report/tables/toy.py").write_text(TOY_TABLE)
    table = package / "core/metric_table.py"
    text = table.read_text()
    last = text.index('    MetricInfo("dfd"')
    table.write_text(text[:last] + METRIC_ROW + text[last:])  # the metric table's new row
    grid = {"scales": [1], "colors": ["rgb"], "encoders": {"jpeg": [10, 50], "toy_posterize": [4, 16, 64]}}
    (p.root / "config/grids/toy.yaml").write_text(yaml.safe_dump(grid))
    p.config["grids"] = ["config/grids/toy.yaml"]
    p.write_config()
    p.env = {
        **p.env,
        "PYTHONPATH": f"{p.root}{os.pathsep}{p.env.get('PYTHONPATH', '')}",
    }  # the copy, not the repository

    stats = p.run()
    assert stats["encode:toy_posterize"]["computed"] == 2 * 3  # 2 images x 3 parameters
    con = duckdb.connect()
    variants = con.execute(
        f"SELECT param, avg(bytes) FROM '{p.root}/results/variants/t/toy_posterize/*.parquet' GROUP BY 1 ORDER BY 2"
    ).fetchall()
    assert [v[0] for v in variants] == ["4", "16", "64"]  # fewer levels, fewer bytes
    mae = dict(
        con.execute(
            f"SELECT param, avg(toy_mae) FROM '{p.root}/results/metrics/t/toy_posterize/*.parquet' GROUP BY 1"
        ).fetchall()
    )
    assert mae["4"] > mae["16"] > mae["64"] > 0
    jpeg_mae = con.execute(f"SELECT count(toy_mae) FROM '{p.root}/results/metrics/t/jpeg/*.parquet'").fetchone()
    assert jpeg_mae == (4,)  # the new metric is measured for every codec
    report = (p.root / "reports/tables/toy_mae.csv").read_text().splitlines()
    assert report[0] == "encoder,param,variants,toy_mae" and len(report) == 1 + 2 + 3
    assert "Toy: mean absolute error per setting" in (p.root / "reports/index.html").read_text()
    headline = (p.root / "reports/tables/headline.csv").read_text()
    assert "toy_posterize" in headline and "jpeg" in headline  # the new codec is in every table
