"""The pixel metrics of a decoded variant against its source: PSNR, SSIM, MS-SSIM and their luma variants.

All metrics compare images at the source's geometry (the decoded variant is brought back
with bicubic, see ``images.to_source_geometry``), on 8-bit values (data range 255).

- ``psnr``: 10 log10(255^2 / MSE) over all RGB samples; ``psnr_y`` on luma. The squared
  errors are summed in integers, so both are exact.
- ``ssim``: Wang et al. 2004, Gaussian 11x11 window, sigma 1.5, K1 0.01, K2 0.03, mean of
  the per-channel SSIM over the valid (unpadded) region; ``ssim_y`` on luma. Equal to
  scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)`` (the tests check 1e-5; measured 3e-7 on noisy
  photographs, up to 4.5e-6 on flat dark grey JPEGs: float32 variances of uncentred values).
  Null when the shorter side is under 11 pixels.
- ``ms_ssim``: Wang et al. 2003, 5 scales with the standard weights, the scales made as
  ``pytorch_msssim`` makes them (2x2 average pooling, odd sides zero-padded); equal to its
  ``ms_ssim`` (tests 1e-5; measured 1.5e-6). Null when the shorter side is under 161 pixels
  (4 halvings of an 11-tap window).
- luma (Y) is ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B.

How the pixel metrics are computed: ``pixel_metrics`` by the fused numba kernel
(``pixel_numba``: one image row at a time, ~1 kB of working set per column), the same float32
arithmetic as the numpy kernel ``pixel_metrics_numpy``, kept as its reference (the tests hold
the two within 1e-6; measured 1e-7, PSNR identical): 3.3-3.9x faster on one core at the default
photographs' sizes (``benchmarks/pixel_profile.py``: 8 against 30 ms at 0.26 MP, start-up
~0.5 s a process once its compiled code is cached). The numpy kernel and the one-metric
functions (``ssim``, ``ms_ssim``, ``ssim_and_ms_ssim``): in float32, in horizontal bands of
``BAND_ROWS`` output rows read with a 5-row halo on each side. Per band, the maps whose local
Gaussian means SSIM needs (y, y^2, x*y per channel, R, G, B and Y together) are stacked and
blurred at once by two banded matrix products (BLAS); SSIM, SSIM-Y and MS-SSIM's first scale
share them. ``Reference`` computes what depends on the source only once per source: its
MS-SSIM scales and, up to ``MOMENTS_BUDGET_BYTES``, its local means and variances (a third
less work per variant). No torch.

Memory, per megapixel of the source: the uint8 source and variant the caller holds (3 + 3 MB),
the source's scales 1-4 (uint16 sums, exact: 2 MB) and the variant's current scale (<= 1.5 MB),
the source's moments only while they fit the budget (40 MB/MP, so sources up to ~3 MP), and a
working set that grows with the width only (numba: ~1 kB per column; the numpy kernel's bands
~10 kB: ~80 MB at 8000 columns). Per process, numba's import and compiled kernels: ~130 MB of
RSS (~56 MB private, the rest its shared library's pages). Measured (``benchmarks/metrics_benchmark.py``:
one variant in a fresh process with torch loaded): the pixel metrics add 142 MB at 12 MP and
265 MB at 48 MP to the two uint8 images and torch (631 / 849 MB; the numpy kernel added 74 /
208 MB, no numba); peak RSS 773 / 1114 MB.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .pixel_numba import kernels as numba_kernels

MS_SSIM_MIN_SIDE = 161  # 4 halvings of an 11-tap window
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003
WINDOW, SIGMA, K1, K2, DATA_RANGE = 11, 1.5, 0.01, 0.03, 255.0
_C1, _C2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
_HALO = WINDOW - 1  # an output row (column) reads 5 input rows (columns) on each side
_LUMA = (0.299, 0.587, 0.114)
BAND_ROWS = 32  # output rows per band: the working set is ~ BAND_ROWS x width x maps float32
_COLS = 32  # output columns per block of the horizontal blur (a banded matrix product)
#: Reference keeps its source's local means and variances (32 bytes per pixel at full
#: resolution) up to this size; beyond it they are recomputed per band, bounding memory.
MOMENTS_BUDGET_BYTES = 128 * 2**20
_NO_MOMENTS = np.empty((0, 0, 0), np.float32)  # the numba kernel's "blur the source's maps too"


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array(_LUMA)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB of two arrays of the same shape (inf when equal).

    >>> a = np.zeros((4, 4), np.uint8)
    >>> round(psnr(a, a + 16), 2)  # MSE 256
    24.05
    """
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return _psnr_from_mse(mse, data_range)


def _psnr_from_mse(mse: float, data_range: float = 255.0) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


@lru_cache
def _band_matrix(n: int) -> np.ndarray:
    """(n, n + 10) matrix whose product with n + 10 rows is the valid 11-tap Gaussian blur of
    them: a banded matrix product runs at BLAS speed, several times an ndimage/conv filter."""
    x = np.arange(WINDOW, dtype=np.float64) - WINDOW // 2
    g = np.exp(-(x**2) / (2 * SIGMA**2))
    g /= g.sum()
    m = np.zeros((n, n + _HALO), np.float32)
    for i in range(n):
        m[i, i : i + WINDOW] = g
    return m


def _blur(maps: np.ndarray) -> np.ndarray:
    """Valid Gaussian blur of maps laid out (rows, k, width): (rows - 10, k, width - 10)."""
    rows, k, w = maps.shape
    n, wv = rows - _HALO, w - _HALO
    vertical = np.matmul(_band_matrix(n), maps.reshape(rows, k * w)).reshape(n * k, w)
    out = np.empty((n * k, wv), np.float32)
    for c in range(0, wv, _COLS):
        m = min(_COLS, wv - c)
        np.matmul(vertical[:, c : c + m + _HALO], _band_matrix(m).T, out=out[:, c : c + m])
    return out.reshape(n, k, wv)


def _planes(block: np.ndarray, scale: float, add_luma: bool, out: np.ndarray) -> np.ndarray:
    """Rows of an (h, w, c) image as float32 planes (rows, c[+1], w), scaled; luma appended."""
    c = block.shape[2]
    np.copyto(out[:, :c], block.transpose(0, 2, 1), casting="unsafe")
    if scale != 1.0:
        out[:, :c] *= scale
    if add_luma:
        y = out[:, c]
        np.multiply(out[:, 0], _LUMA[0], out=y)
        y += out[:, 1] * _LUMA[1]
        y += out[:, 2] * _LUMA[2]
    return out


class _Level:
    """One scale of an image: samples (h, w, c) times ``scale`` (uint16 sums of 4**level
    source pixels are exact, so the pyramid costs 2 bytes per sample, not 4 or 8)."""

    def __init__(self, samples: np.ndarray, scale: float = 1.0):
        self.samples, self.scale = samples, scale

    def half(self) -> _Level:
        """pytorch_msssim's step: 2x2 average pooling; an odd side is padded with a zero on each
        side and the zero counts in the average, so the first row/column is half-dark there."""
        a = self.samples
        h, w = a.shape[:2]
        ph, pw = h % 2, w % 2
        exact = a.dtype == np.uint8 or (a.dtype == np.uint16 and int(a.max(initial=0)) * 4 < 2**16)
        dtype = np.uint16 if exact else np.float32
        out = np.empty(((h + ph) // 2, (w + pw) // 2) + a.shape[2:], dtype)
        for i0 in range(0, out.shape[0], 256):  # bands: no full-size temporaries
            i1 = min(i0 + 256, out.shape[0])
            rows = a[max(2 * i0 - ph, 0) : 2 * i1 - ph].astype(dtype)
            if 2 * i0 - ph < 0:
                rows = np.concatenate([np.zeros_like(rows[:1]), rows])
            pairs = rows[0::2] + rows[1::2]
            if pw:
                pairs = np.concatenate([np.zeros_like(pairs[:, :1]), pairs], axis=1)
            out[i0:i1] = pairs[:, 0::2] + pairs[:, 1::2]
        return _Level(out, self.scale / 4) if exact else _Level(out * np.float32(0.25), 1.0)

    def planes(self, r0: int, r1: int, add_luma: bool = False) -> np.ndarray:
        a = self.samples[r0:r1]
        out = np.empty((a.shape[0], a.shape[2] + add_luma, a.shape[1]), np.float32)
        return _planes(a, self.scale, add_luma, out)


def _bands(h_valid: int):
    for o0 in range(0, h_valid, BAND_ROWS):
        yield o0, min(o0 + BAND_ROWS, h_valid)


def _moments(x: _Level, add_luma: bool) -> tuple[np.ndarray, np.ndarray]:
    """Local mean and variance of an image, (h - 10, c, w - 10) float32 each."""
    h, w, c = x.samples.shape
    c += add_luma
    mu = np.empty((h - _HALO, c, w - _HALO), np.float32)
    var = np.empty_like(mu)
    for o0, o1 in _bands(h - _HALO):
        px = x.planes(o0, o1 + _HALO, add_luma)
        b = _blur(np.concatenate([px, px * px], axis=1))
        mu[o0:o1] = b[:, :c]
        np.subtract(b[:, c:], mu[o0:o1] ** 2, out=var[o0:o1])
    return mu, var


def _ssim_sums(x: _Level, y: _Level, add_luma: bool, moments=None) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, the means over the valid region of the SSIM map and of the contrast-
    structure (cs) map of one scale. The five local moments of each channel come from one
    blur of a stack of maps; with the source's ``moments`` given only three are blurred."""
    h, w, c = y.samples.shape
    c += add_luma
    hv, wv = h - _HALO, w - _HALO
    ssim_sum, cs_sum = np.zeros(c), np.zeros(c)
    k = 3 if moments else 5
    for o0, o1 in _bands(hv):
        px = x.planes(o0, o1 + _HALO, add_luma)
        stack = np.empty((px.shape[0], k * c, w), np.float32)  # (rows, maps, width): one matrix product
        py = _planes(y.samples[o0 : o1 + _HALO], y.scale, add_luma, stack[:, :c])
        np.multiply(py, py, out=stack[:, c : 2 * c])
        np.multiply(px, py, out=stack[:, 2 * c : 3 * c])
        if not moments:
            stack[:, 3 * c : 4 * c] = px
            np.multiply(px, px, out=stack[:, 4 * c :])
        b = _blur(stack)
        mu_y, e_yy, e_xy = b[:, :c], b[:, c : 2 * c], b[:, 2 * c : 3 * c]
        if moments:
            mu_x, var_x = moments[0][o0:o1], moments[1][o0:o1]
        else:
            mu_x, var_x = b[:, 3 * c : 4 * c], b[:, 4 * c :]
            var_x -= mu_x * mu_x
        # in place, few temporaries: cs = (2 cov + C2) / (var_x + var_y + C2),
        # ssim = cs (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
        mu_xy = mu_x * mu_y
        e_xy -= mu_xy
        e_xy *= 2
        e_xy += _C2
        np.multiply(mu_y, mu_y, out=mu_y)
        e_yy -= mu_y
        e_yy += var_x
        e_yy += _C2
        cs = np.divide(e_xy, e_yy, out=e_xy)
        mu_xy *= 2
        mu_xy += _C1
        lum_den = np.multiply(mu_x, mu_x, out=e_yy)
        lum_den += mu_y
        lum_den += _C1
        ssim_map = np.divide(mu_xy, lum_den, out=mu_xy)
        ssim_map *= cs
        ssim_sum += ssim_map.sum(axis=(0, 2))
        cs_sum += cs.sum(axis=(0, 2))
    return ssim_sum / (hv * wv), cs_sum / (hv * wv)


def _as_hwc(a: np.ndarray) -> np.ndarray:
    return a[:, :, None] if a.ndim == 2 else a


def ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean SSIM over channels of (h, w[, c]) arrays. None for images smaller than the 11x11
    window (as scikit-image refuses them).

    >>> a = np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))
    >>> round(ssim(a, a), 6)
    1.0
    >>> round(ssim(a, a // 2), 4)
    0.6795
    >>> ssim(a[:10], a[:10]) is None
    True
    """
    return ssim_and_ms_ssim(a, b, multiscale=False)[0]


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM (5 scales, the standard weights) of (h, w[, c]) arrays; None under 161 pixels a side.

    >>> a = np.tile(np.arange(256, dtype=np.uint8), (200, 1))
    >>> round(ms_ssim(a, a), 6)
    1.0
    >>> ms_ssim(a[:100], a[:100]) is None
    True
    """
    return ssim_and_ms_ssim(a, b)[1]


def ssim_and_ms_ssim(a: np.ndarray, b: np.ndarray, multiscale: bool = True) -> tuple[float | None, float | None]:
    """SSIM and MS-SSIM in one pass (MS-SSIM's first scale is SSIM's very map)."""
    if a.shape != b.shape:
        raise ValueError(f"SSIM of images of different shapes: {a.shape} and {b.shape}")
    if min(a.shape[:2]) < WINDOW:
        return None, None
    x, y = _Level(_as_hwc(a)), _Level(_as_hwc(b))
    ssim0, cs0 = _ssim_sums(x, y, add_luma=False)
    if not multiscale or min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return float(ssim0.mean()), None
    return float(ssim0.mean()), _ms_ssim(x, y, cs0)


def _ms_ssim(x: _Level, y: _Level, cs0: np.ndarray, ref_levels=None) -> float:
    """pytorch_msssim's ms_ssim from the first scale's cs (per channel): per channel the
    weighted product of relu(cs) at scales 0-3 and relu(ssim) at scale 4, then the mean.
    ``ref_levels``: the source's scales 1-4 with their moments, prepared by ``Reference``."""
    factors = [cs0]
    for level in range(1, len(MS_SSIM_WEIGHTS)):
        y = y.half()
        x, moments = ref_levels[level - 1] if ref_levels else (x.half(), None)
        s, cs = _ssim_sums(x, y, add_luma=False, moments=moments)
        factors.append(s if level == len(MS_SSIM_WEIGHTS) - 1 else cs)
    return _weighted_product(factors)


class Reference:
    """A source prepared once for its many variants: its MS-SSIM scales and, when they fit in
    ``moments_budget`` bytes, the local means and variances of every scale (the half of the
    blurs that depend on the source only)."""

    def __init__(self, rgb: np.ndarray, moments_budget: int = MOMENTS_BUDGET_BYTES):
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"Reference needs 8-bit RGB (h, w, 3), got {rgb.dtype} {rgb.shape}")
        self.rgb = rgb = np.ascontiguousarray(rgb)  # the numba kernel's layout: no copy per variant
        h, w = rgb.shape[:2]
        self.ssim_ok, self.ms_ssim_ok = min(h, w) >= WINDOW, min(h, w) >= MS_SSIM_MIN_SIDE
        self.levels = [_Level(rgb)]
        if self.ms_ssim_ok:
            for _ in range(len(MS_SSIM_WEIGHTS) - 1):
                self.levels.append(self.levels[-1].half())
        # 4 channels (RGB and luma) x mean and variance x float32 at full size, 3 below.
        size = 32 * h * w + sum(24 * lv.samples.shape[0] * lv.samples.shape[1] for lv in self.levels[1:])
        self.moments = None
        if self.ssim_ok and size <= moments_budget:
            self.moments = [_moments(lv, add_luma=i == 0) for i, lv in enumerate(self.levels)]


def _check_variant(ref: Reference, variant_rgb: np.ndarray) -> None:
    if variant_rgb.shape != ref.rgb.shape or variant_rgb.dtype != np.uint8:
        raise ValueError(
            f"variant must be 8-bit RGB of the source's shape {ref.rgb.shape}, got {variant_rgb.dtype} {variant_rgb.shape}"
        )


def _record(mse: float, mse_y: float) -> dict:
    return {"psnr": _psnr_from_mse(mse), "ssim": None, "ms_ssim": None, "psnr_y": _psnr_from_mse(mse_y), "ssim_y": None}


def _weighted_product(factors: list[np.ndarray]) -> float:
    """MS-SSIM from the per-channel factors of the 5 scales (cs at 0-3, ssim at 4)."""
    stacked = np.maximum(np.stack(factors), 0.0)
    return float(np.prod(stacked ** np.array(MS_SSIM_WEIGHTS)[:, None], axis=0).mean())


def pixel_metrics(ref: Reference, variant_rgb: np.ndarray) -> dict:
    """PSNR, SSIM, MS-SSIM on RGB and PSNR, SSIM on luma of a variant (8-bit RGB at the
    source's geometry), by the fused numba kernel (``pixel_numba``): the numpy kernel's values
    (``pixel_metrics_numpy``) within 1e-7, PSNR exactly. Memory: ~1 kB per column of working
    set and the variant's scales, not copies of the image. The first call in a process imports
    numba and loads (or, the first time on a machine, compiles: ~5 s) the kernels."""
    _check_variant(ref, variant_rgb)
    k = numba_kernels()
    y = np.ascontiguousarray(variant_rgb)
    sse, sse_y = k["squared_errors"](ref.rgb, y)
    n = y.shape[0] * y.shape[1]
    out = _record(sse / (3 * n), sse_y / (1e6 * n))
    if not ref.ssim_ok:
        return out
    s, cs = _ssim_sums_numba(k, ref, 0, y)
    out["ssim"], out["ssim_y"] = float(s[:3].mean()), float(s[3])
    if ref.ms_ssim_ok:
        factors = [cs[:3]]
        for level in range(1, len(MS_SSIM_WEIGHTS)):
            y = k["half"](y)
            s, cs = _ssim_sums_numba(k, ref, level, y)
            factors.append(s if level == len(MS_SSIM_WEIGHTS) - 1 else cs)
        out["ms_ssim"] = _weighted_product(factors)
    return out


def _ssim_sums_numba(k: dict, ref: Reference, level: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_ssim_sums`` of the source's scale ``level`` and the variant's (exact sums of 4**level
    pixels) by the numba kernel; luma appended at scale 0."""
    x = ref.levels[level]
    mu, var = ref.moments[level] if ref.moments else (_NO_MOMENTS, _NO_MOMENTS)
    scale = np.float32(4.0**-level)
    luma_w = np.array(_LUMA if level == 0 else (), np.float32)
    taps = _band_matrix(1)[0]
    c1, c2 = np.float32(_C1), np.float32(_C2)
    return k["ssim_sums"](np.ascontiguousarray(x.samples), np.float32(x.scale), y, scale, luma_w, mu, var, taps, c1, c2)


def pixel_metrics_numpy(ref: Reference, variant_rgb: np.ndarray) -> dict:
    """``pixel_metrics`` by the numpy kernel (banded BLAS products, 32-row bands): the reference
    the numba kernel is checked against. Memory: the band working set (~10 kB per column)."""
    _check_variant(ref, variant_rgb)
    mse, mse_y = _squared_errors(ref.rgb, variant_rgb)
    out = _record(mse, mse_y)
    if not ref.ssim_ok:
        return out
    x, y = ref.levels[0], _Level(variant_rgb)
    moments = ref.moments[0] if ref.moments else None
    s, cs = _ssim_sums(x, y, add_luma=True, moments=moments)
    out["ssim"], out["ssim_y"] = float(s[:3].mean()), float(s[3])
    if ref.ms_ssim_ok:
        # the luma plane's rows of the level-0 moments are not used past level 0
        ref_levels = [(lv, ref.moments[i] if ref.moments else None) for i, lv in enumerate(ref.levels) if i]
        out["ms_ssim"] = _ms_ssim(x, y, cs[:3], ref_levels)
    return out


def _squared_errors(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean squared error over RGB samples and over BT.601 luma, exact: integer differences,
    and luma scaled by 1000 (0.299 R + 0.587 G + 0.114 B in integers), summed in int64."""
    sse = sse_y = 0
    for r0 in range(0, a.shape[0], 256):
        d = a[r0 : r0 + 256].astype(np.int32) - b[r0 : r0 + 256]
        sse += int(np.einsum("ijk,ijk->", d, d, dtype=np.int64))
        dy = d @ np.array([299, 587, 114], np.int32)
        sse_y += int(np.einsum("ij,ij->", dy, dy, dtype=np.int64))
    n = a.shape[0] * a.shape[1]
    return sse / (3 * n), sse_y / (1e6 * n)
