"""The pixel metrics' per-variant work fused in numba: ``metrics.pixel.pixel_metrics`` calls it.

The same arithmetic as the numpy kernel (``pixel.pixel_metrics_numpy``, read ``pixel``'s
docstring), one image row at a time instead of 32-row bands of numpy temporaries and BLAS
products. Each 11-tap blur is a chain of fused multiply-adds in tap order, started from 0
(``fastmath={"contract"}`` makes ``s + g * v`` one FMA and nothing else; starting from 0 keeps
LLVM from fusing the second product instead of the first), vertical then horizontal: what
OpenBLAS's sgemm computes for the numpy kernel's band-matrix products on x86-64 with FMA, bit
for bit, except in a last band of under 4 rows, where it takes another path. The luma and the
SSIM formula are separate float32 operations in numpy's order (no contraction). The means are
float64 sums here, float32 sums per band there. Measured on the default photographs and grey
ones as JPEG at qualities 5-100 (``benchmarks/pixel_profile.py``): within 1e-7 of the numpy
kernel, PSNR identical (integer sums in both).

Per output row: a ring of the last 11 input rows' maps (y, y^2, x*y per channel, and x, x^2
unless the source's moments are given), their vertical blur, its horizontal blur, and the
SSIM and cs terms added to float64 column sums: ~1 kB per column of working set (L2 at the
default sizes), no full-size temporaries. The variant's MS-SSIM scales are exact uint16 sums
(``half``), PSNR's squared errors int64 sums (``squared_errors``), as in numpy.

numba is imported on first use (``kernels``), not with this module: importing the package does
not pay numba's import (~0.2 s). Until then the kernels are plain Python functions; ``kernels``
compiles them (``cache=True``: the machine code is kept in ``__pycache__`` next to this file,
or numba's user cache when that is read-only, or ``NUMBA_CACHE_DIR``; compiling takes ~4 s of
CPU once per machine, loading it ~0.3 s per process) and puts each compiled kernel in place
of its Python function, so that the kernels calling it call the compiled one. Single-threaded
(no ``parallel=True``): a pipeline job is one process per core.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_FUSED = ("_vblur", "_hblur")  # compiled with fastmath={"contract"}: FMA chains, like sgemm
_ORDER = ("_vblur", "_hblur", "_row_maps", "_ssim_row", "ssim_sums", "squared_errors", "half")


def _row_maps(xr, sx, yr, sy, luma, k, maps):
    """The maps of one row pair: y, y^2, x*y per channel (x, x^2 too when k == 5) into maps
    (k * c, w), channels (c) the image's and, when ``luma`` (3 float32 weights) has 3 values,
    BT.601 luma appended: R * wr, + G * wg, + B * wb, each rounded to float32 like numpy's."""
    w, c0 = yr.shape
    c = c0 + 1 if luma.size else c0
    for ch in range(c):
        my, myy, mxy = maps[ch], maps[c + ch], maps[2 * c + ch]
        mx, mxx = maps[3 * c + ch if k == 5 else ch], maps[4 * c + ch if k == 5 else ch]  # k == 3: unused
        for j in range(w):
            if ch < c0:
                x, y = np.float32(xr[j, ch]) * sx, np.float32(yr[j, ch]) * sy
            else:
                x = np.float32(xr[j, 0]) * sx * luma[0]
                x = x + (np.float32(xr[j, 1]) * sx) * luma[1]
                x = x + (np.float32(xr[j, 2]) * sx) * luma[2]
                y = np.float32(yr[j, 0]) * sy * luma[0]
                y = y + (np.float32(yr[j, 1]) * sy) * luma[1]
                y = y + (np.float32(yr[j, 2]) * sy) * luma[2]
            myy[j] = y * y
            mxy[j] = x * y
            if k == 5:
                mx[j] = x
                mxx[j] = x * x
            my[j] = y


def _vblur(ring, i, g, out):
    """Vertical 11-tap blur (taps g) of output row i: out (m, w) from the ring slots of input
    rows i .. i + 10, each value an FMA chain in tap order started from 0."""
    m, w = out.shape
    s0, s1, s2, s3, s4, s5 = i % 11, (i + 1) % 11, (i + 2) % 11, (i + 3) % 11, (i + 4) % 11, (i + 5) % 11
    s6, s7, s8, s9, s10 = (i + 6) % 11, (i + 7) % 11, (i + 8) % 11, (i + 9) % 11, (i + 10) % 11
    zero = np.float32(0.0)
    for k in range(m):
        r0, r1, r2, r3, r4, r5 = ring[s0, k], ring[s1, k], ring[s2, k], ring[s3, k], ring[s4, k], ring[s5, k]
        r6, r7, r8, r9, r10 = ring[s6, k], ring[s7, k], ring[s8, k], ring[s9, k], ring[s10, k]
        dst = out[k]
        for j in range(w):
            s = zero + g[0] * r0[j]
            s = s + g[1] * r1[j]
            s = s + g[2] * r2[j]
            s = s + g[3] * r3[j]
            s = s + g[4] * r4[j]
            s = s + g[5] * r5[j]
            s = s + g[6] * r6[j]
            s = s + g[7] * r7[j]
            s = s + g[8] * r8[j]
            s = s + g[9] * r9[j]
            dst[j] = s + g[10] * r10[j]


def _hblur(v, g, out):
    """Valid horizontal 11-tap blur of each row of v (m, w) into out (m, w - 10), FMA chains."""
    m, wv = out.shape
    zero = np.float32(0.0)
    for k in range(m):
        src, dst = v[k], out[k]
        for j in range(wv):
            s = zero + g[0] * src[j]
            for t in range(1, 11):
                s = s + g[t] * src[j + t]
            dst[j] = s


def _ssim_row(b, c, mu_m, var_m, i, c1, c2, acc_s, acc_cs):
    """Adds one output row's SSIM and cs terms to the column sums acc_s, acc_cs (c, wv):
    numpy's in-place sequence of float32 operations (``pixel._ssim_sums``), element by element."""
    wv = b.shape[1]
    two = np.float32(2.0)
    for ch in range(c):
        mu_ys, e_yys, e_xys, sums, cs_sums = b[ch], b[c + ch], b[2 * c + ch], acc_s[ch], acc_cs[ch]
        given = mu_m.size > 0
        mu_xs = mu_m[i, ch] if given else b[3 * c + ch]
        var_xs = var_m[i, ch] if given else b[4 * c + ch]
        for j in range(wv):
            mu_x, mu_y = mu_xs[j], mu_ys[j]
            var_x = var_xs[j] if given else var_xs[j] - mu_x * mu_x
            mu_xy = mu_x * mu_y
            mu_y2 = mu_y * mu_y
            cs = ((e_xys[j] - mu_xy) * two + c2) / (((e_yys[j] - mu_y2) + var_x) + c2)
            sums[j] += ((mu_xy * two + c1) / ((mu_x * mu_x + mu_y2) + c1)) * cs
            cs_sums[j] += cs


def ssim_sums(xs, sx, ys, sy, luma, mu_m, var_m, g, c1, c2):
    """Per channel, the means of the SSIM and cs maps of one scale: the source's samples xs
    and the variant's ys (h, w, c) times float32 scales sx, sy; ``luma``: empty, or the BT.601
    weights (float32) to append a luma channel; mu_m, var_m: the source's local means and
    variances (h - 10, c, w - 10) float32, or empty to blur x and x^2 here too; g: the 11
    float32 taps; c1, c2: float32."""
    h, w, c0 = ys.shape
    c = c0 + 1 if luma.size else c0
    hv, wv = h - 10, w - 10
    k = 3 if mu_m.size else 5
    ring = np.empty((11, k * c, w), np.float32)
    v = np.empty((k * c, w), np.float32)
    b = np.empty((k * c, wv), np.float32)
    acc_s, acc_cs = np.zeros((c, wv)), np.zeros((c, wv))
    for r in range(h):
        _row_maps(xs[r], sx, ys[r], sy, luma, k, ring[r % 11])
        if r >= 10:
            _vblur(ring, r - 10, g, v)
            _hblur(v, g, b)
            _ssim_row(b, c, mu_m, var_m, r - 10, c1, c2, acc_s, acc_cs)
    s_out, cs_out = np.empty(c), np.empty(c)
    for ch in range(c):
        s_out[ch] = acc_s[ch].sum() / (hv * wv)
        cs_out[ch] = acc_cs[ch].sum() / (hv * wv)
    return s_out, cs_out


def squared_errors(a, b):
    """(sum of squared differences over the RGB samples, over luma x 1000: 299 R + 587 G +
    114 B), both int64, of two uint8 (h, w, 3) images: exact."""
    h, w, _ = a.shape
    sse, sse_y = 0, 0
    for i in range(h):
        for j in range(w):
            d0 = np.int64(a[i, j, 0]) - np.int64(b[i, j, 0])
            d1 = np.int64(a[i, j, 1]) - np.int64(b[i, j, 1])
            d2 = np.int64(a[i, j, 2]) - np.int64(b[i, j, 2])
            dy = 299 * d0 + 587 * d1 + 114 * d2
            sse += d0 * d0 + d1 * d1 + d2 * d2
            sse_y += dy * dy
    return sse, sse_y


def half(a):
    """The uint16 sums of 2x2 blocks of a (h, w, c) uint8/uint16 image whose values times 4
    fit in uint16: ``pixel._Level.half``'s exact path (an odd side padded with a zero row or
    column in front)."""
    h, w, c = a.shape
    ph, pw = h % 2, w % 2
    out = np.zeros(((h + ph) // 2, (w + pw) // 2, c), np.uint16)
    for i in range(h):
        oi = (i + ph) // 2
        for j in range(w):
            oj = (j + pw) // 2
            for ch in range(c):
                out[oi, oj, ch] += np.uint16(a[i, j, ch])
    return out


@lru_cache
def kernels() -> dict:
    """The compiled kernels by name (numba imported and the kernels compiled on first use).
    ``error_model="numpy"``: no zero test before each division (the denominators add C1 or C2: positive),
    which would keep the SSIM formula from being vectorized."""
    import numba

    compiled = {}
    for name in _ORDER:  # callees first, each put in place of its Python function
        jit = numba.njit(cache=True, fastmath={"contract"} if name in _FUSED else False, error_model="numpy")
        compiled[name] = globals()[name] = jit(globals()[name])
    return compiled
