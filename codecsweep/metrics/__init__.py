"""Full-reference quality metrics of a decoded variant against its source: one public
function per metric (``pixel``: PSNR, SSIM, MS-SSIM; ``deep``: dfd, LPIPS), and the metric
groups the analyze stage runs (``groups``).

Importing this package imports every module in it, so a new module that defines a group
(``@groups.register_group``) is all a new metric group needs, with its rows in the metric
table (``core.metric_table``).
"""

import importlib
import pkgutil

from .deep import DeepFeatureDistance, Lpips, normalized_distance, unit_features
from .groups import GROUPS, MetricGroup, metric_groups, register_group
from .pixel import Reference, luma, ms_ssim, pixel_metrics, psnr, ssim, ssim_and_ms_ssim

for _module in pkgutil.iter_modules(__path__):  # deep, groups, pixel, and any new one
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "GROUPS",
    "DeepFeatureDistance",
    "Lpips",
    "MetricGroup",
    "Reference",
    "luma",
    "metric_groups",
    "ms_ssim",
    "normalized_distance",
    "pixel_metrics",
    "psnr",
    "register_group",
    "ssim",
    "ssim_and_ms_ssim",
    "unit_features",
]
