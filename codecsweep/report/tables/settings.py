"""Per-setting tables: the study's Tables 4-7 and the accuracy curves (SQL), with intervals."""

from __future__ import annotations

from ..database import RATE_NOTE
from ..figures import accuracy_curves, compression_vs_rank, rate_accuracy
from ..intervals import color_intervals, setting_intervals
from ..sample import KEYS
from ..spec import Figure, Intervals, TableSpec

SETTING = ("dataset", "model", *KEYS)

TABLES = [
    TableSpec(
        "param_table",
        intervals=Intervals(
            setting_intervals,
            SETTING,
            {
                "rank_diff_mean": 2,
                "cr_source_mean": 2,
                "cr_raw_mean": 2,
                "bpp_mean": 4,
                "top1_agreement": 3,
                "top1_accuracy": 3,
            },
        ),
        figures=(Figure(compression_vs_rank, "Rank difference vs compression"),),
    ),
    TableSpec(
        "rgb_vs_gray",
        intervals=Intervals(color_intervals, ("dataset", "model", "color"), {"rank_diff_mean": 2, "top1_agreement": 3}),
    ),
    TableSpec(
        "curves",
        intervals=Intervals(setting_intervals, SETTING, {"top1_agreement": 4, "top1_accuracy": 4, "bpp_mean": 5}),
        figures=(
            Figure(
                accuracy_curves,
                f"Top-1 agreement and accuracy against bits per pixel, per scale (rate: {RATE_NOTE})",
            ),
            Figure(rate_accuracy, f"Rate–accuracy at scale 1, RGB (rate: {RATE_NOTE})"),
        ),
    ),
]
