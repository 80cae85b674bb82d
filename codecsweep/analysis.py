"""Fits and summaries the SQL cannot express well: the Helmholtz c·log(q) curve with its
knee, a Bjøntegaard-style rate saving at equal accuracy, and Kendall's tau."""

from __future__ import annotations

import math

import numpy as np


def fit_log_knee(x, acc, candidates: int = 400) -> dict | None:
    """Fit accuracy = a + c · min(0, ln(x / knee)) by least squares.

    The Helmholtz paper's accuracy = c·log(q) holds below the point where quantization
    "cuts into the content"; above it accuracy is flat. ``knee`` is that point: the x below
    which accuracy falls by c per unit of ln(x). Searched on a log grid between the
    smallest and largest x (a and c are linear given the knee). None for < 3 points.
    """
    x = np.asarray(x, dtype=np.float64)
    acc = np.asarray(acc, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(acc) & (x > 0)
    x, acc = x[ok], acc[ok]
    if len(x) < 3 or x.min() == x.max():
        return None
    best = None
    for knee in np.exp(np.linspace(math.log(x.min()), math.log(x.max()), candidates)):
        design = np.column_stack([np.ones_like(x), np.minimum(0.0, np.log(x / knee))])
        coef, *_ = np.linalg.lstsq(design, acc, rcond=None)
        sse = float(np.sum((design @ coef - acc) ** 2))
        if best is None or sse < best[0] - 1e-12:
            best = (sse, knee, coef)
    sse, knee, (a, c) = best
    sst = float(np.sum((acc - acc.mean()) ** 2))
    return {
        "a": float(a),
        "c": float(c),
        "knee": float(knee),
        "r2": 1 - sse / sst if sst > 0 else 1.0,
        "points": int(len(x)),
    }


def _log_rate_of_accuracy(bpp, acc):
    """ln(bpp) as a function of accuracy: points sorted by rate, accuracy made monotone
    (the running maximum from low rates: a higher rate is never counted as less accurate)."""
    order = np.argsort(bpp)
    rate = np.log(np.asarray(bpp, dtype=np.float64)[order])
    quality = np.maximum.accumulate(np.asarray(acc, dtype=np.float64)[order])
    keep = np.concatenate([[True], np.diff(quality) > 0])  # one rate per accuracy level: the lowest
    return quality[keep], rate[keep]


def bd_rate_saving(ref_bpp, ref_acc, test_bpp, test_acc, samples: int = 200) -> float | None:
    """Average bitrate difference of ``test`` against ``ref`` at equal accuracy, in the
    manner of Bjøntegaard (log-rate integrated over the common accuracy interval; piecewise
    linear instead of cubic, robust to few noisy points). -0.3 = 30% fewer bits."""
    qa, ra = _log_rate_of_accuracy(ref_bpp, ref_acc)
    qb, rb = _log_rate_of_accuracy(test_bpp, test_acc)
    lo, hi = max(qa.min(), qb.min()), min(qa.max(), qb.max())
    if len(qa) < 2 or len(qb) < 2 or hi <= lo:
        return None
    grid = np.linspace(lo, hi, samples)
    return float(math.exp(np.mean(np.interp(grid, qb, rb) - np.interp(grid, qa, ra))) - 1)


def kendall(x, y) -> float | None:
    from scipy.stats import kendalltau

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return None
    tau = kendalltau(x[ok], y[ok]).statistic
    return None if math.isnan(tau) else float(tau)
