"""Quality metrics against the classifier: per-image thresholds and their invariance,
Spearman correlations (SQL, with intervals) and Kendall's tau (Python)."""

from __future__ import annotations

import pandas as pd

from ...core.metric_table import METRIC_INFO
from ..context import Context
from ..figures import metric_scatter, ssim_thresholds
from ..intervals import correlation_intervals, invariance_intervals
from ..sample import kendall
from ..spec import Figure, Intervals, TableSpec

KENDALL_COLUMNS = [
    "dataset",
    "model",
    "scope",
    "metric",
    "kendall_rank_diff",
    "kendall_top1_agreement",
    "predictive_power",
]


def metric_kendall(ctx: Context) -> pd.DataFrame:
    """Kendall's tau-b of each metric with the rank difference and with top-1 agreement,
    over the figures' sample of variants, all encoders and per encoder."""
    if ctx.points is None:
        return pd.DataFrame(columns=KENDALL_COLUMNS)
    rows = []
    for (dataset, model), d in ctx.points.groupby(["dataset", "model"], sort=True):
        for scope, sub in [("all", d)] + list(d.groupby("encoder", sort=True)):
            for m in METRIC_INFO:
                if m.name not in sub:
                    continue
                tau = kendall(sub[m.name], sub.rank_diff)
                tau_a = kendall(sub[m.name], sub.top1_agrees.astype(float))
                sign = 1 if m.higher_is_better else -1
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "scope": scope,
                        "metric": m.name,
                        "kendall_rank_diff": None if tau is None else round(tau, 4),
                        "kendall_top1_agreement": None if tau_a is None else round(tau_a, 4),
                        "predictive_power": None if tau is None else round(sign * tau, 4),
                    }
                )
    df = pd.DataFrame(rows, columns=KENDALL_COLUMNS)
    df["_all"] = df.scope != "all"
    df = df.sort_values(
        ["dataset", "model", "_all", "scope", "predictive_power", "metric"],
        ascending=[True, True, True, True, False, True],
        na_position="last",
    )
    return df.drop(columns="_all")


def _thresholds_args(ctx: Context, table: pd.DataFrame) -> tuple:
    return ctx.primary_points(), ctx.only_primary(table)


def _scatter_args(ctx: Context, table: pd.DataFrame) -> tuple:
    return (ctx.primary_points(),)


TABLES = [
    TableSpec(
        "thresholds",
        figures=(
            Figure(
                ssim_thresholds,
                "SSIM vs rank difference per image; dashed: the image's threshold",
                args=_thresholds_args,
            ),
        ),
    ),
    TableSpec(
        "threshold_invariance",
        intervals=Intervals(
            invariance_intervals,
            ("dataset", "model", "metric"),
            {"mean_separation": 3, "between_images": 4, "encoder_ratio": 2, "scale_ratio": 2},
        ),
    ),
    TableSpec(
        "metric_correlation",
        intervals=Intervals(
            correlation_intervals,
            ("dataset", "model", "scope", "metric"),
            {"spearman_rank_diff": 3, "spearman_top1_agreement": 3},
        ),
        figures=(Figure(metric_scatter, "Each metric against the rank difference", args=_scatter_args),),
    ),
    TableSpec(
        "metric_kendall",
        make=metric_kendall,
        order=50,
        title="Which quality metric predicts the classifier's degradation (Kendall)",
        notes="Kendall's tau-b (as scipy.stats.kendalltau computes it) of each metric with rank difference and with top-1 agreement; "
        "predictive_power signed so that larger = better predictor.",
    ),
]
