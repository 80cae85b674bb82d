"""Metric groups: the unit the analyze stage computes, caches and looks up.

Each group computes some columns of the metric table (``core.metric_table``: a row's
``group``) for one variant against its source, behind one small interface:

- ``prepare(source_rgb, source_taps)``: what depends on the source only, once per source;
- ``measure(reference, decoded_rgb, taps)``: the group's columns for one variant.

``decoded_rgb`` is the variant at the source's geometry (8-bit RGB). A group with a
``tap_model`` reads the classifier's stage features instead: ``source_taps`` / ``taps`` come
from the very forward pass that classifies the variant, and ``decoded_rgb`` is None.

``id`` names the implementation and its version (``core.keys``): it is part of the metric
key, so a new version recomputes the group, and only it. Adding a metric to a group: its
function and a table row; adding a group: a class here (or in a module of this package)
decorated with ``@register_group``, built from the config's ``metrics`` section.
"""

from __future__ import annotations

import logging

import numpy as np

from ..core.keys import pixel_metrics_id
from ..core.metric_table import METRIC_INFO
from ..core.registry import Registry
from ..storage.images import UPSCALE_FILTER
from .deep import DeepFeatureDistance, Lpips
from .pixel import Reference, pixel_metrics
from .pixel_torch import TorchReference, pixel_metrics_torch

log = logging.getLogger("codecsweep")


class MetricGroup:
    name: str = ""
    #: The classifier whose stage features the group compares (None: it compares pixels).
    tap_model: str | None = None

    def __init__(self, options: dict):
        """``options``: the config's ``metrics`` section."""
        self.id = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(m.name for m in METRIC_INFO if m.group == self.name)

    def prepare(self, source_rgb: np.ndarray | None, source_taps=None):
        raise NotImplementedError

    def measure(self, reference, decoded_rgb: np.ndarray | None, taps=None) -> dict:
        raise NotImplementedError

    def measure_batch(self, reference, decoded_rgbs: list) -> list[dict]:
        """``measure`` of several variants of one source (a kernel may do them at once)."""
        return [self.measure(reference, d) for d in decoded_rgbs]


GROUPS: Registry[type[MetricGroup]] = Registry("metric group")


def register_group(cls: type[MetricGroup]) -> type[MetricGroup]:
    GROUPS.add(cls.name, cls)
    return cls


class Disabled(Exception):
    """A group the config switches off (or whose weights are absent): its columns stay null."""


def metric_groups(options: dict) -> list[MetricGroup]:
    """The groups the metric table names, built from ``options`` (the config's ``metrics``),
    in the table's order; a disabled one is left out, saying why when it is not by choice."""
    built = []
    for name in dict.fromkeys(m.group for m in METRIC_INFO):
        try:
            built.append(GROUPS[name](options))
        except Disabled as exc:
            if str(exc):
                log.warning("%s IS NOT COMPUTED (%s column null): %s", name.upper(), name, exc)
    return built


@register_group
class PixelGroup(MetricGroup):
    """PSNR, SSIM, MS-SSIM and their luma variants (``pixel``).

    The kernel: the CPU one (``pixel.pixel_metrics``, id ``pixel_metrics_id(upscale)``) unless
    the job runs on CUDA: ``options["device"]`` (``cuda`` / ``cuda:N``, the analyze job's
    device) runs the torch kernel (``pixel_torch``) there, id ``...:torch-cuda``, so the two
    never mix in one cache. ``options["pixel_kernel"]``: ``cpu`` forces the CPU kernel,
    ``torch`` the torch one on ``options["device"]`` (``cpu``: the tests). ``measure_batch``:
    several variants of a source in one call (on a device: one round trip)."""

    name = "pixel"

    def __init__(self, options):
        kernel = options.get("pixel_kernel")
        device = str(options.get("device") or "cpu")
        if kernel not in (None, "cpu", "torch"):
            raise ValueError(f"metrics.pixel_kernel must be cpu or torch, got {kernel!r}")
        self.device = device if kernel == "torch" or (kernel is None and device.startswith("cuda")) else None
        name = f"torch-{self.device.split(':')[0]}" if self.device else "cpu"
        self.id = pixel_metrics_id(UPSCALE_FILTER.name.lower(), name)

    def prepare(self, source_rgb, source_taps=None):
        return TorchReference(source_rgb, self.device) if self.device else Reference(source_rgb)

    def measure(self, reference, decoded_rgb, taps=None):
        if self.device:
            return pixel_metrics_torch(reference, [decoded_rgb])[0]
        return pixel_metrics(reference, decoded_rgb)

    def measure_batch(self, reference, decoded_rgbs: list) -> list[dict]:
        """The metrics of several variants of one source (each 8-bit RGB at its geometry)."""
        if self.device:
            return pixel_metrics_torch(reference, decoded_rgbs)
        return [pixel_metrics(reference, d) for d in decoded_rgbs]


@register_group
class LpipsGroup(MetricGroup):
    """LPIPS with the backbone ``metrics.lpips_net`` (null: not computed)."""

    name = "lpips"

    def __init__(self, options):
        if not options.get("lpips_net"):
            raise Disabled("")
        self.lpips = Lpips(options["lpips_net"])
        if not self.lpips.available:
            raise Disabled(self.lpips.reason)
        self.id = self.lpips.id

    def prepare(self, source_rgb, source_taps=None):
        return self.lpips.tensor(source_rgb)

    def measure(self, reference, decoded_rgb, taps=None):
        return {"lpips": self.lpips(reference, decoded_rgb)}


@register_group
class DfdGroup(MetricGroup):
    """The deep-feature distance on the stage features of ``metrics.dfd_model`` (null: not computed);
    ``options["runtime"]``: the runtime choice of the job's classifiers (the taps come from theirs)."""

    name = "dfd"

    def __init__(self, options):
        if not options.get("dfd_model"):
            raise Disabled("")
        self.tap_model = options["dfd_model"]
        self.dfd = DeepFeatureDistance(self.tap_model, options.get("runtime", "torch"))
        self.id = self.dfd.id

    def prepare(self, source_rgb, source_taps=None):
        return self.dfd.reference(source_taps)

    def measure(self, reference, decoded_rgb, taps=None):
        return {"dfd": self.dfd.distance(reference, taps)}
