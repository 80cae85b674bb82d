"""The replication table (reports/sql/25_replication.sql): the study's Tables 4-7 as printed
beside this run's statistics, each with its bootstrap interval over images and a verdict.

The query file gives the rows (the study's numbers, ours on the sample, which settings ran);
``replication_intervals`` adds, from the same variants (the view ``replication_obs`` the query
defines) and each (dataset, model)'s resamples, the interval of every statistic (mean, median
and standard deviation re-computed in every resample) and where the study's number lies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..bootstrap import interval, pooled_summary, weighted_summary
from ..context import Context
from ..database import study_tables
from ..sample import Sample
from ..spec import Intervals, TableSpec

KEYS = ("dataset", "model", "study_table", "setting", "statistic")
#: Settings per color mode in the study's grid (Tables 1-3: 3 encoders x 4 scales x 18).
GRID_PER_COLOR = 216
#: The per-setting statistics of Tables 4-6: (column prefix, our per-variant quantity).
SET_QUANTITIES = (("rank_diff", "rank_diff"), ("cr", "cr"))
VERDICTS = ("inside", "above", "below")


def replication_intervals(ctx: Context) -> pd.DataFrame:
    """ours_lo / ours_hi, verdict and departure of every number of the study's tables, per
    (dataset, model) of the run (rows the query file does not list are dropped by the merge)."""
    columns = [*KEYS, "ours_lo", "ours_hi", "verdict", "departure"]
    has_view = ctx.con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'replication_obs'").fetchone()[0]
    if not has_view:
        return pd.DataFrame(columns=columns)
    obs = ctx.con.execute("SELECT * FROM replication_obs").df()
    study = study_tables()
    rows = []
    for (dataset, model), s in ctx.samples.items():
        d = obs[(obs.dataset == dataset) & (obs.model == model)]
        mats = {q: s.matrix(d, q) for q in ("rank_diff", "cr", "true_rank")}
        for rec in study:
            for statistic, printed, values, note in _numbers(s, mats, rec):
                lo, hi = (math.nan, math.nan) if values is None else interval(values)
                verdict, departure = judge(printed, float(lo), float(hi))
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "study_table": int(rec["table"]),
                        "setting": setting_label(rec),
                        "statistic": statistic,
                        "ours_lo": lo,
                        "ours_hi": hi,
                        "verdict": note or verdict,
                        "departure": departure,
                    }
                )
    return pd.DataFrame(rows, columns=columns)


def setting_label(rec: dict) -> str:
    """A study row as the table names it: '1/2 RGB 40' (Tables 4-6), 'RGB' (Table 7)."""
    return rec["color"] if rec["table"] == "7" else f"{rec['scale']} {rec['color']} {rec['param']}"


def _numbers(s: Sample, mats: dict[str, np.ndarray], rec: dict):
    """(statistic, printed number, our values per resample or None, verdict override) of one
    row of the study's tables."""
    if rec["table"] == "7":
        cols = s.columns(color=rec["color"].lower())
        ranks = mats["true_rank"][:, cols]
        ran = int(np.isfinite(ranks).any(axis=0).sum())
        stats = _pooled(s, ranks) if ran else None
        partial = "partial grid" if 0 < ran < GRID_PER_COLOR else None
        for stat in ("mean", "median", "std"):
            yield f"rank_{stat}", rec[f"rank_{stat}"], None if stats is None else stats[stat], partial
        return
    scale = 1.0 / float(rec["scale"].split("/")[1])
    cols = s.columns(encoder=rec["encoder"], scale=scale, color=rec["color"].lower(), param=rec["param"])
    for prefix, q in SET_QUANTITIES:
        values = mats[q][:, cols[0]] if len(cols) else np.full(s.n, np.nan)
        stats = weighted_summary(s.w, values) if np.isfinite(values).any() else None
        for stat in ("mean", "median", "std"):
            yield f"{prefix}_{stat}", rec[f"{prefix}_{stat}"], None if stats is None else stats[stat], None


def _pooled(s: Sample, values: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, median and std of every finite entry of ``values`` (images x settings) pooled, per
    resample (an image's entries drawn with it)."""
    image, col = np.nonzero(np.isfinite(values))
    distinct, which = np.unique(values[image, col], return_inverse=True)
    counts = np.zeros((s.n, len(distinct)))
    np.add.at(counts, (image, which), 1.0)
    return pooled_summary(s.w, counts, distinct)


def judge(printed: str, lo: float, hi: float) -> tuple[str, float | None]:
    """Where the study's printed number lies against our interval [lo, hi], to the number's
    printed precision (half a unit of its last digit): inside, above or below (not run when
    there is no interval); and how far outside (``departure``)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "not run", None
    value = float(printed)
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    slack = 0.5 * 10.0**-decimals
    if lo - slack <= value <= hi + slack:
        return "inside", 0.0
    return ("below" if value < lo else "above"), departure(value, lo if value < lo else hi)


def departure(value: float, bound: float) -> float:
    """log10 of the factor between the study's number and our nearest bound, counted in
    magnitudes + 1 (one rank, or a ratio of 1, so that 0 is no pole): 1 = ten times apart;
    across zero, the factor is |value| + |bound| + 1."""
    a, b = abs(value), abs(bound)
    factor = a + b + 1 if value * bound < 0 else (max(a, b) + 1) / (min(a, b) + 1)
    return round(math.log10(factor), 3)


TABLES = [
    TableSpec(
        "replication",
        intervals=Intervals(replication_intervals, KEYS, {"ours": 2}, extra=("verdict", "departure")),
        optional=True,
    ),
]
