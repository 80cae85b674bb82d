"""Paired comparisons from the same bootstrap resamples: codec against codec (the headline's
ratio and the BD-rate's sign, 33_codec_pairs.sql and 35_bd_rate_pairs.sql) and model against
model (37_model_dependence.sql). The query files give the rows; the shares and intervals here
come from resamples both sides share (the same images drawn the same number of times)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..bootstrap import interval, share
from ..context import BASES, Context
from ..numbers import estimate, rounded
from ..spec import Intervals, TableSpec
from .bases import criteria_results

PAIR_COLUMNS = ["p_a_higher", "p_b_higher", "ratio", "ratio_lo", "ratio_hi", "resamples"]
BD_COLUMNS = ["p_a_fewer_bits", "bitrate_change", "bitrate_change_lo", "bitrate_change_hi", "resamples"]


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Two statistics per resample (row 0: the sample): the shares of the resamples where a exceeds
    b and where b exceeds a (among those defining both; the rest are ties), a / b on the sample
    with its interval, and how many resamples define both."""
    both = np.isfinite(a) & np.isfinite(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(both, a / b, np.nan)
    lo, hi = interval(ratio)
    diff = np.where(both, a - b, np.nan)
    return {
        "p_a_higher": rounded(share(diff, lambda d: d > 0), 3),
        "p_b_higher": rounded(share(diff, lambda d: d < 0), 3),
        "ratio": rounded(ratio[0], 3),
        "ratio_lo": rounded(lo, 3),
        "ratio_hi": rounded(hi, 3),
        "resamples": int(both[1:].sum()),
    }


def codec_pairs_intervals(ctx: Context) -> pd.DataFrame:
    """Per (dataset, model, basis, criterion, a, b): ``compare`` of the two codecs' headlines."""
    keys = ["dataset", "model", "basis", "criterion", "a", "b"]
    rows = []
    for basis in BASES:
        for (dataset, model), by_encoder in criteria_results(ctx, basis).items():
            encoders = sorted(by_encoder)
            for i, a in enumerate(encoders):
                for b in encoders[i + 1 :]:
                    for heading in by_encoder[a].keys() & by_encoder[b].keys():
                        ra, rb = by_encoder[a][heading]["cr_source"], by_encoder[b][heading]["cr_source"]
                        row = dict(zip(keys, (dataset, model, basis, heading, a, b)))
                        rows.append(row | compare(ra, rb))
    return pd.DataFrame(rows, columns=keys + PAIR_COLUMNS)


def bd_rate_pairs_intervals(ctx: Context) -> pd.DataFrame:
    """Per (dataset, model, basis, RGB scale, measure, a, b): a's BD-rate against b, its interval
    and the share of resamples in which it is negative."""
    keys = ["dataset", "model", "basis", "scale", "color", "at_equal", "a", "b"]
    rows = []
    for basis in BASES:
        for (dataset, model), s in ctx.on_basis(basis).items():
            encoders = sorted(s.settings.encoder.unique())
            for (scale,), _ in s.settings_by(["scale"]):
                for i, a in enumerate(encoders):
                    for b in encoders[i + 1 :]:
                        ca, cb = (s.columns(encoder=e, scale=scale, color="rgb") for e in (a, b))
                        if not (len(ca) and len(cb)):
                            continue
                        for measure, what, _ in s.measures():
                            bd = s.bd_rate(cb, ca, measure)
                            row = dict(zip(keys, (dataset, model, basis, scale, "rgb", what, a, b)))
                            p = share(bd, lambda v: v < 0)
                            row |= {"p_a_fewer_bits": rounded(p, 3), **estimate("bitrate_change", bd, 4)}
                            rows.append(row | {"resamples": int(np.isfinite(bd[1:]).sum())})
    return pd.DataFrame(rows, columns=keys + BD_COLUMNS)


def model_dependence_intervals(ctx: Context) -> pd.DataFrame:
    """Per (dataset, encoder, criterion, model a, model b) with the same images: each model's
    headline with its interval and ``compare`` of the two."""
    keys = ["dataset", "encoder", "criterion", "model_a", "model_b"]
    values = ["cr_source_a", "cr_source_a_lo", "cr_source_a_hi", "cr_source_b", "cr_source_b_lo", "cr_source_b_hi"]
    results = criteria_results(ctx, "bytes")
    rows = []
    for (dataset, a), s in ctx.samples.items():
        for (other, b), t in ctx.samples.items():
            if other != dataset or not a < b or s.images != t.images:
                continue
            for encoder in sorted(results[(dataset, a)].keys() & results[(dataset, b)].keys()):
                ra, rb = results[(dataset, a)][encoder], results[(dataset, b)][encoder]
                for heading in ra.keys() & rb.keys():
                    row = dict(zip(keys, (dataset, encoder, heading, a, b)))
                    row |= estimate("cr_source_a", ra[heading]["cr_source"], 2)
                    row |= estimate("cr_source_b", rb[heading]["cr_source"], 2)
                    rows.append(row | compare(ra[heading]["cr_source"], rb[heading]["cr_source"]))
    return pd.DataFrame(rows, columns=keys + values + PAIR_COLUMNS)


def oriented(row) -> tuple[str, str, float, float, float, float]:
    """(first, second, P(first ahead), ratio first / second, lo, hi) of a codec_pairs or
    model_dependence row, turned so that the first is ahead on the sample (ties: as listed)."""
    a, b = (row["a"], row["b"]) if "a" in row else (row["model_a"], row["model_b"])
    r, lo, hi = row["ratio"], row["ratio_lo"], row["ratio_hi"]
    if r is None or not math.isfinite(r) or r >= 1:
        return a, b, row["p_a_higher"], r, lo, hi
    return b, a, row["p_b_higher"], *[None if v is None or not math.isfinite(v) else 1 / v for v in (r, hi, lo)]


TABLES = [
    TableSpec(
        "codec_pairs",
        intervals=Intervals(
            codec_pairs_intervals, ("dataset", "model", "basis", "criterion", "a", "b"), {}, extra=tuple(PAIR_COLUMNS)
        ),
        optional=True,
    ),
    TableSpec(
        "bd_rate_pairs",
        intervals=Intervals(
            bd_rate_pairs_intervals,
            ("dataset", "model", "basis", "scale", "color", "at_equal", "a", "b"),
            {},
            extra=tuple(BD_COLUMNS),
        ),
        optional=True,
    ),
    TableSpec(
        "model_dependence",
        intervals=Intervals(
            model_dependence_intervals,
            ("dataset", "encoder", "criterion", "model_a", "model_b"),
            {},
            extra=(
                "cr_source_a",
                "cr_source_a_lo",
                "cr_source_a_hi",
                "cr_source_b",
                "cr_source_b_lo",
                "cr_source_b_hi",
                *PAIR_COLUMNS,
            ),
        ),
        optional=True,
    ),
]
