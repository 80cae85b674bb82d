"""The headline: the study's rule per encoder and per curve (SQL, with intervals), and the
headline by every criterion (``headline_criteria``, Python: the rules re-applied in every
resample)."""

from __future__ import annotations

import pandas as pd

from ..bootstrap import images_to_halve
from ..context import Context
from ..intervals import by_scale_color_intervals, headline_intervals
from ..numbers import estimate, rounded, setting_label
from ..sample import DROPS, Sample, best_of
from ..spec import Intervals, TableSpec

STUDY_RULE = "study rule: largest mean cr_source with mean rank loss <= 1"
ROBUST_RULE = "robust: passes with every less compressed setting (rank loss <= 1)"
CRITERIA_COLUMNS = [
    "dataset",
    "model",
    "encoder",
    "criterion",
    "cr_source",
    "cr_source_lo",
    "cr_source_hi",
    "cr_raw",
    "bpp",
    "bpp_lo",
    "bpp_hi",
    "at",
    "images",
    "images_to_halve_interval",
]


def headline_criteria(ctx: Context) -> pd.DataFrame:
    """Per encoder: the study's rule, the robust rule, and the rate at which top-1 accuracy
    (annotated images) and top-1 agreement fall by 1 and 5 points; each with its interval,
    where it was found, how many images it rests on and how many would halve its interval."""
    rows = []
    for (dataset, model), s in ctx.samples.items():
        for (encoder,), cols in s.settings_by(["encoder"]):
            for name, res, where, n in _criteria(s, encoder, cols):
                if not res:
                    continue
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "encoder": encoder,
                        "criterion": name,
                        **estimate("cr_source", res["cr_source"], 2),
                        "cr_raw": rounded(res["cr_raw"][0], 2),
                        **estimate("bpp", res["bpp"], 4),
                        "at": where,
                        "images": n,
                        "images_to_halve_interval": rounded(images_to_halve(res["cr_source"], n), 0),
                    }
                )
    return pd.DataFrame(rows, columns=CRITERIA_COLUMNS)


def _criteria(s: Sample, encoder: str, cols):
    """(criterion, result per resample, where it was found, images it rests on) of one encoder;
    the robust rule and the rates: the best of the encoder's curves (scales, color modes)."""
    curves = [key for key, _ in s.settings_by(["encoder", "scale", "color"]) if key[0] == encoder]
    curve_cols = [s.columns(encoder=e, scale=sc, color=c) for e, sc, c in curves]
    study = s.study_rule(cols)
    yield STUDY_RULE, study, _setting_at(s, study["at"]), s.n
    robust = [s.robust_rule(c) for c in curve_cols]
    best = best_of(robust)
    yield ROBUST_RULE, best, _setting_at(s, None if best.get("curve") is None else robust[best["curve"]]["at"]), s.n
    for measure, what, n in s.measures():
        for drop in DROPS:
            best = best_of([s.rate_at_drop(c, measure, drop) for c in curve_cols])
            at = None
            if best.get("curve") is not None:
                _, scale, color = curves[best["curve"]]
                at = f"scale {scale:g} {color} curve"
                if best["below_grid"][0] > 0:
                    at += " (no drop within the grid: at most this rate)"
            yield f"{what} falls by > {100 * drop:g} pt", best, at, n


def _setting_at(s: Sample, column) -> str | None:
    return None if column is None else setting_label(s.settings.iloc[column])


HEADLINE_DECIMALS = {"max_cr_source": 2, "max_cr_raw": 2}

TABLES = [
    TableSpec("headline", intervals=Intervals(headline_intervals, ("dataset", "model", "encoder"), HEADLINE_DECIMALS)),
    TableSpec(
        "headline_by_scale_color",
        intervals=Intervals(
            by_scale_color_intervals,
            ("dataset", "model", "encoder", "scale", "color"),
            HEADLINE_DECIMALS,
            extra=("robust_cr_source", "robust_cr_source_lo", "robust_cr_source_hi", "robust_param"),
        ),
    ),
    TableSpec(
        "headline_criteria",
        make=headline_criteria,
        order=10,
        title="The headline per encoder by every criterion, with intervals",
        notes="Compression ratio against the source files (cr_source; cr_raw against raw pixels) and bpp, by the "
        "study's rule, the robust rule (no isolated passes) and the rates at which top-1 accuracy (annotated images "
        "only) and top-1 agreement (all images) fall by more than 1 and 5 points (interpolated in log rate on the "
        "curve; the best of the encoder's scales and color modes, re-chosen in every resample). images: how many "
        "images the number rests on; images_to_halve_interval: from the bootstrap spread of cr_source. 95% "
        "bootstrap intervals over images in *_lo / *_hi.",
    ),
]
