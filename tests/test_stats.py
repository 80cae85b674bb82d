"""The bootstrap and the criteria on data whose answer is known: coverage of a true mean,
a grid with an isolated pass, a rate curve interpolated by hand, a codec with half the
bits, the knee fit against a brute-force second implementation and on a curve of known
parameters, the vectorized BD-rate against a one-curve second implementation (np.interp)."""

import math

import numpy as np
import pandas as pd
import pytest

from codecsweep.report import bootstrap as stats
from codecsweep.report import sample as analysis


def _log_rate_of_accuracy(bpp, acc):
    """ln(bpp) as a function of accuracy: points sorted by rate, accuracy made monotone
    (the running maximum from low rates: a higher rate is never counted as less accurate)."""
    order = np.argsort(bpp, kind="stable")
    rate = np.log(np.asarray(bpp, dtype=np.float64)[order])
    quality = np.maximum.accumulate(np.asarray(acc, dtype=np.float64)[order])
    keep = np.concatenate([[True], np.diff(quality) > 0])  # one rate per accuracy level: the lowest
    return quality[keep], rate[keep]


def bd_rate_reference(ref_bpp, ref_acc, test_bpp, test_acc, samples: int = 200) -> float | None:
    """The BD-rate of one pair of curves written independently of ``bootstrap.bd_rate_many``:
    log rate as a function of accuracy by np.interp, averaged over the common accuracy range."""
    qa, ra = _log_rate_of_accuracy(ref_bpp, ref_acc)
    qb, rb = _log_rate_of_accuracy(test_bpp, test_acc)
    lo, hi = max(qa.min(), qb.min()), min(qa.max(), qb.max())
    if len(qa) < 2 or len(qb) < 2 or hi <= lo:
        return None
    grid = np.linspace(lo, hi, samples)
    return float(math.exp(np.mean(np.interp(grid, qb, rb) - np.interp(grid, qa, ra))) - 1)


def _obs(per_image: dict[str, list[tuple]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """observations / originals frames: {image: [(encoder, scale, param, index, bpp, agrees, rank_diff, correct)]}."""
    rows = [
        {
            "image_id": image,
            "encoder": e,
            "scale": s,
            "color": "rgb",
            "param": p,
            "param_index": k,
            "bpp": b,
            "cr_raw": 24 / b,
            "cr_source": 10 / b,
            "agrees": a,
            "rank_diff": r,
            "correct": c,
        }
        for image, variants in per_image.items()
        for e, s, p, k, b, a, r, c in variants
    ]
    originals = pd.DataFrame({"image_id": sorted(per_image), "correct": [1.0] * len(per_image)})
    return pd.DataFrame(rows), originals


def test_interval_covers_the_true_mean_in_at_least_90_of_100_fixtures():
    covered = 0
    for seed in range(100):
        values = np.random.default_rng(seed).normal(2.0, 3.0, 30)  # 30 images, true mean 2
        lo, hi = stats.interval(stats.means(stats.resample_weights(30), values[:, None])[:, 0])
        covered += lo <= 2.0 <= hi
    assert covered >= 90, covered


def test_interval_of_a_setting_mean_through_sample_covers_the_truth():
    covered = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        agrees = rng.random(40) < 0.7  # true agreement 0.7
        obs, orig = _obs({f"i{i}": [("jpeg", 1.0, "50", 0, 1.0, float(a), 0, 1.0)] for i, a in enumerate(agrees)})
        s = analysis.Sample(obs, orig)
        lo, hi = stats.interval(s.mean["agrees"][:, 0])
        assert s.mean["agrees"][0, 0] == pytest.approx(agrees.mean())
        covered += lo <= 0.7 <= hi
    assert covered >= 90, covered


def test_resamples_are_reproducible_and_row_zero_is_the_sample():
    w = stats.resample_weights(7)
    assert np.array_equal(w, stats.resample_weights(7)) and w.shape == (stats.RESAMPLES + 1, 7)
    assert (w[0] == 1).all() and (w.sum(axis=1) == 7).all()


def test_robust_rule_skips_an_isolated_pass():
    # JPEG q10 fails, q12 passes alone, q14 fails, q20 and q30 pass (mean rank difference; -1 passes).
    grid = [("10", 0, 0.10, -3), ("12", 1, 0.12, 0), ("14", 2, 0.14, -2), ("20", 3, 0.20, -1), ("30", 4, 0.30, 0)]
    obs, orig = _obs({f"i{i}": [("jpeg", 1.0, p, k, b, 1.0, r, 1.0) for p, k, b, r in grid] for i in range(5)})
    s = analysis.Sample(obs, orig)
    cols = s.columns(encoder="jpeg")
    study, robust = s.study_rule(cols), s.robust_rule(cols)
    assert s.settings.param[study["at"]] == "12" and study["cr_source"][0] == pytest.approx(10 / 0.12)
    assert s.settings.param[robust["at"]] == "20" and robust["cr_source"][0] == pytest.approx(10 / 0.20)
    assert np.allclose(robust["cr_source"], 50.0)  # every image alike: every resample alike


def test_rate_at_drop_interpolates_in_log_rate():
    bpp = np.log(np.array([[0.1, 0.2, 0.4, 0.8]]))
    acc = np.array([[0.5, 0.9, 0.97, 0.98]])
    ref = np.array([0.98])
    x, j, t = stats.rate_at_drop(bpp, acc, ref, 0.01)  # target 0.97: first reached at 0.4
    assert math.exp(x[0]) == pytest.approx(0.4) and j[0] == 2
    x, *_ = stats.rate_at_drop(bpp, acc, ref, 0.05)  # target 0.93: 3/7 of the way from 0.2 to 0.4 in log
    assert math.exp(x[0]) == pytest.approx(0.2 * 2 ** (0.03 / 0.07))
    isolated = np.array([[0.5, 0.99, 0.9, 0.98]])  # 0.2 passes alone: the tail starts at 0.8
    x, *_ = stats.rate_at_drop(bpp, isolated, ref, 0.01)
    assert math.exp(x[0]) == pytest.approx(0.4 * 2 ** (0.07 / 0.08))
    x, j, _ = stats.rate_at_drop(bpp, np.array([[0.99, 0.99, 0.99, 0.99]]), ref, 0.01)
    assert math.exp(x[0]) == pytest.approx(0.1) and j[0] == 0  # no drop within the grid: a bound
    x, *_ = stats.rate_at_drop(bpp, np.array([[0.5, 0.6, 0.7, 0.8]]), ref, 0.01)
    assert np.isnan(x[0])  # even the highest rate fails


def test_bd_rate_with_intervals_on_a_codec_with_half_the_bits():
    rng = np.random.default_rng(3)
    bpp = [0.1, 0.2, 0.4, 0.8, 1.6]
    images = {}
    for i in range(20):
        c = math.exp(rng.normal(0, 0.3))
        agree = [float(rng.random() < p) for p in (0.2, 0.5, 0.7, 0.85, 0.95)]
        images[f"i{i}"] = [("jpeg", 1.0, str(k), k, b * c, a, 0, a) for k, (b, a) in enumerate(zip(bpp, agree))] + [
            ("half", 1.0, str(k), k, b * c / 2, a, 0, a) for k, (b, a) in enumerate(zip(bpp, agree))
        ]
    s = analysis.Sample(*_obs(images))
    saving = s.bd_rate(s.columns(encoder="jpeg"), s.columns(encoder="half"), "agrees")
    lo, hi = stats.interval(saving)
    assert saving[0] == pytest.approx(-0.5) and lo == pytest.approx(-0.5) and hi == pytest.approx(-0.5)
    # The one-curve version (benchmarks): half the bits, a quarter more, no common accuracy range.
    acc = np.array([0.2, 0.5, 0.7, 0.85, 0.95])
    bpp = np.array(bpp)
    assert analysis.bd_rate_saving(bpp, acc, bpp / 2, acc) == pytest.approx(-0.5)
    assert analysis.bd_rate_saving(bpp, acc, bpp * 1.25, acc) == pytest.approx(0.25)
    assert analysis.bd_rate_saving(bpp, acc, bpp, acc + 2) is None


def test_vectorized_knee_fit_matches_a_brute_force_least_squares():
    rng = np.random.default_rng(5)
    x = np.array([0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0])
    ys = 0.9 + 0.2 * np.minimum(0, np.log(x / 0.3)) + rng.normal(0, 0.02, (4, len(x)))
    fit = stats.fit_log_knee_many(np.broadcast_to(x, ys.shape), ys, candidates=50)
    for row, y in enumerate(ys):
        best = None
        for knee in np.exp(np.linspace(np.log(x.min()), np.log(x.max()), 50)):
            design = np.column_stack([np.ones_like(x), np.minimum(0.0, np.log(x / knee))])
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            sse = float(np.sum((design @ coef - y) ** 2))
            if best is None or sse < best[0] - 1e-12:
                best = (sse, knee, coef)
        assert fit["knee"][row] == pytest.approx(best[1])
        assert (fit["a"][row], fit["c"][row]) == pytest.approx(tuple(best[2]), abs=1e-9)
    # A curve of known parameters (slightly noisy, JPEG qualities as x) is recovered.
    q = np.array([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 25, 30, 40, 50], dtype=float)
    c, knee, plateau = 0.21, 12.0, 0.93
    acc = plateau + c * np.minimum(0, np.log(q / knee)) + np.random.default_rng(1).normal(0, 0.004, len(q))
    fit = {k: float(v[0]) for k, v in stats.fit_log_knee_many(q[None, :], acc[None, :]).items()}
    assert fit["c"] == pytest.approx(c, rel=0.05)
    assert fit["knee"] == pytest.approx(knee, rel=0.1)
    assert fit["a"] == pytest.approx(plateau, abs=0.01) and fit["r2"] > 0.99
    # Sample.knee_fit states no fit from fewer than 3 points.
    two = [("jpeg", 1.0, p, k, b, a, 0, a) for p, k, b, a in [("10", 0, 0.1, 0.5), ("50", 1, 0.4, 0.9)]]
    s = analysis.Sample(*_obs({f"i{i}": two for i in range(5)}))
    assert s.knee_fit(s.columns(encoder="jpeg")) is None
    three = two + [("jpeg", 1.0, "90", 2, 1.6, 1.0, 0, 1.0)]
    s = analysis.Sample(*_obs({f"i{i}": three for i in range(5)}))
    assert s.knee_fit(s.columns(encoder="jpeg"))["knee"].shape == (stats.RESAMPLES + 1,)


def test_images_to_halve_is_about_four_times_the_sample():
    values = np.random.default_rng(8).normal(0, 1, 50)
    need = stats.images_to_halve(stats.means(stats.resample_weights(50), values[:, None])[:, 0], 50)
    assert 150 <= need <= 260
    assert np.isnan(stats.images_to_halve(np.ones(10), 1))


def test_weighted_spearman_equals_scipy_on_the_sample_and_on_a_resample():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(11)
    groups = np.repeat(np.arange(6), 5)  # 6 images x 5 variants, with ties
    x, y = rng.integers(0, 6, 30).astype(float), rng.integers(-3, 2, 30).astype(float)
    w = np.vstack([np.ones(6), [2, 0, 1, 0, 3, 0]])
    rho = stats.spearman(x, y, groups, w)
    assert rho[0] == pytest.approx(spearmanr(x, y).statistic)
    copies = np.repeat(np.arange(30), w[1][groups].astype(int))  # the resample written out
    assert rho[1] == pytest.approx(spearmanr(x[copies], y[copies]).statistic)


def test_vectorized_bd_rate_equals_the_one_curve_version():
    rng = np.random.default_rng(21)
    ref_bpp, test_bpp = np.exp(rng.normal(0, 1, (300, 7))), np.exp(rng.normal(-0.3, 1, (300, 9)))
    ref_q, test_q = rng.integers(0, 6, (300, 7)) / 5, rng.integers(0, 6, (300, 9)) / 5  # plateaus and ties
    many = stats.bd_rate_many(ref_bpp, ref_q, test_bpp, test_q)
    for r in range(300):
        one = bd_rate_reference(ref_bpp[r], ref_q[r], test_bpp[r], test_q[r])
        assert (np.isnan(many[r]) and one is None) or many[r] == pytest.approx(one, rel=1e-9, abs=1e-12), r
        shipped = analysis.bd_rate_saving(
            ref_bpp[r], ref_q[r], test_bpp[r], test_q[r]
        )  # one curve, as benchmarks use it
        assert (shipped is None and one is None) or shipped == pytest.approx(one, rel=1e-9, abs=1e-12), r


@pytest.mark.parametrize("seed", range(6))
def test_kendall_tau_b_is_scipys(seed):
    """The report's Kendall tau-b (hand-written to spare the scipy.stats import) gives
    scipy's number, ties on either side and constant sides included."""
    from scipy.stats import kendalltau

    from codecsweep.report.sample import kendall, kendall_tau_b

    rng = np.random.default_rng(seed)
    n = [3, 10, 57, 200, 1000, 5][seed]
    x = rng.integers(0, 1 + n // 4, n).astype(float)  # many ties
    y = x * 0.5 + rng.normal(0, 1, n).round(1)
    assert kendall_tau_b(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12, nan_ok=True)
    assert kendall_tau_b(y, x) == pytest.approx(kendalltau(y, x).statistic, abs=1e-12, nan_ok=True)
    assert kendall(np.ones(n), y) is None  # a constant side: no tau
