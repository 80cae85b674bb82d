"""The bootstrap analyses: one ``Sample`` per (dataset, model), its images x settings
matrices and every criterion re-applied in every resample (``bootstrap`` has the vectorized
math); Kendall's tau-b; and ``bd_rate_saving``, the BD-rate of one pair of curves."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pandas as pd

from .bootstrap import (
    bd_rate_many,
    fit_log_knee_many,
    interpolate_like,
    interval,
    means,
    rate_at_drop,
    resample_weights,
)


def bd_rate_saving(ref_bpp, ref_acc, test_bpp, test_acc, samples: int = 200) -> float | None:
    """Average bitrate difference of ``test`` against ``ref`` at equal accuracy, in the
    manner of Bjøntegaard (log-rate integrated over the common accuracy interval; piecewise
    linear instead of cubic, robust to few noisy points). -0.3 = 30% fewer bits; None where
    the accuracy ranges do not overlap. ``bd_rate_many`` on one pair of curves (for
    benchmarks/machine_jpeg.py; the report uses ``Sample.bd_rate``)."""
    row = [np.asarray(v, dtype=np.float64)[None, :] for v in (ref_bpp, ref_acc, test_bpp, test_acc)]
    saving = float(bd_rate_many(*row, samples=samples)[0])
    return None if math.isnan(saving) else saving


def kendall(x, y) -> float | None:
    """Kendall's tau-b of the finite pairs; None with fewer than 3, or where a side is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return None
    tau = kendall_tau_b(x[ok], y[ok])
    return None if math.isnan(tau) else tau


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b, computed as ``scipy.stats.kendalltau`` computes its statistic (Knight's
    algorithm: the same counts, the same arithmetic, the same number), without the second
    that importing scipy.stats takes. NaN where a side is constant."""
    size = x.size
    perm = np.argsort(y)  # y as dense ranks
    x, y = x[perm], y[perm]
    y = np.r_[True, y[1:] != y[:-1]].cumsum(dtype=np.intp)
    perm = np.argsort(x, kind="mergesort")  # then stably by x, x as dense ranks
    x, y = x[perm], y[perm]
    x = np.r_[True, x[1:] != x[:-1]].cumsum(dtype=np.intp)
    dis = _inversions(y)  # discordant pairs: within one x, y only rises
    obs = np.r_[True, (x[1:] != x[:-1]) | (y[1:] != y[:-1]), True]
    cnt = np.diff(np.nonzero(obs)[0]).astype(np.int64, copy=False)
    ntie = int((cnt * (cnt - 1) // 2).sum())  # joint ties
    xtie, ytie = _tied_pairs(x), _tied_pairs(y)
    tot = (size * (size - 1)) // 2
    if xtie == tot or ytie == tot:
        return math.nan
    con_minus_dis = tot - xtie - ytie + ntie - 2 * dis
    tau = con_minus_dis / np.sqrt(tot - xtie) / np.sqrt(tot - ytie)
    return float(np.minimum(1.0, max(-1.0, tau)))


def _tied_pairs(ranks: np.ndarray) -> int:
    cnt = np.bincount(ranks).astype(np.int64, copy=False)
    cnt = cnt[cnt > 1]
    return int((cnt * (cnt - 1) // 2).sum())


def _inversions(y: np.ndarray) -> int:
    """Pairs i < j with y[i] > y[j] (y: non-negative integers): a bottom-up merge sort, each
    level at once (blocks kept apart by their number times ``span``)."""
    n = len(y)
    y = y.astype(np.int64)
    span = int(y.max()) + 1 if n else 1
    pos = np.arange(n, dtype=np.int64)
    total, width = 0, 1
    while width < n:
        block = pos // (2 * width)
        right = (pos // width) % 2 == 1
        key = block * span + y  # sorted within each half (the last level sorted them)
        # per element of a right half: the elements of its (full) left half not above it
        below = np.searchsorted(key[~right], key[right], side="right") - block[right] * width
        total += int((width - below).sum())
        y = np.sort(key, kind="stable") - block * span
        width *= 2
    return total


# --- The bootstrap analyses: one Sample per (dataset, model) -------------------------------

#: Per-variant quantities the statistics use (columns of the view ``observations``).
QUANTITIES = ("rank_diff", "agrees", "correct", "bpp", "cr_raw", "cr_source")
KEYS = ["encoder", "scale", "color", "param"]
#: Accuracy drops (fractions) at which the rate is reported (criteria b and c).
DROPS = (0.01, 0.05)


class Sample:
    """The classified variants of one (dataset, model) as images x settings matrices, with
    every setting's means on the sample (row 0) and on each bootstrap resample over images.

    Images are in sorted order and settings in grid order, so that the same data give the
    same resamples whatever order the rows came in.
    """

    def __init__(self, obs, originals, resamples: int | None = None):
        self.images = sorted(set(obs.image_id) | set(originals.image_id))
        n = len(self.images)
        settings = obs.groupby(KEYS, sort=False).param_index.min().reset_index()
        self.settings = settings.sort_values(
            ["encoder", "scale", "color", "param_index", "param"], ascending=[True, False, False, True, True]
        ).reset_index(drop=True)
        row = {image: i for i, image in enumerate(self.images)}
        ii = obs.image_id.map(row).to_numpy()
        where = self.settings[KEYS].assign(_j=np.arange(len(self.settings)))
        jj = obs[KEYS].merge(where, on=KEYS, how="left")["_j"].to_numpy()
        shape = (n, len(self.settings))
        self.x = {}
        for q in QUANTITIES:
            m = np.full(shape, np.nan)
            m[ii, jj] = obs[q].to_numpy(dtype=np.float64, na_value=np.nan)
            self.x[q] = m
        self.w = resample_weights(n, **({} if resamples is None else {"resamples": resamples}))
        self.mean = {q: means(self.w, m) for q, m in self.x.items()}
        correct = np.full((n, 1), np.nan)
        correct[originals.image_id.map(row).to_numpy(), 0] = originals.correct.to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        self.original_accuracy = means(self.w, correct)[:, 0]
        self.n = n
        self.annotated = int(np.isfinite(correct).sum())
        self._bd_rates: dict = {}  # bd_rate's results: several tables compare the same curves

    def columns(self, **where) -> np.ndarray:
        """Indices of the settings matching ``where`` (e.g. encoder="jpeg", scale=1.0)."""
        keep = np.ones(len(self.settings), dtype=bool)
        for k, v in where.items():
            keep &= (self.settings[k] == v).to_numpy()
        return np.flatnonzero(keep)

    def measures(self) -> tuple[tuple[str, str, int], ...]:
        """(quantity, name, images it rests on) of top-1 accuracy (annotated images only) and
        top-1 agreement (all images)."""
        return ("correct", "top-1 accuracy", self.annotated), ("agrees", "top-1 agreement", self.n)

    def settings_by(self, by: list[str]):
        """(key, setting column indexes) per value of the ``by`` columns (e.g. per encoder)."""
        for key, d in self.settings.groupby(by, sort=False):
            yield (key if isinstance(key, tuple) else (key,)), d.index.to_numpy()

    def setting_intervals(self) -> pd.DataFrame:
        """*_lo / *_hi of every per-setting mean (Tables 4-6 and the curves)."""

        out = self.settings[KEYS].copy()
        names = {
            "rank_diff_mean": "rank_diff",
            "cr_source_mean": "cr_source",
            "cr_raw_mean": "cr_raw",
            "bpp_mean": "bpp",
            "top1_agreement": "agrees",
            "top1_accuracy": "correct",
        }
        for name, q in names.items():
            lo, hi = interval(self.mean[q])
            out[f"{name}_lo"], out[f"{name}_hi"] = lo, hi
        return pd.DataFrame(out)

    def pooled(self, cols, q: str) -> np.ndarray:
        """Mean of ``q`` over all variants in ``cols`` pooled (each variant one count), per resample."""
        v = self.x[q][:, cols]
        total = np.nansum(v, axis=1)[:, None]
        count = np.isfinite(v).sum(axis=1)[:, None].astype(np.float64)
        return (self.w @ total)[:, 0] / np.where((self.w @ count)[:, 0] > 0, (self.w @ count)[:, 0], np.nan)

    def _chosen(self, val: np.ndarray, cols: np.ndarray) -> dict:
        """Per resample, the column with the largest finite ``val`` (first on ties) and the
        means of that setting; NaN where none is finite."""
        has = np.isfinite(val).any(axis=1)
        pick = cols[np.argmax(np.where(np.isfinite(val), val, -np.inf), axis=1)]
        rows = np.arange(len(pick))
        out = {q: np.where(has, self.mean[q][rows, pick], np.nan) for q in ("cr_source", "cr_raw", "bpp")}
        out["at"] = int(pick[0]) if has[0] else None
        return out

    def study_rule(self, cols) -> dict:
        """The study's rule per resample: the setting with the largest mean cr_source among
        those with mean rank difference >= -1."""
        ok = self.mean["rank_diff"][:, cols] >= -1
        return self._chosen(np.where(ok, self.mean["cr_source"][:, cols], np.nan), cols)

    def robust_rule(self, cols) -> dict:
        """The most compressed setting that passes (mean rank difference >= -1) together with
        every less compressed one, settings ordered by the sample's mean bpp (an isolated pass
        between failing neighbours does not count). ``cols``: one curve (one encoder, scale
        and color)."""
        order = cols[np.argsort(-self.mean["bpp"][0, cols], kind="stable")]  # least compressed first
        run = np.cumprod(self.mean["rank_diff"][:, order] >= -1, axis=1).astype(bool)
        return self._chosen(np.where(run, self.mean["cr_source"][:, order], np.nan), order)

    def rate_at_drop(self, cols, measure: str, drop: float) -> dict[str, np.ndarray]:
        """Criteria (b) and (c): the bpp (and compression ratios) below which top-1 accuracy
        (measure "correct", against the original's accuracy on the annotated images) or top-1
        agreement ("agrees", against 1) falls by more than ``drop``; per resample. ``cols``:
        one curve, ordered here by the sample's mean bpp."""
        order = cols[np.argsort(self.mean["bpp"][0, cols], kind="stable")]
        quality = self.mean[measure][:, order]
        ref = self.original_accuracy if measure == "correct" else np.ones(len(quality))
        # A resample without the images the measure needs (e.g. no annotated one) has no answer.
        defined = np.isfinite(quality).all(axis=1) & np.isfinite(ref)
        log_bpp, j, t = rate_at_drop(
            np.log(self.mean["bpp"][:, order]), np.nan_to_num(quality, nan=0.0), np.nan_to_num(ref, nan=1.0), drop
        )
        log_bpp = np.where(defined, log_bpp, np.nan)
        ok = np.isfinite(log_bpp)
        return {
            "bpp": np.exp(log_bpp),
            "cr_source": np.where(ok, interpolate_like(self.mean["cr_source"][:, order], j, t), np.nan),
            "cr_raw": np.where(ok, interpolate_like(self.mean["cr_raw"][:, order], j, t), np.nan),
            "below_grid": (j == 0) & defined,
        }

    def bd_rate(self, ref_cols, test_cols, measure: str) -> np.ndarray:
        """BD-rate saving of ``test`` against ``ref`` at equal ``measure``, per resample (read-only:
        computed once per curves and measure)."""
        ref_cols, test_cols = np.asarray(ref_cols), np.asarray(test_cols)
        key = (tuple(ref_cols.tolist()), tuple(test_cols.tolist()), measure)
        if key in self._bd_rates:
            return self._bd_rates[key]
        bpp, q = self.mean["bpp"], self.mean[measure]
        out = np.full(len(bpp), np.nan)
        # A resample without the measure's images (e.g. no annotated one) has no answer.
        defined = np.isfinite(q[:, ref_cols]).all(axis=1) & np.isfinite(q[:, test_cols]).all(axis=1)
        rows = np.flatnonzero(defined)
        if len(rows) and len(ref_cols) and len(test_cols):
            pick = np.ix_(rows, ref_cols), np.ix_(rows, test_cols)
            out[rows] = bd_rate_many(bpp[pick[0]], q[pick[0]], bpp[pick[1]], q[pick[1]])
        out.flags.writeable = False
        self._bd_rates[key] = out
        return out

    def knee_fit(self, cols, measure: str = "agrees", x: str = "bpp") -> dict[str, np.ndarray] | None:
        """The knee fit (``bootstrap.fit_log_knee_many``) on every resample. x: "bpp", or "param" (the JPEG
        quality). None with < 3 points."""
        y = self.mean[measure][:, cols]
        if x == "bpp":
            xs = self.mean["bpp"][:, cols]
        else:
            xs = np.broadcast_to(self.settings.param.iloc[cols].astype(float).to_numpy(), y.shape)
        if len(cols) < 3 or not (np.isfinite(y).all() and np.isfinite(xs).all() and (xs > 0).all()):
            return None
        if np.ptp(xs[0]) == 0:
            return None
        return fit_log_knee_many(xs, y)

    def oracle(self, cols, criterion: str) -> dict[str, np.ndarray]:
        """The per-image oracle against the best fixed setting (reports/sql/55_oracle.sql, the
        same rules) per resample: oracle mean bpp, fixed mean bpp, saving."""
        bpp = self.x["bpp"][:, cols]
        kept = self.x["agrees"][:, cols] == 1 if criterion == "top-1 kept" else self.x["rank_diff"][:, cols] >= -1
        present = np.isfinite(bpp)
        kept &= present
        any_kept = kept.any(axis=1)
        choice = np.where(
            any_kept, np.nanmin(np.where(kept, bpp, np.inf), axis=1), np.nanmin(np.where(present, bpp, np.inf), axis=1)
        )
        has = present.any(axis=1)
        choice = np.where(has, choice, np.nan)
        oracle_bpp = means(self.w, choice[:, None])[:, 0]
        oracle_share = means(self.w, np.where(has, any_kept, np.nan)[:, None])[:, 0]
        share = means(self.w, np.where(present, kept, np.nan))
        fixed = self.mean["bpp"][:, cols]
        enough = share >= oracle_share[:, None] - 1e-9
        best_share = np.nanmax(np.where(np.isfinite(share), share, -np.inf), axis=1, keepdims=True)
        score = np.where(
            enough.any(axis=1, keepdims=True),
            np.where(enough, fixed, np.inf),
            np.where(share == best_share, fixed, np.inf),
        )
        pick = np.argmin(score, axis=1)
        fixed_bpp = fixed[np.arange(len(pick)), pick]
        with np.errstate(invalid="ignore", divide="ignore"):
            return {"oracle_bpp": oracle_bpp, "fixed_bpp": fixed_bpp, "saving": 1 - oracle_bpp / fixed_bpp}

    # --- Added for the replication, the rate bases and the tolerance criterion ------------

    def matrix(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        """``column`` of ``frame`` (rows keyed by image_id and the setting's KEYS) as an images x
        settings matrix of this sample; NaN where ``frame`` has no row."""
        m = np.full((self.n, len(self.settings)), np.nan)
        if not len(frame):
            return m
        ii = frame.image_id.map({image: i for i, image in enumerate(self.images)}).to_numpy(dtype=np.float64)
        where = self.settings[KEYS].assign(_j=np.arange(len(self.settings)))
        jj = frame[KEYS].merge(where, on=KEYS, how="left")["_j"].to_numpy(dtype=np.float64)
        ok = np.isfinite(ii) & np.isfinite(jj)
        m[ii[ok].astype(int), jj[ok].astype(int)] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)[ok]
        return m

    def on_basis(self, share_of_file: np.ndarray) -> Sample:
        """This sample with every rate counted on another basis: ``share_of_file`` (images x
        settings) is that basis's bytes / the whole file's bytes per variant (payload_bytes /
        bytes); bpp scales by it and the compression ratios by its inverse. Images, settings
        and resamples are this sample's, so the two bases compare resample by resample."""
        other = copy.copy(self)
        other.x, other.mean, other._bd_rates = dict(self.x), dict(self.mean), {}
        with np.errstate(invalid="ignore", divide="ignore"):
            for q, power in (("bpp", 1.0), ("cr_raw", -1.0), ("cr_source", -1.0)):
                other.x[q] = self.x[q] * share_of_file**power
                other.mean[q] = means(self.w, other.x[q])
        return other

    def loss(self, cols, measure: str) -> np.ndarray:
        """Per resample and setting of ``cols``: how far ``measure`` falls below the originals'
        (top-1 accuracy on the annotated images, or 1 for agreement), in points; both sides
        from the same resample (paired)."""
        ref = self.original_accuracy if measure == "correct" else np.ones(len(self.w))
        return 100 * (ref[:, None] - self.mean[measure][:, cols])

    def tolerance_rule(self, cols, measure: str, k: float, side: str = "not above", level: float = 0.95) -> dict:
        """The most compressed setting of one curve (``cols``) that passes together with every
        less compressed one (by the sample's mean bpp), a setting passing when its loss of
        ``measure`` (``loss``) is *not significantly above* ``k`` points (side "not above": the
        loss exceeds k in fewer than ``level`` of the resamples, a one-sided bootstrap test) or
        *significantly below* it (side "below": the loss is at most k in at least ``level`` of
        them). The setting is chosen once, from all resamples; the values are that setting's
        means per resample, ``loss`` its loss and ``bound`` the one-sided bound the test used."""
        order = cols[np.argsort(-self.mean["bpp"][0, cols], kind="stable")]  # least compressed first
        loss = self.loss(order, measure)
        boot = loss[1:]
        defined = np.isfinite(boot)
        count = np.maximum(defined.sum(axis=0), 1)
        if side == "not above":
            ok = ((boot > k + 1e-9) & defined).sum(axis=0) / count < level
            tail = 100 * (1 - level)
        else:
            ok = ((boot <= k + 1e-9) & defined).sum(axis=0) / count >= level
            tail = 100 * level
        ok &= defined.any(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            bound = np.nanpercentile(boot, tail, axis=0) if len(order) else np.zeros(0)
        run = np.cumprod(ok).astype(bool) if len(order) else np.zeros(0, dtype=bool)
        if not run.any():
            nan = np.full(len(self.w), np.nan)
            return {"cr_source": nan, "cr_raw": nan, "bpp": nan, "loss": nan, "bound": math.nan, "at": None}
        j = int(np.flatnonzero(run)[-1])
        out = {q: self.mean[q][:, order[j]] for q in ("cr_source", "cr_raw", "bpp")}
        return out | {"loss": loss[:, j], "bound": float(bound[j]), "at": int(order[j])}


def best_of(results: list[dict], key: str = "cr_source") -> dict:
    """Per resample, the result (of several curves) with the largest ``key``: the headline
    of an encoder over its scales and color modes, re-chosen in every resample."""
    if not results:
        return {}
    stack = np.stack([r[key] for r in results])
    has = np.isfinite(stack).any(axis=0)
    pick = np.argmax(np.where(np.isfinite(stack), stack, -np.inf), axis=0)
    cols = np.arange(stack.shape[1])
    out = {}
    for q in results[0]:
        if isinstance(results[0][q], np.ndarray):
            vals = np.stack([r[q] for r in results]).astype(np.float64)
            out[q] = np.where(has, vals[pick, cols], np.nan)
    out["curve"] = int(pick[0]) if has[0] else None
    return out
