"""Report queries checked against values computed by hand on a fixture written here with
pyarrow (not by the code under test), and the report's files against that fixture. (The
fits and BD-rate on synthetic data: tests/test_stats.py.)"""

import base64
import html as html_lib
import math
import pathlib
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image
from scipy.stats import spearmanr

from codecsweep.codecs import ENCODERS
from codecsweep.core import schemas
from codecsweep.core.metric_table import METRIC_INFO
from codecsweep.report.build import build_report
from codecsweep.report.database import connect

REPO = pathlib.Path(__file__).resolve().parent.parent

# Image A (annotated, original rank 0) and B (pseudo, original rank 0), one model, JPEG
# at scale 1 and 0.5 with qualities 10 and 50, HEVC at scale 1 with QP 30 and 45.
# (image, encoder, scale, param, param_index, bytes, true_rank, top1, top5, ssim, psnr)
VARIANTS = [
    ("A", "jpeg", 1.0, "10", 0, 1000, 3, 7, [7, 8, 9, 5, 1], 0.80, 28.0),
    ("A", "jpeg", 1.0, "50", 1, 4000, 0, 5, [5, 7, 8, 9, 1], 0.95, 36.0),
    ("A", "jpeg", 0.5, "10", 0, 400, 6, 7, [7, 8, 9, 2, 1], 0.70, 25.0),
    ("A", "jpeg", 0.5, "50", 1, 1000, 0, 5, [5, 1, 2, 3, 4], 0.90, 31.0),
    ("A", "hevc", 1.0, "30", 0, 3000, 0, 5, [5, 1, 2, 3, 4], 0.97, 38.0),
    ("A", "hevc", 1.0, "45", 1, 500, 1, 2, [2, 5, 1, 3, 4], 0.85, 30.0),
    ("B", "jpeg", 1.0, "10", 0, 2000, 0, 4, [4, 3, 2, 1, 0], 0.75, 27.0),
    ("B", "jpeg", 1.0, "50", 1, 8000, 0, 4, [4, 3, 2, 1, 0], 0.93, 35.0),
    ("B", "jpeg", 0.5, "10", 0, 800, 2, 3, [3, 2, 4, 1, 0], 0.65, 24.0),
    ("B", "jpeg", 0.5, "50", 1, 2000, 0, 4, [4, 0, 1, 2, 3], 0.88, 30.0),
    ("B", "hevc", 1.0, "30", 0, 6000, 0, 4, [4, 0, 1, 2, 3], 0.96, 37.0),
    ("B", "hevc", 1.0, "45", 1, 1000, 0, 4, [4, 0, 1, 2, 3], 0.84, 29.0),
]
ORIGINALS = {"A": (5, 0, 10000), "B": (4, 0, 20000)}  # top1, true_rank, source_bytes; both 100x100
# Dataset d2: image C, badly classified at the start (rank 50); JPEG q10 lifts it to rank 10.
VARIANTS_C = [
    ("C", "jpeg", 1.0, "10", 0, 1000, 10, 7, [7, 1, 2, 3, 4], 0.80, 28.0),
    ("C", "jpeg", 1.0, "50", 1, 4000, 60, 7, [7, 1, 2, 3, 4], 0.95, 36.0),
]


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("results"))


def write_fixture(d: pathlib.Path, only=None, null_ssim: bool = False) -> dict:
    """The hand-made study as Parquet under ``d``; ``only``: keep these image ids;
    ``null_ssim``: SSIM and MS-SSIM null everywhere (as for a 1x10000 strip)."""
    # The contract's schemas (codecsweep.records); rows and values are written here by hand.
    images = pa.Table.from_pylist(
        schema=schemas.IMAGES,
        mapping=[
            {
                "dataset": "d",
                "image_id": i,
                "source_sha256": i * 64,
                "source_path": f"{i}.png",
                "width": 100,
                "height": 100,
                "source_bytes": b,
                "label": 5 if i == "A" else None,
                "label_source": "annotated" if i == "A" else "pseudo",
                "shard": 0,
                "status": "ok",
                "error": None,
            }
            for i, (_, _, b) in ORIGINALS.items()
        ]
        + [
            {
                "dataset": "d",
                "image_id": "Z",
                "source_sha256": None,
                "source_path": "Z.jpg",
                "width": None,
                "height": None,
                "source_bytes": None,
                "label": None,
                "label_source": "pseudo",
                "shard": 0,
                "status": "rejected",
                "error": "empty file (0 bytes)",
            },
            {
                "dataset": "d2",
                "image_id": "C",
                "source_sha256": "C" * 64,
                "source_path": "C.png",
                "width": 100,
                "height": 100,
                "source_bytes": 10000,
                "label": 9,
                "label_source": "annotated",
                "shard": 0,
                "status": "ok",
                "error": None,
            },
        ],
    )
    originals = dict(ORIGINALS, C=(7, 50, 10000))
    every = [("d", v) for v in VARIANTS] + [("d2", v) for v in VARIANTS_C]
    variants = pa.Table.from_pylist(
        schema=schemas.VARIANTS,
        mapping=[
            {
                "dataset": ds,
                "image_id": i,
                "encoder": e,
                "scale": s,
                "color": "rgb",
                "param": p,
                "param_index": k,
                "bytes": n,
                "bpp": n * 8 / 10000,
                "cr_raw": 240000 / (n * 8),
                "cr_source": originals[i][2] / n,
                "status": "ok",
                "artifact_sha256": f"{i}{e}{s}{p}",
            }
            for ds, (i, e, s, p, k, n, *_) in every
        ],
    )
    preds = pa.Table.from_pylist(
        schema=schemas.PREDICTIONS,
        mapping=[
            {
                "dataset": "d2" if i == "C" else "d",
                "image_id": i,
                "model": "m",
                "encoder": None,
                "scale": None,
                "color": None,
                "param": None,
                "true_rank": r,
                "top1": t,
                "top5": [t, 0, 1, 2, 3],
                "status": "ok",
            }
            for i, (t, r, _) in originals.items()
        ]
        + [
            {
                "dataset": ds,
                "image_id": i,
                "model": "m",
                "runtime": "torch",  # the originals' is null: tables written before the column
                "encoder": e,
                "scale": s,
                "color": "rgb",
                "param": p,
                "true_rank": r,
                "top1": t,
                "top5": t5,
                "original_rank": originals[i][1],
                "rank_diff": originals[i][1] - r,
                "top1_agrees": t == originals[i][0],
                "status": "ok",
            }
            for ds, (i, e, s, p, k, n, r, t, t5, *_) in every
        ],
    )
    metrics = pa.Table.from_pylist(
        schema=schemas.METRICS,
        mapping=[
            {
                "dataset": ds,
                "image_id": i,
                "encoder": e,
                "scale": s,
                "color": "rgb",
                "param": p,
                "psnr": ps,
                "ssim": None if null_ssim else ss,
                "ms_ssim": None if null_ssim else ss,
                "lpips": None,
                "dfd": 1 - ss,
                "status": "ok",
            }
            for ds, (i, e, s, p, k, n, r, t, t5, ss, ps) in every
        ],
    )
    files = {}
    for name, table in [("images", images), ("variants", variants), ("originals", preds), ("metrics", metrics)]:
        if only is not None:
            table = table.filter(pc.is_in(table["image_id"], pa.array(only)))
        pq.write_table(table, d / f"{name}.parquet")
        files[name] = [str(d / f"{name}.parquet")]
    files["predictions"] = []
    return files


@pytest.fixture(scope="module")
def report(fixture_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    sql = sorted(str(p) for p in (REPO / "reports/sql").glob("*.sql"))
    r = build_report(fixture_files, sql, out_dir=out, rejected=out / "rejected.csv")
    r.out = out
    r.d = {name: df[df.dataset == "d"] if "dataset" in df else df for name, df in r.tables.items()}
    return r


def test_param_table_by_hand(report):
    t = report.d["param_table"].set_index(["encoder", "scale", "param"])
    row = t.loc["jpeg", 1.0, "10"]  # rank diffs: A 0-3 = -3, B 0-0 = 0
    assert (row.images, row.rank_diff_mean, row.rank_diff_median) == (2, -1.5, -1.5)
    assert row.rank_diff_std == pytest.approx(round(math.sqrt(4.5), 2))
    assert row.cr_source_mean == pytest.approx((10000 / 1000 + 20000 / 2000) / 2)
    assert row.cr_raw_mean == pytest.approx(round((30 + 15) / 2, 2))
    assert row.top1_agreement == 0.5  # A's top-1 changed 5 -> 7, B's stayed 4
    assert list(t.loc["jpeg"].index) == [(1.0, "10"), (1.0, "50"), (0.5, "10"), (0.5, "50")]  # grid order


def test_headline_by_hand(report):
    h = report.d["headline"].set_index("encoder")
    # jpeg sets: (1,10) -1.5 | (1,50) 0 cr_raw (7.5+3.75)/2=5.625 | (.5,10) -4 | (.5,50) 0 cr_raw (30+15)/2=22.5
    assert h.loc["jpeg"].max_cr_raw == 22.5 and h.loc["jpeg"].at_raw == "scale 0.5 rgb q=50"
    assert h.loc["jpeg"].sets_within_1 == 2
    # hevc: (1,30) 0 cr_raw (10+5)/2 | (1,45) -0.5 cr_raw (60+30)/2 = 45
    assert h.loc["hevc"].max_cr_raw == 45 and h.loc["hevc"].max_cr_source == pytest.approx((20 + 20) / 2)


def test_rgb_vs_gray_table(report):
    t = report.d["rgb_vs_gray"]
    assert list(t.color) == ["rgb"] and t.variants.iloc[0] == 12
    assert t.rank_mean.iloc[0] == round(sum(v[6] for v in VARIANTS) / 12, 1)


def test_thresholds_by_hand(report):
    t = report.d["thresholds"].set_index(["image_id", "metric"])
    # A's ssim: held 0.97, 0.95, 0.90; dropped 0.85, 0.80, 0.70 -> t = 0.90, perfect separation
    assert t.loc[("A", "ssim")].threshold == pytest.approx(0.90)
    assert t.loc[("A", "ssim")].separation == 1.0
    assert t.loc[("A", "dfd")].threshold == pytest.approx(0.10)  # dfd = 1 - ssim: drops iff dfd > 0.10
    # B: only one drop (0.65); held down to 0.75 -> t = 0.75
    assert t.loc[("B", "ssim")].threshold == pytest.approx(0.75)
    inv = report.d["threshold_invariance"].set_index("metric")
    assert inv.loc["ssim"].images == 2 and inv.loc["ssim"].between_images == pytest.approx(0.075, abs=1e-4)


def test_overfitting_lists_improved_images(report):
    t = report.tables["overfitting"]
    assert len(t) == 1  # only C; A and B start at rank 0 and cannot improve
    row = t.iloc[0]
    assert (row.dataset, row.image_id, row.encoder, row.original_rank) == ("d2", "C", "jpeg", 50)
    assert (row.improved_variants, row.variants, row.best_rank_diff) == (1, 2, 40)
    assert row.best_variant == "scale 1.0 rgb q=10" and row.best_cr_source == 10.0
    assert (report.out / "figures/overfitting.png").stat().st_size > 5000


def test_curves_top5_agreement(report):
    t = report.d["curves"].set_index(["encoder", "scale", "param"])
    # A hevc 45: original top-1 (5) is in the variant's top-5 -> agrees; B hevc 45 top1 same
    assert t.loc["hevc", 1.0, "45"].top5_agreement == 1.0 and t.loc["hevc", 1.0, "45"].top1_agreement == 0.5
    assert t.loc["jpeg", 0.5, "10"].top5_agreement == 0.5  # A: 5 not in [7,8,9,2,1]; B: 4 in [3,2,4,1,0]


def test_spearman_against_scipy(report):
    c = report.d["metric_correlation"].set_index(["scope", "metric"])
    ssim = [v[9] for v in VARIANTS]
    diff = [ORIGINALS[v[0]][1] - v[6] for v in VARIANTS]
    assert c.loc[("all", "ssim")].spearman_rank_diff == pytest.approx(spearmanr(ssim, diff).statistic, abs=1e-4)
    assert c.loc[("all", "dfd")].predictive_power == pytest.approx(spearmanr(ssim, diff).statistic, abs=1e-4)
    jpeg = [(s, d) for v, s, d in zip(VARIANTS, ssim, diff) if v[1] == "jpeg"]
    assert c.loc[("jpeg", "ssim")].spearman_rank_diff == pytest.approx(spearmanr(*zip(*jpeg)).statistic, abs=1e-4)


# The report's tables in report order (query files by name, then the Python tables by their
# order): rows for the fixture, leading key columns, figures drawn from the table, and the title
# of a Python table (a query file's title is its "-- title:" line). Rows by hand: d has 6
# settings (jpeg 2 scales x 2 qualities, hevc 2 qualities) over images A and B, encoders jpeg
# and hevc; d2 has 2 jpeg settings over image C; 4 metrics carry values (psnr, ssim, ms_ssim, dfd).
#: The fixture's (dataset, model)s: every figure but the overfitting one is drawn for each.
PAIRS = ("__d__m", "__d2__m")


def per_pair(*figures: str) -> list[str]:
    return [f"{f}{pair}" for f in figures for pair in PAIRS]


REPORT_TABLES = [
    ("param_table", 6 + 2, "dataset,model,encoder,scale,color,param,images", per_pair("compression_vs_rank"), None),
    ("rgb_vs_gray", 2, "dataset,model,color,variants,images", [], None),  # one color per dataset
    ("headline", 3, "dataset,model,encoder,sets_within_1,sets", [], None),  # d jpeg, d hevc, d2 jpeg
    # (encoder, scale): d jpeg 1 and 0.5, d hevc 1, d2 jpeg 1
    ("headline_by_scale_color", 4, "dataset,model,encoder,scale,color", [], None),
    ("thresholds", 3 * 4, "dataset,model,image_id,metric,dropped,held,threshold", per_pair("ssim_thresholds"), None),
    ("threshold_invariance", 2 * 4, "dataset,model,metric,images", [], None),
    ("overfitting", 1, "dataset,model,image_id,encoder,original_rank", ["overfitting"], None),  # only C
    # criteria x codecs: d (any), hevc, jpeg; d2 (any), jpeg
    ("oracle", 2 * 3 + 2 * 2, "dataset,model,criterion,encoder,images", per_pair("oracle"), None),
    (
        "curves",
        6 + 2,
        "dataset,model,encoder,scale,color,param,param_index",
        [*per_pair("accuracy_curves"), *per_pair("rate_accuracy")],
        None,
    ),
    # scopes: d all, jpeg, hevc; d2 all, jpeg
    ("metric_correlation", 5 * 4, "dataset,model,scope,metric,variants", per_pair("metric_scatter"), None),
    # (what, dataset, status): images d ok + rejected, d2 ok; metrics, predictions, variants per dataset
    ("status", 3 + 3 * 2, "what,dataset,status,n", [], None),
    (
        "headline_criteria",
        3 * 6,  # (dataset, encoder) x study, robust, accuracy -1/-5 pt, agreement -1/-5 pt
        "dataset,model,encoder,criterion,cr_source",
        [],
        "The headline per encoder by every criterion, with intervals",
    ),
    (
        "rate_thresholds",
        4 * 2 * 2,  # curves (d jpeg 1, d jpeg 0.5, d hevc 1, d2 jpeg 1) x measure x drop
        "dataset,model,encoder,scale,color,measure,drop_pt",
        [],
        "Rate at which top-1 accuracy / agreement falls by more than 1 and 5 points, per curve",
    ),
    (
        "bd_rate",
        2,  # d hevc against jpeg at scale 1, at equal accuracy and at equal agreement
        "dataset,model,scale,color,encoder,vs,at_equal",
        per_pair("bd_rate"),
        "Bitrate change against JPEG at equal top-1 accuracy and agreement (Bjøntegaard-style)",
    ),
    (
        "knee_fits",
        0,  # 2 or 3 points per curve: no fit
        "dataset,model,encoder,x,c",
        [],
        "Helmholtz accuracy = c·log(q) fit and its knee, per encoder (scale 1, RGB)",
    ),
    (
        "metric_kendall",
        5 * 7,  # scopes as metric_correlation x every metric of the metric table, null ones included
        "dataset,model,scope,metric,kendall_rank_diff",
        [],
        "Which quality metric predicts the classifier's degradation (Kendall)",
    ),
]


def _sql_title(name: str) -> str:
    (path,) = (REPO / "reports/sql").glob(f"[0-9][0-9]_{name}.sql")
    (line,) = [x for x in path.read_text().splitlines() if x.startswith("-- title:")]
    return line.removeprefix("-- title:").strip()


def test_report_files(report):
    out = report.out
    titles = [title or _sql_title(name) for name, _, _, _, title in REPORT_TABLES]
    # Every table as CSV (header, rows) and Markdown (its title first), nothing else.
    assert sorted(p.name for p in (out / "tables").iterdir()) == sorted(
        f"{name}.{ext}" for name, *_ in REPORT_TABLES for ext in ("csv", "md")
    )
    for (name, rows, keys, _, _), title in zip(REPORT_TABLES, titles):
        lines = (out / "tables" / f"{name}.csv").read_text().splitlines()
        assert (lines[0] + ",").startswith(keys + ","), (name, lines[0])
        assert lines[0].split(",") == list(report.tables[name].columns), name
        assert len(lines) == 1 + rows, (name, len(lines) - 1)
        df = report.tables[name]  # the values, read back as the table's text columns stay text
        written = pd.read_csv(
            out / "tables" / f"{name}.csv", dtype={c: str for c in df if pd.api.types.is_string_dtype(df[c])}
        )
        pd.testing.assert_frame_equal(written, df, check_dtype=False, obj=name)
        md = (out / "tables" / f"{name}.md").read_text()
        assert md.startswith(f"## {title}\n\n") and ("(no rows)" in md) == (rows == 0), name
    figures = sorted(f for _, _, _, figs, _ in REPORT_TABLES for f in figs)
    # summary.md: one section per table, in report order, each linking its own figures.
    summary = (out / "summary.md").read_text()
    assert re.findall(r"^### (.+)$", summary, flags=re.M) == titles
    sections = summary.split("\n### ")[1:]
    for (name, _, _, figs, _), title, section in zip(REPORT_TABLES, titles, sections):
        assert section.startswith(title + "\n"), name
        assert re.findall(r"\]\(figures/([\w.]+)\)", section) == [f"{f}.png" for f in figs], name
    # Figures: a PNG (valid, of a real size) and an SVG for each, nothing else.
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        f"{f}.{e}" for f in figures for e in ("png", "svg")
    )
    page = (out / "index.html").read_text()
    for f in figures:
        png = out / "figures" / f"{f}.png"
        with Image.open(png) as im:
            im.verify()
            assert im.format == "PNG"
        with Image.open(png) as im:
            assert im.width > 300 and im.height > 200, (f, im.size)
            lo, hi = im.convert("L").getextrema()
            assert lo < hi, f"{f}.png is blank"
        assert base64.b64encode(png.read_bytes()).decode() in page, f"{f}.png not embedded in index.html"
        svg = (out / "figures" / f"{f}.svg").read_text()
        assert "<svg" in svg and svg.rstrip().endswith("</svg>"), f
    # index.html: every table's title as a heading, every figure embedded once.
    for title in titles:
        assert f"<h2>{html_lib.escape(title)}</h2>" in page, title
    assert page.count("data:image/png;base64,") == len(figures)
    assert "1 image(s) were rejected" in page
    assert (out / "rejected.csv").read_text().splitlines() == [
        "dataset,image_id,source_path,reason",
        "d,Z,Z.jpg,empty file (0 bytes)",
    ]


def test_oracle_by_hand(report):
    o = report.d["oracle"]
    o = o[o.criterion == "top-1 kept"].set_index("encoder")
    # Smallest variant keeping the original's top-1 (bpp = bytes * 8 / 10000):
    # jpeg A 1000 B -> 0.8, B 2000 B -> 1.6; hevc A 3000 -> 2.4, B 1000 -> 0.8; any codec: 0.8 and 0.8.
    assert o.loc["jpeg"].oracle_bpp == pytest.approx(1.2) and o.loc["hevc"].oracle_bpp == pytest.approx(1.6)
    assert o.loc["(any)"].oracle_bpp == pytest.approx(0.8) and o.loc["(any)"].oracle_share == 1.0
    # Best fixed setting keeping both images: jpeg scale 0.5 q50 (0.8 + 1.6) / 2; hevc q30 (2.4 + 4.8) / 2.
    assert o.loc["jpeg"].fixed_setting == "jpeg scale 0.5 rgb q=50" and o.loc["jpeg"].saving == 0
    assert o.loc["hevc"].fixed_bpp == pytest.approx(3.6) and o.loc["hevc"].saving == pytest.approx(
        1 - 1.6 / 3.6, abs=1e-4
    )
    assert o.loc["(any)"].fixed_bpp == pytest.approx(1.2) and o.loc["(any)"].saving == pytest.approx(1 / 3, abs=1e-4)
    for row in o.itertuples():  # the interval holds the estimate
        assert row.saving_lo - 1e-9 <= row.saving <= row.saving_hi + 1e-9
    assert (report.out / "figures/oracle__d__m.png").stat().st_size > 5000


def test_intervals_hold_their_estimates_and_numpy_agrees_with_sql(report):
    t = report.tables["param_table"]
    for col in ("rank_diff_mean", "cr_source_mean", "bpp_mean", "top1_agreement"):
        assert (t[f"{col}_lo"] <= t[col] + 0.01).all() and (t[col] <= t[f"{col}_hi"] + 0.01).all(), col
    # A one-image dataset (d2): every resample is that image, the interval has no width.
    d2 = t[t.dataset == "d2"]
    assert (d2.rank_diff_mean_lo == d2.rank_diff_mean).all() and (d2.rank_diff_mean_hi == d2.rank_diff_mean).all()
    h = report.d["headline"].set_index("encoder")
    assert h.loc["hevc"].max_cr_source_lo <= h.loc["hevc"].max_cr_source <= h.loc["hevc"].max_cr_source_hi
    c = report.d["headline_criteria"]
    study = c[c.criterion.str.startswith("study")].set_index("encoder")
    assert study.loc["jpeg"].cr_source == pytest.approx(h.loc["jpeg"].max_cr_source)  # numpy == SQL
    assert study.loc["jpeg"].images == 2
    acc = c[c.criterion.str.startswith("top-1 accuracy")]
    assert (acc.images == 1).all()  # accuracy rests on the annotated image only


def test_summary_opens_with_the_answer(report):
    text = (report.out / "summary.md").read_text()
    head = text.split("## Provenance")[0]
    assert "| codec | study rule | robust rule |" in head and "| JPEG | 10× [10, 10]" in head
    assert "7 / 16 / 40" in head and "like with like (`cr_source`)" in head
    assert "would save 33% [" in head
    assert "No knee fit is stated" in head and "per halving of the bits" not in head  # 2 images: no fit without support
    assert "2 image(s) with both dropped and held variants, too few" in head  # no verdict from 2 images
    assert "Defines the view" not in text and "Needs the view" not in text
    provenance = text.split("## Provenance and caveats")[1].split("## Tables")[0]
    assert "`lpips` is null everywhere" in provenance and "container included" in provenance
    assert (
        "Models: m (run in torch)." in provenance
        and "Images in d: 2 (1 annotated, 1 pseudo-labelled), 1 rejected." in provenance
    )


def _shuffled(files: dict, d: pathlib.Path, seed: int) -> dict:
    out = {}
    rng = np.random.default_rng(seed)
    for name, paths in files.items():
        out[name] = []
        for k, path in enumerate(paths):
            table = pq.read_table(path)
            table = table.take(pa.array(rng.permutation(len(table))))
            pq.write_table(table, d / f"{name}-{k}.parquet")
            out[name].append(str(d / f"{name}-{k}.parquet"))
    return out


def test_report_is_byte_identical_for_shuffled_rows_and_figure_workers(fixture_files, tmp_path):
    """Row order does not matter, nor whether the figures are drawn here or in a worker."""
    sql = sorted(str(p) for p in (REPO / "reports/sql").glob("*.sql"))
    outs = []
    for seed, workers in ((1, 0), (2, 1)):
        (tmp_path / f"in{seed}").mkdir()
        out = tmp_path / f"out{seed}"
        build_report(_shuffled(fixture_files, tmp_path / f"in{seed}", seed), sql, out_dir=out, figure_workers=workers)
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(files) > 40 and pathlib.Path("summary.md") in files and pathlib.Path("figures/oracle__d__m.png") in files
    different = [str(f) for f in files if (outs[0] / f).read_bytes() != (outs[1] / f).read_bytes()]
    assert different == []


@pytest.mark.parametrize("case", ["empty", "one image", "null ssim"])
def test_degenerate_inputs(case, tmp_path):
    files = write_fixture(tmp_path, only=["A"] if case == "one image" else None, null_ssim=case == "null ssim")
    if case == "empty":  # images known, nothing encoded or classified yet
        files = dict(files, variants=[], originals=[], predictions=[], metrics=[])
    sql = sorted(str(p) for p in (REPO / "reports/sql").glob("*.sql"))
    r = build_report(files, sql, out_dir=tmp_path / "out")
    text = (tmp_path / "out/summary.md").read_text()
    figs = sorted(p.name for p in (tmp_path / "out/figures").glob("*.png"))
    # one set per (dataset, model) with data: the full fixture has two (7 figures each, plus the
    # one overfitting figure); one image or none, a single set of 8
    assert len(figs) == (7 * len(PAIRS) + 1 if case == "null ssim" else 8), figs
    if case == "empty":
        assert all(len(r.tables[n]) == 0 for n in ("param_table", "headline", "oracle", "headline_criteria"))
        assert text.startswith(
            "# codecsweep report\n\nNo classified variants: nothing to answer yet (see the provenance below and "
            "the status table).\n"
        )
    if case == "one image":
        h = r.tables["headline_criteria"]
        study = h[h.criterion.str.startswith("study")]
        assert (study.cr_source_lo == study.cr_source).all() and study.images_to_halve_interval.isna().all()
        assert (
            "How many images would halve the intervals cannot be estimated here (too few images, or no "
            "spread between resamples)." in text
        )
        assert (
            "SSIM threshold per image: 1 image(s) with both dropped and held variants, too few (< 5) to judge "
            "the study's invariance claim." in text
        )
    if case == "null ssim":
        assert "`ssim` is null everywhere" in text and "`ms_ssim` is null everywhere" in text
        assert r.tables["thresholds"][lambda t: t.metric == "ssim"].empty


def test_metric_info_comes_from_metric_table_only(fixture_files):
    """views.sql holds no copy of the metric list; the report's view is METRIC_INFO's."""
    text = (REPO / "reports/sql/views.sql").read_text()
    assert "VIEW metric_info" not in text
    rows = connect(fixture_files).execute("SELECT * FROM metric_info").fetchall()
    assert rows == [(m.name, m.label, m.unit, m.higher_is_better, m.group) for m in METRIC_INFO]


def test_unknown_encoder_is_just_another_codec(tmp_path):
    from benchmarks.report_benchmark import synthetic_study
    from codecsweep.report import figures

    files = synthetic_study(tmp_path / "results", 4, encoders=("jpeg", "cai_mbt2018_mean_mse"))
    sql = sorted(str(p) for p in (REPO / "reports/sql").glob("*.sql"))
    r = build_report(files, sql, out_dir=tmp_path / "out")
    assert set(r.tables["headline_criteria"].encoder) == {"jpeg", "cai_mbt2018_mean_mse"}
    bd = r.tables["bd_rate"]
    assert set(bd.encoder) == {"cai_mbt2018_mean_mse"} and bd.bitrate_change.notna().any()
    assert "| cai_mbt2018_mean_mse | " in (tmp_path / "out/summary.md").read_text()
    color = figures.codec_color("cai_mbt2018_mean_mse")
    declared = {cls.color for cls in ENCODERS.values() if cls.color}
    assert color in figures.EXTRA_COLORS and color not in declared  # no clash with a codec's own color
    other_process = subprocess.run(  # a hash of the name (not Python's salted hash()): the same in every run
        [
            sys.executable,
            "-c",
            "from codecsweep.report.figures import codec_color; print(codec_color('cai_mbt2018_mean_mse'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert other_process.stdout.strip() == color
    assert (figures.codec_label("cai_mbt2018_mean_mse"), figures.codec_label("hevc")) == (
        "cai_mbt2018_mean_mse",
        "HEVC (BPG)",
    )


def test_a_calibration_split_leaves_its_images_out_of_every_number(fixture_files, tmp_path):
    """With jpeg_mo's split given, image A (calibration) is in no table: the report equals the
    report of the fixture restricted to B, and the provenance says what was held out."""
    split = tmp_path / "split.parquet"
    pq.write_table(pa.table({"dataset": ["d", "d"], "image_id": ["A", "B"], "calibration": [True, False]}), split)
    sql = sorted(str(p) for p in (REPO / "reports/sql").glob("*.sql"))
    held = build_report(dict(fixture_files, splits=[str(split)]), sql, out_dir=tmp_path / "held")
    (tmp_path / "b").mkdir()
    only_b = build_report(write_fixture(tmp_path / "b", only=["B"]), sql, out_dir=tmp_path / "b-out")
    cols = ["encoder", "scale", "param", "images", "rank_diff_mean", "cr_source_mean", "top1_agreement"]
    d_held, d_b = (r.tables["param_table"].query("dataset == 'd'")[cols].reset_index(drop=True) for r in (held, only_b))
    assert d_held.equals(d_b) and set(d_held.images) == {1}
    text = (tmp_path / "held/summary.md").read_text()
    assert "Held out: 1 calibration image(s)" in text
