"""The summary's words: the answer that opens it (the headline per codec with intervals,
read from the finished tables) and the provenance (what the numbers rest on)."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np
import pandas as pd

from ..core.metric_table import METRIC_INFO
from .bootstrap import RESAMPLES, SEED
from .comparisons import basis_lines, model_lines, pair_lines, replication_lines
from .database import RATE_NOTE
from .figures import codec_label
from .numbers import fmt
from .sample import Sample
from .tables.rates import FIT_MIN_IMAGES, FIT_MIN_POINTS

#: The Rennes study's headline (its rule, ratios against its source JPEG files).
STUDY_HEADLINE = {"jpeg": 7, "jpeg2000": 16, "hevc": 40}
#: The invariance verdict needs thresholds of at least this many images.
INVARIANCE_MIN_IMAGES = 5
#: The criteria of headline_criteria the answer's table shows, and their column headings.
CRITERIA_SHOWN = {
    "study rule: largest mean cr_source with mean rank loss <= 1": "study rule",
    "robust: passes with every less compressed setting (rank loss <= 1)": "robust rule",
    "top-1 accuracy falls by > 1 pt": "accuracy −1 pt",
    "top-1 agreement falls by > 1 pt": "agreement −1 pt",
}
#: The criteria of the tolerance table the answer's table shows (measure, side) and their headings.
TOLERANCE_SHOWN = {
    ("top-1 accuracy", "not above"): "accuracy loss not sig. > 5 pt",
    ("top-1 agreement", "not above"): "agreement loss not sig. > 5 pt",
}
#: The tolerance table's k (its query file's view tolerance_criteria): what the answer assumes without the table.
TOLERANCE_PT = 5
#: Why a metric column can be null everywhere.
NULL_REASONS = {
    "lpips": "the LPIPS backbone weights were not in the torch cache (the measure log says so)",
    "ms_ssim": "every image's shorter side is below 161 px",
    "ssim": "SSIM is undefined for images smaller than its 11x11 window (e.g. a 1x10000 strip)",
    "ssim_y": "SSIM is undefined for images smaller than its 11x11 window (or the column was not computed)",
}


def answer(tables: dict[str, pd.DataFrame], samples: dict[tuple[str, str], Sample]) -> list[str]:
    """The opening of the summary: the headline per codec with intervals and criteria."""
    crit = tables.get("headline_criteria")
    if crit is None or not len(crit):
        return ["No classified variants: nothing to answer yet (see the provenance below and the status table)."]
    lines = []
    for (dataset, model), d in crit.groupby(["dataset", "model"], sort=True):
        s = samples[(dataset, model)]
        lines += _headline_lines(d, dataset, model, s, tables.get("tolerance"))
        lines += pair_lines(tables, dataset, model, d.encoder.nunique()) + basis_lines(tables, dataset, model)
        lines += _oracle_lines(tables, dataset, model) + _bd_lines(tables, dataset, model) + _power_lines(d)
        lines += _fit_lines(tables, dataset, model) + _metric_lines(tables, dataset, model)
        lines += _invariance_lines(tables, dataset, model) + replication_lines(tables, dataset, model, s.n)
        if model == max(m for ds, m in samples if ds == dataset):
            lines += model_lines(tables, dataset)
        lines.append("")
    return lines


def _headline_lines(d: pd.DataFrame, dataset: str, model: str, s: Sample, tolerance=None) -> list[str]:
    shown = list(CRITERIA_SHOWN.values()) + list(TOLERANCE_SHOWN.values())
    lines = [
        f"## How hard can an image be compressed before {model} notices? ({dataset})",
        "",
        f"Compression ratio against the source files (`cr_source`, the study's definition) with 95% bootstrap "
        f"intervals over images ({RESAMPLES} resamples); {s.n} images, {s.annotated} of them annotated. "
        "Criteria: *study rule* = the largest mean ratio whose mean rank loss is at most 1 (a maximum over a "
        "noisy grid); *robust rule* = the most compressed setting that passes together with every less "
        "compressed one; *accuracy / agreement −1 pt* = the rate at which top-1 accuracy against the labels "
        "(annotated images only) / top-1 agreement with the original's prediction (all images) falls by more "
        "than 1 point, interpolated on the rate curve. Each is the best over the codec's scales and color modes; "
        "— where no setting meets the criterion (or no annotated image) and ≥ where even the lowest rate "
        "tested meets it.",
        "",
        "| codec | " + " | ".join(shown) + " |",
        "| --- |" + " --- |" * len(shown),
    ]
    for encoder, e in d.groupby("encoder", sort=True):
        cells = [_criterion_cell(e, full) for full in CRITERIA_SHOWN]
        cells += [_tolerance_cell(tolerance, dataset, model, encoder, key, s) for key in TOLERANCE_SHOWN]
        lines.append(f"| {codec_label(encoder)} | " + " | ".join(cells) + " |")
    study = "; ".join(
        f"{codec_label(e)} {fmt(d[(d.encoder == e) & d.criterion.str.startswith('study')].cr_source.iloc[0])}× "
        f"(study {v}×)"
        for e, v in STUDY_HEADLINE.items()
        if len(d[(d.encoder == e) & d.criterion.str.startswith("study")])
    )
    return (
        lines
        + _resolution_lines(s)
        + [
            "",
            f"The Rennes study found 7 / 16 / 40 for JPEG / JPEG 2000 / BPG by its rule, against its source JPEG "
            f"files; here, like with like (`cr_source`): {study or 'none of those codecs ran'}. This run differs: "
            f"model {model} (the study: AlexNet), {s.n} images of {dataset} ({s.annotated} annotated, "
            f"{s.n - s.annotated} pseudo-labelled; the study: 55 annotated ImageNet JPEGs), a grid of "
            f"{len(s.settings)} settings (the study: 432).",
        ]
    )


def needs_images(k_pt: float) -> int:
    """Images a criterion "falls by more than k points" needs: one image moves 100 / N points."""
    return math.ceil(100 / k_pt - 1e-9)


def _resolution_lines(s: Sample) -> list[str]:
    def res(n):
        return f"{100 / n:.3g} points" if n else "nothing"

    return [
        "",
        f"What {s.n} images resolve: one image moves top-1 agreement by {res(s.n)} and, of the {s.annotated} "
        f'annotated ones, top-1 accuracy by {res(s.annotated)}; a criterion "−k pt" needs at least 100 / k '
        f"images (−1 pt: {needs_images(1)}; −{TOLERANCE_PT} pt: {needs_images(TOLERANCE_PT)}) and, with fewer, "
        'is "no image lost" (its number is kept; "needs ≥ M images" where no setting meets it). The last '
        f"two columns: the most compression whose loss is not significantly above {TOLERANCE_PT} points "
        "(one-sided 95% bootstrap, each setting passing with every less compressed one; the tolerance table, "
        'with the stricter reading "significantly below" too).',
    ]


def _criterion_cell(e: pd.DataFrame, criterion: str) -> str:
    row = e[e.criterion == criterion]
    if not len(row):
        return "—"
    row = row.iloc[0]
    k = re.search(r"falls by > ([0-9.]+) pt", criterion)
    if k and not _finite(row.cr_source) and row.images < needs_images(float(k.group(1))):
        return f"needs ≥ {needs_images(float(k.group(1)))} images"
    cell = fmt(row.cr_source, row.cr_source_lo, row.cr_source_hi, "×")
    if row["at"] and "at most" in str(row["at"]):
        cell = "≥ " + cell
    return cell + (f" ({row['at']})" if row["at"] and "q=" in str(row["at"]) else "")


def _finite(v) -> bool:
    return v is not None and not pd.isna(v) and math.isfinite(v)


def _tolerance_cell(tolerance, dataset: str, model: str, encoder: str, key: tuple[str, str], s: Sample) -> str:
    """The tolerance table's answer for one codec and criterion; "needs ≥ M images" where the
    measure's images cannot resolve k."""
    measure, side = key
    images = s.annotated if measure == "top-1 accuracy" else s.n
    if images < needs_images(TOLERANCE_PT):
        return f"needs ≥ {needs_images(TOLERANCE_PT)} images"
    if tolerance is None:
        return "—"
    row = tolerance[
        (tolerance.dataset == dataset)
        & (tolerance.model == model)
        & (tolerance.encoder == encoder)
        & (tolerance.measure == measure)
        & (tolerance.side == side)
    ]
    if not len(row) or not _finite(row.cr_source.iloc[0]):
        return "—"
    row = row.iloc[0]
    return fmt(row.cr_source, row.cr_source_lo, row.cr_source_hi, "×") + f" ({row['at']})"


def _oracle_lines(tables, dataset, model) -> list[str]:
    o = tables.get("oracle")
    if o is None:
        return []
    o = o[(o.dataset == dataset) & (o.model == model) & (o.criterion == "top-1 kept")]
    if not len(o):
        return []
    row = o.iloc[0]
    return [
        "",
        f"Per-image oracle: choosing the setting per image (smallest file that keeps the original's top-1, any "
        f"codec; it keeps {100 * row.oracle_share:.0f}% of the images) instead of the best single fixed setting "
        f"({row.fixed_setting}, keeps {100 * row.fixed_share:.0f}%"
        + ("" if row.fixed_share >= row.oracle_share - 1e-9 else ": no fixed setting keeps as many")
        + f") would save {fmt(row.saving, row.saving_lo, row.saving_hi, pct=True)} of the bits "
        f"({fmt(row.oracle_bpp, row.oracle_bpp_lo, row.oracle_bpp_hi)} against "
        f"{fmt(row.fixed_bpp, row.fixed_bpp_lo, row.fixed_bpp_hi)} bpp; {row.images} images). Per codec: "
        "the oracle table.",
    ]


def _bd_lines(tables, dataset, model) -> list[str]:
    b = tables.get("bd_rate")
    if b is None:
        return []
    b = b[(b.dataset == dataset) & (b.model == model) & (b.scale == 1.0) & (b.at_equal == "top-1 agreement")]
    parts = [
        f"{codec_label(row.encoder)} "
        + fmt(row.bitrate_change, row.bitrate_change_lo, row.bitrate_change_hi, pct=True, sign="+")
        for row in b.itertuples()
        if row.bitrate_change is not None and np.isfinite(row.bitrate_change)
    ]
    if not parts:
        return []
    return [
        "",
        "Bits needed against JPEG at equal top-1 agreement (BD-rate, scale 1, RGB; negative = fewer): "
        + "; ".join(parts)
        + ".",
    ]


def _power_lines(crit: pd.DataFrame) -> list[str]:
    d = crit[crit.criterion.str.startswith("study") & crit.images_to_halve_interval.notna()]
    if not len(d):
        return [
            "",
            "How many images would halve the intervals cannot be estimated here (too few images, or no "
            "spread between resamples).",
        ]
    parts = [f"{codec_label(row.encoder)} {row.images_to_halve_interval:.0f}" for row in d.itertuples()]
    return [
        "",
        f"Images needed to halve the interval of the study-rule headline (now {int(d.images.iloc[0])}; "
        f"from the bootstrap spread): " + ", ".join(parts) + ".",
    ]


def _fit_lines(tables, dataset, model) -> list[str]:
    k = tables.get("knee_fits")
    if k is None:
        return []
    k = k[(k.dataset == dataset) & (k.model == model) & (k.x == "bpp")]
    lines = []
    for row in k[k.supported].itertuples():
        drop = row.c * math.log(2) * 100
        lines.append(
            f"{codec_label(row.encoder)}: below about {row.knee:.3g} bpp [{row.knee_lo:.3g}, {row.knee_hi:.3g}], "
            f"top-1 agreement falls by {drop:.1f} points [{row.c_lo * math.log(2) * 100:.1f}, "
            f"{row.c_hi * math.log(2) * 100:.1f}] per halving of the bits ({row.points} points, {row.images} images)"
        )
    if lines:
        return ["", "Knee fits (scale 1, RGB): " + "; ".join(lines) + "."]
    return [
        "",
        f"No knee fit is stated: a fit needs at least {FIT_MIN_POINTS} points, {FIT_MIN_IMAGES} images "
        "and a slope whose interval excludes 0 (the fits are in the knee_fits table).",
    ]


def _metric_lines(tables, dataset, model) -> list[str]:
    corr = tables.get("metric_correlation")
    if corr is None or not len(corr):
        return []
    higher = {m.name: m.higher_is_better for m in METRIC_INFO}
    d = corr[(corr.dataset == dataset) & (corr.model == model) & (corr.scope == "all")]
    parts = []
    for row in d.dropna(subset=["predictive_power"]).itertuples():
        sign = 1 if higher.get(row.metric, True) else -1
        lo, hi = sorted((sign * row.spearman_rank_diff_lo, sign * row.spearman_rank_diff_hi))
        parts.append(f"{row.metric} {fmt(row.predictive_power, lo, hi)}")
    if not parts:
        return []
    return [
        "",
        "Metrics ranked by how well they predict the rank loss (Spearman, signed so that higher = "
        "better): " + ", ".join(parts) + ".",
    ]


def _invariance_lines(tables, dataset, model) -> list[str]:
    inv = tables.get("threshold_invariance")
    if inv is None or not len(inv):
        return []
    lines = []
    for row in inv[(inv.dataset == dataset) & (inv.model == model) & (inv.metric == "ssim")].itertuples():
        if pd.isna(row.encoder_ratio) or pd.isna(row.scale_ratio) or row.images < INVARIANCE_MIN_IMAGES:
            lines += [
                "",
                f"SSIM threshold per image: {row.images} image(s) with both dropped and held variants, too few "
                f"(< {INVARIANCE_MIN_IMAGES}) to judge the study's invariance claim.",
            ]
            continue
        if max(row.encoder_ratio_hi, row.scale_ratio_hi) < 0.5:
            verdict = "holds"
        elif min(row.encoder_ratio_lo, row.scale_ratio_lo) >= 0.5:
            verdict = "does not hold"
        else:
            verdict = "cannot be decided with these images"
        lines += [
            "",
            f"SSIM threshold per image ({row.images} images): spread within an image across encoders / "
            f"scales is {fmt(row.encoder_ratio, row.encoder_ratio_lo, row.encoder_ratio_hi)} / "
            f"{fmt(row.scale_ratio, row.scale_ratio_lo, row.scale_ratio_hi)} of the spread between "
            f"images (invariant: well below 0.5): the study's invariance claim {verdict}.",
        ]
    return lines


def provenance(con, held_out: bool, rejected: int, bases: bool = False) -> list[str]:
    """What the numbers rest on: held-out and rejected images, inputs' identity, models, codec
    versions, images, grid, null columns, the rate (``bases``: some tables count the codec's own
    bits too). No dates: the same inputs give the same report."""
    lines = []
    if held_out:
        n = con.execute("SELECT count(*) FROM calibration_images").fetchone()[0]
        lines.append(
            f"- Held out: {n} calibration image(s) that jpeg_mo's quantization tables were tuned on are left out "
            "of every number here, for every codec (results/splits/)."
        )
    if rejected:
        lines.append(f"- {rejected} image(s) were rejected and are not in the study: see reports/rejected.csv.")
    lines += _input_lines(con) + _null_lines(con)
    lines.append(f"- Rates: every bpp and compression ratio counts {RATE_NOTE}; bpp is over the original's pixels.")
    if bases:
        lines.append(
            "- Except: the rows of basis `payload_bytes` (tables headline_bases, bd_rate_bases, codec_pairs, "
            "bd_rate_pairs) and HEVC's ratios in the replication table count the codec's own bits (column "
            "`payload_bytes`: container, headers and markers left out)."
        )
    lines.append(
        f"- Intervals: 95% percentile bootstrap over images ({RESAMPLES} resamples, seed {SEED}); "
        "images are the unit of sampling. Rates at a threshold are interpolated on the resample's curve."
    )
    return lines


def _input_lines(con) -> list[str]:
    ident = con.execute(
        "SELECT dataset, image_id, coalesce(source_sha256, '') FROM images WHERE status = 'ok' ORDER BY ALL"
    ).fetchall()
    digest = hashlib.sha256("\n".join(",".join(map(str, t)) for t in ident).encode()).hexdigest()[:16]
    images = con.execute("""
        SELECT dataset, count(*) FILTER (status = 'ok') AS ok,
               count(*) FILTER (status = 'ok' AND label_source = 'annotated') AS annotated,
               count(*) FILTER (status = 'ok' AND label_source <> 'annotated') AS pseudo,
               count(*) FILTER (status <> 'ok') AS rejected
        FROM images GROUP BY dataset ORDER BY dataset""").fetchall()
    lines = [f"- Inputs: image set `{digest}` (sha256 over the images' ids and content hashes)."]
    for ds, ok, ann, pseudo, rej in images:
        lines.append(f"- Images in {ds}: {ok} ({ann} annotated, {pseudo} pseudo-labelled), {rej} rejected.")
    lines.append(f"- Models: {_models(con) or 'none'}.")
    codecs = con.execute("""
        SELECT encoder, string_agg(DISTINCT coalesce(codec_version, 'unknown'), ', ' ORDER BY coalesce(codec_version, 'unknown')),
               count(DISTINCT (scale, color, param))
        FROM variants WHERE status = 'ok' GROUP BY encoder ORDER BY encoder""").fetchall()
    if codecs:
        lines.append(
            "- Codecs (version; settings in the grid): "
            + "; ".join(f"{codec_label(e)} ({v}; {n})" for e, v, n in codecs)
            + f"; {sum(n for *_, n in codecs)} settings in all."
        )
    return lines


def _models(con) -> str:
    """The models, each with what ran it (the predictions' ``runtime``; older tables lack it)."""
    has_runtime = ("runtime",) in con.execute("SELECT column_name FROM (DESCRIBE predictions)").fetchall()
    runtime = "string_agg(DISTINCT runtime, ', ' ORDER BY runtime)" if has_runtime else "NULL"
    rows = con.execute(f"SELECT model, {runtime} FROM predictions GROUP BY model ORDER BY model").fetchall()
    return ", ".join(f"{m} (run in {r})" if r else m for m, r in rows)


def _null_lines(con) -> list[str]:
    present = {c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE metrics)").fetchall()}
    names = [m.name for m in METRIC_INFO if m.name in present]
    if not names:
        return []
    counts = con.execute(
        "SELECT count(*), " + ", ".join(f"count({n})" for n in names) + " FROM metrics WHERE status = 'ok'"
    ).fetchone()
    if not counts[0]:
        return []
    return [
        f"- `{n}` is null everywhere: {NULL_REASONS.get(n, 'it was not computed')}."
        for n, c in zip(names, counts[1:])
        if c == 0
    ]
