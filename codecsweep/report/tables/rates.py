"""Rates the SQL cannot compute (Python, each number with its bootstrap interval): where
accuracy falls per curve, BD-rates against JPEG, and the Helmholtz knee fits."""

from __future__ import annotations

import pandas as pd

from ..bootstrap import interval
from ..context import Context
from ..figures import bd_rate as bd_rate_figure
from ..numbers import estimate, rounded
from ..sample import DROPS
from ..spec import Figure, TableSpec

#: A knee fit is stated in words only with this many points and images, and a slope whose
#: interval excludes 0.
FIT_MIN_POINTS, FIT_MIN_IMAGES = 6, 10


def rate_thresholds(ctx: Context) -> pd.DataFrame:
    rows = []
    for (dataset, model), s in ctx.samples.items():
        for (encoder, scale, color), cols in s.settings_by(["encoder", "scale", "color"]):
            for measure, what, n in s.measures():
                for drop in DROPS:
                    res = s.rate_at_drop(cols, measure, drop)
                    rows.append(
                        {
                            "dataset": dataset,
                            "model": model,
                            "encoder": encoder,
                            "scale": scale,
                            "color": color,
                            "measure": what,
                            "drop_pt": 100 * drop,
                            "images": n,
                            **estimate("bpp", res["bpp"], 4),
                            **estimate("cr_source", res["cr_source"], 2),
                            "below_grid": bool(res["below_grid"][0]),
                        }
                    )
    keys = ["dataset", "model", "encoder", "scale", "color", "measure", "drop_pt", "images"]
    return pd.DataFrame(rows, columns=keys + [*_with_interval("bpp"), *_with_interval("cr_source"), "below_grid"])


def bd_rates(ctx: Context) -> pd.DataFrame:
    rows = []
    for (dataset, model), s in ctx.samples.items():
        for (scale, color), _ in s.settings_by(["scale", "color"]):
            ref = s.columns(encoder="jpeg", scale=scale, color=color)
            if color != "rgb" or not len(ref):
                continue
            for (encoder,), _ in s.settings_by(["encoder"]):
                test = s.columns(encoder=encoder, scale=scale, color=color)
                if encoder == "jpeg" or not len(test):
                    continue
                for measure, what, n in s.measures():
                    row = {"dataset": dataset, "model": model, "scale": scale, "color": color, "encoder": encoder}
                    row |= {"vs": "jpeg", "at_equal": what, "images": n}
                    rows.append(row | estimate("bitrate_change", s.bd_rate(ref, test, measure), 4))
    keys = ["dataset", "model", "scale", "color", "encoder", "vs", "at_equal", "images"]
    return pd.DataFrame(rows, columns=keys + _with_interval("bitrate_change"))


def knee_fits(ctx: Context) -> pd.DataFrame:
    """top-1 agreement = plateau + c·min(0, ln(x/knee)) per encoder at scale 1, RGB, on the
    sample and on every resample: x = bits per pixel, and the JPEG quality for JPEG."""
    rows = []
    for (dataset, model), s in ctx.samples.items():
        for (encoder,), _ in s.settings_by(["encoder"]):
            cols = s.columns(encoder=encoder, scale=1.0, color="rgb")
            for axis, x in [("bpp", "bpp")] + ([("jpeg quality", "param")] if encoder == "jpeg" else []):
                fit = s.knee_fit(cols, "agrees", x)
                if fit is None:
                    continue
                c_lo, c_hi = interval(fit["c"])  # unrounded: the support test reads c_lo
                supported = len(cols) >= FIT_MIN_POINTS and s.n >= FIT_MIN_IMAGES and bool(c_lo > 0)
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "encoder": encoder,
                        "x": axis,
                        "c": rounded(fit["c"][0], 4),
                        "c_lo": rounded(c_lo, 4),
                        "c_hi": rounded(c_hi, 4),
                        "plateau": rounded(fit["a"][0], 4),
                        **estimate("knee", fit["knee"], 4),
                        "r2": rounded(fit["r2"][0], 3),
                        "points": len(cols),
                        "images": s.n,
                        "supported": supported,
                    }
                )
    columns = ["dataset", "model", "encoder", "x", *_with_interval("c"), "plateau", *_with_interval("knee")]
    return pd.DataFrame(rows, columns=columns + ["r2", "points", "images", "supported"])


def _with_interval(name: str) -> list[str]:
    return [name, f"{name}_lo", f"{name}_hi"]


TABLES = [
    TableSpec(
        "rate_thresholds",
        make=rate_thresholds,
        order=20,
        title="Rate at which top-1 accuracy / agreement falls by more than 1 and 5 points, per curve",
        notes="Per encoder, scale and color: the lowest bpp above which the measure never falls more than the drop "
        "below the originals' (accuracy: the originals' top-1 accuracy on the annotated images; agreement: 1), "
        "interpolated in log bpp between the last failing and the first passing setting; below_grid: no setting "
        "fails, the answer is at most the lowest rate tested. 95% bootstrap intervals over images.",
    ),
    TableSpec(
        "bd_rate",
        make=bd_rates,
        order=30,
        title="Bitrate change against JPEG at equal top-1 accuracy and agreement (Bjøntegaard-style)",
        notes="Mean difference of ln(bpp) between a codec and JPEG over their common range of the measure (accuracy "
        "made monotone in rate; piecewise-linear), as a relative bitrate change: -0.30 means 30% fewer bits for "
        "the same accuracy. Per scale, RGB; 95% bootstrap intervals over images (the curves re-computed in every "
        "resample).",
        figures=(Figure(bd_rate_figure, "BD-rate against JPEG with 95% intervals"),),
    ),
    TableSpec(
        "knee_fits",
        make=knee_fits,
        order=40,
        title="Helmholtz accuracy = c·log(q) fit and its knee, per encoder (scale 1, RGB)",
        notes="Fit of top-1 agreement = plateau + c·min(0, ln(x / knee)) by least squares: flat above the knee, "
        "falling by c per unit of ln(x) below it (c·ln 2: per halving). x is bits per pixel for every codec, and "
        f"the quality parameter for JPEG as in the paper. supported: at least {FIT_MIN_POINTS} points, "
        f"{FIT_MIN_IMAGES} images and a slope interval above 0; only those are stated in the summary.",
    ),
]
