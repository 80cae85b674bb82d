"""Per-image views of the sweep (SQL): images whose rank improves under compression, and the
per-image oracle against one fixed setting (with intervals)."""

from __future__ import annotations

import pandas as pd

from ..context import Context
from ..database import RATE_NOTE
from ..figures import oracle, overfitting
from ..intervals import oracle_intervals
from ..spec import Figure, Intervals, TableSpec


def _most_improved(ctx: Context, table: pd.DataFrame):
    """The row of the image whose rank improves most (ties: first by dataset, model, image,
    encoder); None without one, or without points to draw."""
    if not len(table) or ctx.points is None:
        return None
    return table.sort_values(
        ["best_rank_diff", "dataset", "model", "image_id", "encoder"],
        ascending=[False, True, True, True, True],
    ).iloc[0]


def _overfitting_args(ctx: Context, table: pd.DataFrame) -> tuple:
    best = _most_improved(ctx, table)
    if best is None:
        return None, None
    return ctx.points[(ctx.points.dataset == best.dataset) & (ctx.points.model == best.model)], best.image_id


def _overfitting_caption(ctx: Context, table: pd.DataFrame) -> str:
    best = _most_improved(ctx, table)
    return "Rank improvements under compression" + (
        "" if best is None else f": {best.image_id} ({best.model}, {best.dataset})"
    )


TABLES = [
    TableSpec(
        "overfitting",
        figures=(Figure(overfitting, _overfitting_caption, args=_overfitting_args, per_pair=False),),
    ),
    TableSpec(
        "oracle",
        intervals=Intervals(
            oracle_intervals,
            ("dataset", "model", "criterion", "encoder"),
            {"oracle_bpp": 5, "fixed_bpp": 5, "saving": 4},
        ),
        figures=(Figure(oracle, f"Per-image oracle vs best fixed setting (rate: {RATE_NOTE})"),),
    ),
]
