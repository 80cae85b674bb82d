"""The metric table: every metric column the study records, in one place.

The Parquet schema (``core.schemas``), the report's ``metric_info`` view, the figures and
the analyze stage (which metric groups to run) all read it. Adding a metric: its function in
``codecsweep.metrics``, one row here naming its group, and its test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """What the rest of the project needs to know about one metric column."""

    name: str  # column of the metrics table
    label: str  # for figures and tables
    unit: str  # "" for unitless
    higher_is_better: bool
    group: str  # the metric group that computes it (``codecsweep.metrics.groups``)


METRIC_INFO: tuple[MetricInfo, ...] = (
    MetricInfo("psnr", "PSNR", "dB", True, "pixel"),
    MetricInfo("ssim", "SSIM", "", True, "pixel"),
    MetricInfo("ms_ssim", "MS-SSIM", "", True, "pixel"),
    MetricInfo("psnr_y", "PSNR (luma)", "dB", True, "pixel"),
    MetricInfo("ssim_y", "SSIM (luma)", "", True, "pixel"),
    MetricInfo("lpips", "LPIPS", "", False, "lpips"),
    MetricInfo("dfd", "deep-feature distance", "", False, "dfd"),
)
METRIC_NAMES = tuple(m.name for m in METRIC_INFO)
