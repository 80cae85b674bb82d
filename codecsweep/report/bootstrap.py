"""Bootstrap over images, vectorized: every report number is a function of per-image values
(images are the unit of sampling; the variants of one image are not independent).

A resample is a row of counts (how often each image is drawn); a mean over a resample is
``counts @ values / counts @ present``, so all resamples of all parameter sets are two
matrix products. Row 0 of every result is the sample itself (all counts 1): the point
estimate, computed by the same code as its interval.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

#: Resamples per interval, the seed (same data -> same intervals), the interval level.
RESAMPLES = 1000
SEED = 20170915
LEVEL = 0.95


def resample_weights(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples + 1) x n image counts; row 0 is the sample itself (all ones)."""
    if n == 0:
        return np.ones((resamples + 1, 0))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)
    return np.vstack([np.ones((1, n)), counts]).astype(np.float64)


def means(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weighted means of the columns of ``values`` (images x k, NaN = missing) for every
    row of ``weights``: (resamples + 1) x k, NaN where a resample has no value."""
    present = np.isfinite(values)
    num = weights @ np.where(present, values, 0.0)
    den = weights @ present.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def interval(samples: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the resamples (rows 1..) of ``samples``; resamples where
    the statistic is undefined (NaN) are left out. NaN where it is never defined."""
    boot = np.asarray(samples, dtype=np.float64)[1:]
    tail = (1 - level) / 2 * 100
    q = [tail, 100 - tail]
    # numpy's nanpercentile goes column by column: the columns without NaN (the same numbers) at once
    gaps = np.isnan(boot).any(axis=0) if len(boot) else True
    if not np.any(gaps):
        lo, hi = np.percentile(boot, q, axis=0)
        return lo, hi
    if boot.ndim == 2 and not np.all(gaps):
        lo, hi = np.empty(boot.shape[1]), np.empty(boot.shape[1])
        lo[~gaps], hi[~gaps] = np.percentile(boot[:, ~gaps], q, axis=0)
        lo[gaps], hi[gaps] = _nan_percentiles(boot[:, gaps], q)
        return lo, hi
    return _nan_percentiles(boot, q)


def _nan_percentiles(boot: np.ndarray, q: list[float]) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(boot, q, axis=0)
    return lo, hi


def images_to_halve(samples: np.ndarray, n: int, level: float = LEVEL) -> float:
    """Images needed to halve the interval of a statistic, from its bootstrap spread: the
    standard error shrinks as 1/sqrt(n), so n·(width / target width)² with the width of a
    normal interval of the bootstrap SD. NaN when undefined or already exact."""
    boot = np.asarray(samples, dtype=np.float64)[1:]
    boot = boot[np.isfinite(boot)]
    lo, hi = interval(samples, level)
    width = float(hi - lo) if np.ndim(lo) == 0 else math.nan
    if n < 2 or len(boot) < 2 or not width > 0:
        return math.nan
    z = 1.959963984540054 if level == 0.95 else _z(level)
    sd_image = float(np.std(boot, ddof=1)) * math.sqrt(n)  # spread of one image's contribution
    return float(math.ceil((2 * z * sd_image / (width / 2)) ** 2))


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def first_of_passing_tail(ok: np.ndarray) -> np.ndarray:
    """Per row of a boolean matrix whose columns run from low to high rate: the first
    column from which every column passes (len = none pass at the top)."""
    tail = np.flip(np.cumprod(np.flip(ok, axis=1), axis=1), axis=1).astype(bool)
    m = ok.shape[1]
    return np.where(tail.any(axis=1), np.argmax(tail, axis=1), m)


def rate_at_drop(
    log_rate: np.ndarray, quality: np.ndarray, reference: np.ndarray, drop: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where a rate–quality curve falls more than ``drop`` below ``reference``.

    Rows are resamples, columns the curve's points from low to high rate. The answer is
    the lowest rate above which quality never falls below reference − drop, interpolated
    linearly in log rate between the last failing point and the first point of that
    passing tail. Returns (log rate, index j of the tail's first point, fraction t between
    j-1 and j) so that other rate columns can be interpolated the same way; log rate NaN
    when even the highest rate fails; t = 1 and j = 0 when no point fails (the answer is
    then only a bound: at or below the lowest rate tested).
    """
    target = reference[:, None] - drop
    ok = quality >= target - 1e-12
    j = first_of_passing_tail(ok)
    m = quality.shape[1]
    rows = np.arange(len(j))
    jc = np.clip(j, 0, m - 1)
    jp = np.clip(j - 1, 0, m - 1)
    q1, q0 = quality[rows, jc], quality[rows, jp]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(j > 0, (target[:, 0] - q0) / (q1 - q0), 1.0)
    t = np.clip(np.nan_to_num(t, nan=1.0), 0.0, 1.0)
    x = log_rate[rows, jp] + t * (log_rate[rows, jc] - log_rate[rows, jp])
    x = np.where((j < m) & np.isfinite(reference), x, np.nan)
    return x, j, t


def interpolate_like(values: np.ndarray, j: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Another column along the same curve, interpolated in log as ``rate_at_drop`` did."""
    m = values.shape[1]
    rows = np.arange(len(j))
    jc, jp = np.clip(j, 0, m - 1), np.clip(j - 1, 0, m - 1)
    lv = np.log(values)
    return np.where(j < m, np.exp(lv[rows, jp] + t * (lv[rows, jc] - lv[rows, jp])), np.nan)


def fit_log_knee_many(x: np.ndarray, y: np.ndarray, candidates: int = 400, chunk: int = 32) -> dict[str, np.ndarray]:
    """The Helmholtz knee fit for many curves at once (rows: resamples; columns: points,
    NaN-free): accuracy = a + c · min(0, ln(x / knee)), knee on a log grid between each
    row's smallest and largest x, a and c by least squares given the knee.

    The paper's accuracy = c·log(q) holds below the point where quantization "cuts into the
    content"; above it accuracy is flat. ``knee`` is that point: the x below which accuracy
    falls by c per unit of ln(x).

    Rows are fitted ``chunk`` at a time (each row on its own: the same numbers), so that the
    rows x candidates x points arrays stay in the processor's cache."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) > chunk:
        parts = [
            fit_log_knee_many(x[i : i + chunk], y[i : i + chunk], candidates, chunk) for i in range(0, len(x), chunk)
        ]
        return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    lx = np.log(x)
    grid = np.linspace(0.0, 1.0, candidates)
    lknee = lx.min(axis=1, keepdims=True) + grid[None, :] * np.ptp(lx, axis=1, keepdims=True)  # rows x K
    z = np.minimum(0.0, lx[:, None, :] - lknee[:, :, None])  # rows x K x points
    zc = z - z.mean(axis=2, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    szz = (zc**2).sum(axis=2)
    szy = (zc * yc[:, None, :]).sum(axis=2)
    syy = (yc**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(szz > 1e-15, szy / np.where(szz > 1e-15, szz, 1.0), 0.0)
    sse = syy[:, None] - c * szy
    best = np.argmin(np.round(sse, 12), axis=1)
    rows = np.arange(len(best))
    c_best = c[rows, best]
    a = y.mean(axis=1) - c_best * z[rows, best].mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(syy > 0, 1 - sse[rows, best] / np.where(syy > 0, syy, 1.0), 1.0)
    return {"a": a, "c": c_best, "knee": np.exp(lknee[rows, best]), "r2": r2}


def spearman(x, y, unit, weights: np.ndarray, chunk: int = 50) -> np.ndarray:
    """Spearman's rho of x and y for every row of ``weights`` (counts per sampling unit: ``unit``
    is each item's unit, e.g. its image, whose items are drawn with it); row 0 of all-ones weights = the plain
    Spearman. NaN where either side has no spread."""
    return spearman_pairs({"x": x}, {"y": y}, unit, weights, chunk)["x", "y"]


def spearman_pairs(xs: dict, ys: dict, unit, weights: np.ndarray, chunk: int = 50) -> dict:
    """``spearman`` of every x of ``xs`` with every y of ``ys`` (name -> values, one per item):
    (x name, y name) -> rho per row of ``weights``. Each side is ranked once per chunk of
    resamples (and per set of items finite on both sides), not once per pair."""
    unit = np.asarray(unit)
    xs = {k: np.asarray(v, dtype=np.float64) for k, v in xs.items()}
    ys = {k: np.asarray(v, dtype=np.float64) for k, v in ys.items()}
    out = {(a, b): np.full(len(weights), np.nan) for a in xs for b in ys}
    groups: dict[bytes, tuple[np.ndarray, dict]] = {}  # the items used -> their pairs, by x
    for a, x in xs.items():
        for b, y in ys.items():
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() >= 3:
                groups.setdefault(ok.tobytes(), (ok, {}))[1].setdefault(a, []).append(b)
    for ok, pairs in groups.values():
        for start in range(0, len(weights), chunk):
            w = weights[start : start + chunk][:, unit[ok]]
            total = w.sum(axis=1, keepdims=True)
            known = {}
            for a, names in pairs.items():
                dx, wdx, sxx = _centred_ranks(xs[a][ok], w, total)
                for b in names:
                    if b not in known:
                        known[b] = _centred_ranks(ys[b][ok], w, total)
                    dy, _, syy = known[b]
                    with np.errstate(invalid="ignore", divide="ignore"):
                        out[a, b][start : start + chunk] = (wdx * dy).sum(1) / np.sqrt(sxx * syy)
    return out


def _centred_ranks(v: np.ndarray, w: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row r of ``w``, the ranks of ``v`` (N,) when item i is counted w[r, i] times (the
    mean of the ranks its copies would take, ties sharing: Spearman's average ranks) minus
    their weighted mean; the same times the weights; their weighted sum of squares. Counts
    times half-integer ranks sum exactly (far below 2**53), so the mean is taken over the
    groups of tied items rather than item by item (the same number), and the ranks are
    spread onto the items once, centred."""
    order = np.argsort(v, kind="stable")
    vs = v[order]
    starts = np.flatnonzero(np.r_[True, vs[1:] != vs[:-1]])
    group_w = np.add.reduceat(w[:, order], starts, axis=1)
    rank = np.cumsum(group_w, axis=1) - group_w + (group_w + 1) / 2
    group_of = np.empty(len(v), dtype=np.intp)
    group_of[order] = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(vs)]))
    d = (rank - (group_w * rank).sum(1, keepdims=True) / total)[:, group_of]
    wd = w * d
    return d, wd, (wd * d).sum(1)


def _log_rate_at(bpp: np.ndarray, quality: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """ln(bpp) at which each row's curve reaches each of ``levels`` (rows x S): points sorted
    by rate, quality made monotone (running maximum from low rates), each level reached at
    its lowest rate, linear in between."""
    order = np.argsort(bpp, axis=1, kind="stable")
    rate = np.log(np.take_along_axis(bpp, order, axis=1))
    q = np.maximum.accumulate(np.take_along_axis(quality, order, axis=1), axis=1)
    n, m = q.shape
    base = (np.arange(n) * m)[:, None]  # row offsets into the flattened q and rate
    flat_q, flat_rate = q.ravel(), rate.ravel()
    # b: the first column whose quality reaches the level (0 if none does); q's rows are
    # sorted (a NaN only ends one), so a binary search per row finds it
    reach = levels - 1e-12
    b = np.empty(reach.shape, dtype=np.intp)
    for r in range(n):
        b[r] = np.searchsorted(q[r], reach[r])
    b = np.where((b < m) & (flat_q.take(base + np.minimum(b, m - 1)) >= reach), b, 0)
    # a: where the curve first reaches the value of column b - 1 (the start of its plateau)
    start = np.argmax(q[:, None, :] >= q[:, :, None] - 1e-12, axis=2)
    a = np.take_along_axis(start, np.maximum(b - 1, 0), axis=1)
    ia, ib = base + a, base + b
    qa, qb, ra, rb = flat_q.take(ia), flat_q.take(ib), flat_rate.take(ia), flat_rate.take(ib)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(qb > qa, (levels - qa) / (qb - qa), 1.0)
    return np.where((b == 0) | (levels >= qb), rb, ra + t * (rb - ra))


def bd_rate_many(ref_bpp, ref_q, test_bpp, test_q, samples: int = 200, chunk: int = 128) -> np.ndarray:
    """Bjøntegaard-style rate change of test against ref at equal quality, for every row at
    once (rows: resamples): the mean difference of log rate at equal quality over the common
    quality range (piecewise linear instead of cubic, robust to few noisy points), as a
    relative rate change (-0.3 = 30% fewer bits); NaN where the ranges do not overlap.
    Rows ``chunk`` at a time (each on its own: the same numbers; the rows x samples arrays
    then stay in the processor's cache)."""
    if len(ref_bpp) > chunk:
        curves = [np.asarray(v) for v in (ref_bpp, ref_q, test_bpp, test_q)]
        parts = [
            bd_rate_many(*(v[i : i + chunk] for v in curves), samples, chunk) for i in range(0, len(ref_bpp), chunk)
        ]
        return np.concatenate(parts)
    qa = np.maximum.accumulate(np.take_along_axis(ref_q, np.argsort(ref_bpp, axis=1, kind="stable"), 1), 1)
    qb = np.maximum.accumulate(np.take_along_axis(test_q, np.argsort(test_bpp, axis=1, kind="stable"), 1), 1)
    lo = np.maximum(qa[:, 0], qb[:, 0])
    hi = np.minimum(qa[:, -1], qb[:, -1])
    levels = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, samples)[None, :]
    diff = _log_rate_at(test_bpp, test_q, levels) - _log_rate_at(ref_bpp, ref_q, levels)
    return np.where(hi > lo, np.exp(diff.mean(axis=1)) - 1, np.nan)


# --- Medians, standard deviations and one-sided shares over resamples (the replication) ----


def _median_of_counts(xs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row of ``counts`` (rows x m: how often each of the sorted values ``xs`` is counted),
    the median of the expanded sample: the mean of its two middle values (DuckDB's median);
    NaN where a row counts nothing."""
    cum = np.cumsum(counts, axis=1)
    total = cum[:, -1] if cum.shape[1] else np.zeros(len(cum))
    out = np.zeros(len(cum))
    for pos in (np.floor((total - 1) / 2), np.ceil((total - 1) / 2)):
        # the first value whose cumulative count passes the (0-based) position
        k = np.minimum((cum <= pos[:, None] + 1e-9).sum(axis=1), max(len(xs) - 1, 0))
        out += xs[k] / 2 if len(xs) else np.nan
    return np.where(total > 0, out, np.nan)


def weighted_summary(weights: np.ndarray, values, chunk: int = 200) -> dict[str, np.ndarray]:
    """Mean, median and standard deviation (n - 1 in the denominator, as SQL's stddev_samp) of
    ``values`` (n,) when item i is counted ``weights[r, i]`` times, for every row r; NaN values are
    left out. Row 0 of all-ones weights: the plain statistics."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    order = np.argsort(v[ok], kind="stable")
    xs, w = v[ok][order], weights[:, ok][:, order]
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, (w @ xs) / np.where(total > 0, total, 1.0), np.nan)
        ss = np.maximum(w @ (xs**2) - total * mean**2, 0.0)
        std = np.where(total > 1, np.sqrt(ss / np.where(total > 1, total - 1, 1.0)), np.nan)
    median = np.concatenate(
        [_median_of_counts(xs, w[start : start + chunk]) for start in range(0, len(w), chunk)] or [np.zeros(0)]
    )
    return {"mean": mean, "median": median, "std": std}


def pooled_summary(weights: np.ndarray, counts: np.ndarray, values) -> dict[str, np.ndarray]:
    """``weighted_summary`` of items pooled over images: ``counts[i, u]`` items of image i take the
    value ``values[u]`` (sorted, distinct), and every item of an image is counted as often as
    its image is drawn (row r of ``weights``)."""
    xs = np.asarray(values, dtype=np.float64)
    c = weights @ counts
    total = c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, (c @ xs) / np.where(total > 0, total, 1.0), np.nan)
        ss = np.maximum(c @ (xs**2) - total * mean**2, 0.0)
        std = np.where(total > 1, np.sqrt(ss / np.where(total > 1, total - 1, 1.0)), np.nan)
    return {"mean": mean, "median": _median_of_counts(xs, c), "std": std}


def share(samples: np.ndarray, condition) -> float:
    """The share of the resamples (rows 1..) where ``condition`` holds for the statistic, among
    those where it is defined (not NaN); NaN where it never is."""
    boot = np.asarray(samples, dtype=np.float64)[1:]
    boot = boot[np.isfinite(boot)]
    return float(np.mean(condition(boot))) if len(boot) else math.nan
