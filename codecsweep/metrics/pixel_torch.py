"""The pixel metrics in torch, batched and on any device (``pixel_metrics_torch``).

The very definitions of the CPU kernel (``metrics.pixel``, read its docstring): PSNR on RGB
and on BT.601 luma (0.299 R + 0.587 G + 0.114 B), exact (integer squared errors summed in
int64, luma scaled by 1000), inf for identical images; SSIM (Gaussian 11x11 window, sigma 1.5,
K1 0.01, K2 0.03, data range 255, mean of the per-channel SSIM over the valid region) on RGB
and on luma, None under 11 pixels a side; MS-SSIM (5 scales, the standard weights, scales made
as ``pytorch_msssim`` makes them: 2x2 average pooling, an odd side zero-padded and the zero
counted; relu of cs / ssim before the weighted product, then the mean over channels), None
under 161 pixels a side. The tests check each against the CPU kernel, scikit-image and
pytorch_msssim within 1e-5.

How: N variants of one size at once, against one source (broadcast) or N sources. The local
moments are separable valid Gaussian blurs (two grouped ``conv2d``) of a stack of maps
(y, y^2, x*y per channel; x and x^2 too unless the source's moments are prepared), in float32
on values centred on 128 (the variances are differences of smaller squares: about 4x the
precision of raw values), the luminance term from the uncentred means. The scales are pooled
from the uncentred values (multiples of 4^-k: exact in float32). ``TorchReference`` keeps what
depends on the source only (its scales and their moments) on the device, once per source.

Memory on the device, per variant and megapixel: ~0.2 GB at scale 0 (the 12-map stack, its
blurs and the SSIM maps in float32); ``pixel_metrics_torch`` splits the variants into chunks
that fit ``budget_bytes``. torch is imported inside the functions only (``tests/test_layers``):
importing this module costs nothing.
"""

from __future__ import annotations

import math

import numpy as np

from .pixel import _C1, _C2, _LUMA, DATA_RANGE, MS_SSIM_MIN_SIDE, MS_SSIM_WEIGHTS, SIGMA, WINDOW

KEYS = ("psnr", "ssim", "ms_ssim", "psnr_y", "ssim_y")
_CENTRE = 128.0
#: Device bytes per pixel of one variant at scale 0 (12 float32 maps, their blurs, temporaries).
BYTES_PER_PIXEL = 200
BUDGET_BYTES = 2 * 2**30


def resolve_device(device=None):
    """``device`` as a ``torch.device``; None: CUDA when present, else the CPU."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def as_batch(images, device=None):
    """uint8 images as an (N, 3, H, W) uint8 tensor on ``device``: a tensor (3, H, W) or
    (N, 3, H, W), an (H, W, 3) / (N, H, W, 3) array, or a list of (H, W, 3) arrays."""
    import torch

    if isinstance(images, list | tuple):
        images = np.stack([np.asarray(a) for a in images])
    if isinstance(images, np.ndarray):
        a = np.ascontiguousarray(images)
        t = torch.from_numpy(a if a.flags.writeable else a.copy())
        t = t[None] if t.ndim == 3 else t
        t = t.permute(0, 3, 1, 2)
    else:
        t = images[None] if images.ndim == 3 else images
    if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"pixel metrics need 8-bit RGB images, got {t.dtype} {tuple(t.shape)}")
    return t.to(resolve_device(device))


def _gaussian(device, dtype):
    import torch

    x = torch.arange(WINDOW, dtype=torch.float64) - WINDOW // 2
    g = torch.exp(-(x**2) / (2 * SIGMA**2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _blur(maps):
    """Valid 11-tap Gaussian blur of each map of (N, K, H, W): (N, K, H - 10, W - 10)."""
    import torch.nn.functional as F

    k = maps.shape[1]
    g = _gaussian(maps.device, maps.dtype)
    out = F.conv2d(maps, g.view(1, 1, 1, WINDOW).expand(k, 1, 1, WINDOW), groups=k)
    return F.conv2d(out, g.view(1, 1, WINDOW, 1).expand(k, 1, WINDOW, 1), groups=k)


def _planes(rgb, add_luma: bool, dtype):
    """Float planes (N, 3[+1], H, W) of an image (uncentred), BT.601 luma appended."""
    import torch

    x = rgb.to(dtype)
    if not add_luma:
        return x
    y = x[:, 0:1] * _LUMA[0] + x[:, 1:2] * _LUMA[1] + x[:, 2:3] * _LUMA[2]
    return torch.cat([x, y], dim=1)


def _half(x):
    """pytorch_msssim's step: 2x2 average pooling, an odd side padded with a zero each side."""
    import torch.nn.functional as F

    return F.avg_pool2d(x, kernel_size=2, padding=[s % 2 for s in x.shape[2:]])


def _moments(x):
    """Local mean (centred) and variance of the planes x (uncentred)."""
    import torch

    c = x.shape[1]
    xc = x - _CENTRE
    b = _blur(torch.cat([xc, xc * xc], dim=1))
    mu = b[:, :c]
    return mu, b[:, c:] - mu * mu


def _ssim_cs(x, y, moments=None):
    """Per image and channel (N, C), the means over the valid region of the SSIM map and of the
    contrast-structure map of planes x (source, batch 1 or N) and y (variants, batch N)."""
    import torch

    c = y.shape[1]
    yc = y - _CENTRE
    if moments is None:
        xc = (x - _CENTRE).expand_as(yc)
        b = _blur(torch.cat([yc, yc * yc, xc * yc, xc, xc * xc], dim=1))
        mu_x = b[:, 3 * c : 4 * c]
        var_x = b[:, 4 * c :] - mu_x * mu_x
    else:
        xc = x - _CENTRE
        b = _blur(torch.cat([yc, yc * yc, xc * yc], dim=1))
        mu_x, var_x = moments
    mu_y = b[:, :c]
    var_y = b[:, c : 2 * c] - mu_y * mu_y
    cov = b[:, 2 * c : 3 * c] - mu_x * mu_y
    cs = (2 * cov + _C2) / (var_x + var_y + _C2)
    mx, my = mu_x + _CENTRE, mu_y + _CENTRE  # the luminance term from the true means
    ssim_map = cs * (2 * mx * my + _C1) / (mx * mx + my * my + _C1)
    return ssim_map.mean(dim=(2, 3)), cs.mean(dim=(2, 3))


class TorchReference:
    """Sources prepared once on ``device`` (one, broadcast to every variant, or one per
    variant): their planes, MS-SSIM scales and the local moments of each scale."""

    def __init__(self, rgb, device=None, dtype=None, moments: bool = True):
        import torch

        self.dtype = dtype or torch.float32
        self.rgb = as_batch(rgb, device)
        self.device = self.rgb.device
        h, w = self.rgb.shape[2:]
        self.ssim_ok, self.ms_ssim_ok = min(h, w) >= WINDOW, min(h, w) >= MS_SSIM_MIN_SIDE
        self.levels = [_planes(self.rgb, True, self.dtype)] if self.ssim_ok else []
        if self.ms_ssim_ok:
            self.levels.append(_half(self.levels[0][:, :3]))
            for _ in range(len(MS_SSIM_WEIGHTS) - 2):
                self.levels.append(_half(self.levels[-1]))
        self.moments = [_moments(lv) for lv in self.levels] if moments else None

    def __len__(self) -> int:
        return self.rgb.shape[0]


def _squared_errors(x, y):
    """Per image, the exact MSE over RGB samples and over luma (as ``pixel._squared_errors``)."""
    import torch

    d = x.to(torch.int32) - y.to(torch.int32)
    sse = (d * d).to(torch.int64).sum(dim=(1, 2, 3))
    dy = d[:, 0] * 299 + d[:, 1] * 587 + d[:, 2] * 114
    sse_y = (dy.to(torch.int64) ** 2).sum(dim=(1, 2))
    n = x.shape[2] * x.shape[3]
    return [s / (3 * n) for s in sse.tolist()], [s / (1e6 * n) for s in sse_y.tolist()]


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(DATA_RANGE**2 / mse)


def _ms_ssim(ref: TorchReference, sel, y0, cs0):
    """pytorch_msssim's ms_ssim per image, from the first scale's cs (N, 3)."""
    import torch

    factors, y = [cs0], y0[:, :3]
    for level in range(1, len(MS_SSIM_WEIGHTS)):
        y = _half(y)
        moments = tuple(m[sel] for m in ref.moments[level]) if ref.moments else None
        s, cs = _ssim_cs(ref.levels[level][sel], y, moments)
        factors.append(s if level == len(MS_SSIM_WEIGHTS) - 1 else cs)
    stacked = torch.relu(torch.stack(factors))
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=stacked.dtype, device=stacked.device).view(-1, 1, 1)
    return torch.prod(stacked**weights, dim=0).mean(dim=1)


def _chunk_metrics(ref: TorchReference, sel, variants) -> list[dict]:
    """The metrics of one chunk of variants (N, 3, H, W uint8 on the device); ``sel``: the
    reference's rows for them (a slice)."""
    mse, mse_y = _squared_errors(ref.rgb[sel], variants)
    out = [
        {"psnr": _psnr(m), "ssim": None, "ms_ssim": None, "psnr_y": _psnr(my), "ssim_y": None}
        for m, my in zip(mse, mse_y, strict=True)
    ]
    if not ref.ssim_ok:
        return out
    y0 = _planes(variants, True, ref.dtype)
    moments = tuple(m[sel] for m in ref.moments[0]) if ref.moments else None
    s, cs = _ssim_cs(ref.levels[0][sel], y0, moments)
    ssim, ssim_y = s[:, :3].mean(dim=1).tolist(), s[:, 3].tolist()
    ms = _ms_ssim(ref, sel, y0, cs[:, :3]).tolist() if ref.ms_ssim_ok else [None] * len(out)
    for row, a, b, m in zip(out, ssim, ssim_y, ms, strict=True):
        row["ssim"], row["ssim_y"], row["ms_ssim"] = a, b, m
    return out


def pixel_metrics_torch(reference, variants, device=None, budget_bytes: int = BUDGET_BYTES) -> list[dict]:
    """PSNR, SSIM, MS-SSIM on RGB and PSNR, SSIM on luma of N variants (8-bit RGB, all of the
    source's size) against one source or N sources, on ``device`` (None: CUDA when present;
    ignored when ``reference`` is a ``TorchReference``): one dict per variant, the keys of
    ``pixel.pixel_metrics``. ``reference``: a ``TorchReference`` or images (see ``as_batch``);
    ``variants``: images. Variants run in chunks of ~``budget_bytes`` of device memory."""
    import torch

    ref = reference if isinstance(reference, TorchReference) else TorchReference(reference, device)
    ys = as_batch(variants, ref.device)
    if ys.shape[2:] != ref.rgb.shape[2:] or len(ref) not in (1, ys.shape[0]):
        raise ValueError(f"variants {tuple(ys.shape)} do not match the sources {tuple(ref.rgb.shape)}")
    per = max(1, budget_bytes // (BYTES_PER_PIXEL * ys.shape[2] * ys.shape[3]))
    out = []
    with torch.inference_mode():
        for i in range(0, ys.shape[0], per):
            j = min(i + per, ys.shape[0])
            sel = slice(0, 1) if len(ref) == 1 else slice(i, j)
            out += _chunk_metrics(ref, sel, ys[i:j])
    return out
