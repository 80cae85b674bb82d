"""The report's BD-rate (``bootstrap.bd_rate_many``, ``sample.bd_rate_saving``) against the
``bjontegaard`` package (a test reference only: the ``test`` extra of pyproject.toml).

Ours: log rate as a function of quality, piecewise linear between the measured points
(quality made monotone), its mean difference over the common quality range at 200 evenly
spaced levels, as exp(mean) - 1. bjontegaard 1.3.0 offers "cubic" (the classic polynomial),
"pchip" and "akima"; its "akima" on two points per curve is a straight line
(``make_interp_spline(k=1)``), integrated exactly: there the methods coincide (the mean of a
straight line over evenly spaced levels is its integral mean) and agree within 1e-6. With more
points no bjontegaard method is piecewise linear: the last test says how far they are apart."""

import warnings

import numpy as np
import pytest
import scipy.interpolate

bd = pytest.importorskip("bjontegaard")

from codecsweep.report.bootstrap import bd_rate_many  # noqa: E402
from codecsweep.report.sample import bd_rate_saving  # noqa: E402


def _reference(ref_bpp, ref_q, test_bpp, test_q, method="akima") -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its overlap warning (we integrate any overlap)
        return bd.bd_rate(ref_bpp, ref_q, test_bpp, test_q, method=method, min_overlap=0) / 100


TWO_POINT_CURVES = [
    # (ref bpp, ref quality, test bpp, test quality)
    ([0.2, 1.0], [0.5, 0.8], [0.15, 0.7], [0.55, 0.85]),
    ([0.1, 2.0], [0.2, 0.9], [0.3, 1.5], [0.3, 0.7]),
    ([0.05, 0.4], [0.1, 0.6], [0.04, 0.5], [0.2, 0.75]),
]


@pytest.mark.parametrize("curves", TWO_POINT_CURVES)
def test_two_point_curves_equal_bjontegaard_akima(curves):
    ours = bd_rate_saving(*curves)
    assert ours == pytest.approx(_reference(*curves), abs=1e-6)


def test_bd_rate_many_rows_equal_bjontegaard():
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(20):
        rb = np.sort(rng.uniform(0.05, 2.0, 2))
        tb = np.sort(rng.uniform(0.05, 2.0, 2))
        rq, tq = np.sort(rng.uniform(0.1, 0.9, 2)), np.sort(rng.uniform(0.1, 0.9, 2))
        tq = np.clip(tq, rq[0] + 0.01, rq[1] - 0.01) if tq[1] <= rq[0] or tq[0] >= rq[1] else tq
        rows.append((rb, rq, tb, tq))
    ours = bd_rate_many(*(np.array([r[k] for r in rows]) for k in range(4)))
    theirs = [_reference(*r) for r in rows]
    finite = np.isfinite(ours)
    assert finite.sum() >= 15
    np.testing.assert_allclose(ours[finite], np.array(theirs)[finite], atol=1e-6)


def test_many_point_curves_piecewise_linear_and_how_far_the_splines_are():
    """Five points per curve: ours is the exact piecewise-linear integral up to its 200-level
    sampling (within 1e-3 here); bjontegaard's splines bend between the points and differ by
    about a percentage point, which is the difference of methods, not an error."""
    ref = (np.array([0.1, 0.2, 0.4, 0.8, 1.6]), np.array([0.30, 0.50, 0.65, 0.75, 0.80]))
    test = (np.array([0.08, 0.15, 0.3, 0.6, 1.2]), np.array([0.32, 0.52, 0.66, 0.76, 0.82]))
    ours = bd_rate_saving(*ref, *test)
    lo, hi = max(ref[1][0], test[1][0]), min(ref[1][-1], test[1][-1])
    lin = [scipy.interpolate.make_interp_spline(q, np.log(b), k=1) for b, q in (ref, test)]
    exact = np.exp((lin[1].integrate(lo, hi) - lin[0].integrate(lo, hi)) / (hi - lo)) - 1
    assert ours == pytest.approx(exact, abs=1e-3)
    for method in ("akima", "pchip", "cubic"):
        assert abs(ours - _reference(*ref, *test, method=method)) < 0.03, method
