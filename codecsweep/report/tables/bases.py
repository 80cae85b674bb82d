"""The headline and the BD-rate on two rate bases: the whole file (``bytes``) and the codec's
own bits (``payload_bytes``). The query files (32_headline_bases.sql, 34_bd_rate_bases.sql) give
the rows; the columns here come from each (dataset, model)'s resamples on each basis
(``Context.on_basis``: the same images and resamples, the rates scaled variant by variant).

``criteria_results`` (every headline criterion per codec, per resample, on one basis) is shared
with the paired comparisons (``tables/pairs.py``) and computed once per basis."""

from __future__ import annotations

import pandas as pd

from ..context import BASES, Context
from ..numbers import estimate
from ..spec import Intervals, TableSpec
from .headline import ROBUST_RULE, STUDY_RULE, _criteria

#: The criteria the basis and paired tables compare: their heading (the summary's; the query
#: files list them) -> the criterion of "headline_criteria" -> its column in "headline_bases".
CRITERIA = {
    "study rule": STUDY_RULE,
    "robust rule": ROBUST_RULE,
    "accuracy −1 pt": "top-1 accuracy falls by > 1 pt",
    "agreement −1 pt": "top-1 agreement falls by > 1 pt",
    "accuracy −5 pt": "top-1 accuracy falls by > 5 pt",
    "agreement −5 pt": "top-1 agreement falls by > 5 pt",
}
COLUMNS = {
    "study rule": "study_rule",
    "robust rule": "robust_rule",
    "accuracy −1 pt": "accuracy_1pt",
    "agreement −1 pt": "agreement_1pt",
    "accuracy −5 pt": "accuracy_5pt",
    "agreement −5 pt": "agreement_5pt",
}


def criteria_results(ctx: Context, basis: str) -> dict[tuple[str, str], dict[str, dict[str, dict]]]:
    """(dataset, model) -> encoder -> heading of ``CRITERIA`` -> the criterion's result per
    resample (``cr_source``, ``bpp``, ...) on ``basis``; computed once per basis."""

    def compute():
        out = {}
        for key, s in ctx.on_basis(basis).items():
            out[key] = {}
            for (encoder,), cols in s.settings_by(["encoder"]):
                found = {name: res for name, res, _, _ in _criteria(s, encoder, cols) if res}
                out[key][encoder] = {h: found[c] for h, c in CRITERIA.items() if c in found}
        return out

    return ctx.memoized(("criteria", basis), compute)


def headline_bases_intervals(ctx: Context) -> pd.DataFrame:
    """Per (dataset, model, encoder, basis): the study rule's interval and every other criterion
    with its interval."""
    keys = ["dataset", "model", "encoder", "basis"]
    extra = [c for h, col in COLUMNS.items() if h != "study rule" for c in (col, f"{col}_lo", f"{col}_hi")]
    rows = []
    for basis in BASES:
        for (dataset, model), by_encoder in criteria_results(ctx, basis).items():
            for encoder, results in by_encoder.items():
                row = {"dataset": dataset, "model": model, "encoder": encoder, "basis": basis}
                for heading, col in COLUMNS.items():
                    if heading in results:
                        row |= estimate(col, results[heading]["cr_source"], 2)
                rows.append(row)
    return pd.DataFrame(rows, columns=keys + ["study_rule_lo", "study_rule_hi", *extra])


def bd_rate_bases_intervals(ctx: Context) -> pd.DataFrame:
    """The BD-rate against JPEG per RGB scale and measure, on each basis."""
    keys = ["dataset", "model", "scale", "color", "encoder", "vs", "at_equal", "basis"]
    rows = []
    for basis in BASES:
        for (dataset, model), s in ctx.on_basis(basis).items():
            for (scale,), _ in s.settings_by(["scale"]):
                ref = s.columns(encoder="jpeg", scale=scale, color="rgb")
                for (encoder,), _ in s.settings_by(["encoder"]):
                    test = s.columns(encoder=encoder, scale=scale, color="rgb")
                    if encoder == "jpeg" or not len(ref) or not len(test):
                        continue
                    for measure, what, n in s.measures():
                        row = dict(zip(keys, (dataset, model, scale, "rgb", encoder, "jpeg", what, basis)))
                        rows.append(row | {"images": n} | estimate("bitrate_change", s.bd_rate(ref, test, measure), 4))
    return pd.DataFrame(rows, columns=keys + ["images", "bitrate_change", "bitrate_change_lo", "bitrate_change_hi"])


TABLES = [
    TableSpec(
        "headline_bases",
        intervals=Intervals(
            headline_bases_intervals,
            ("dataset", "model", "encoder", "basis"),
            {"study_rule": 2},
            extra=tuple(c for h, col in COLUMNS.items() if h != "study rule" for c in (col, f"{col}_lo", f"{col}_hi")),
        ),
        optional=True,
    ),
    TableSpec(
        "bd_rate_bases",
        intervals=Intervals(
            bd_rate_bases_intervals,
            ("dataset", "model", "scale", "color", "encoder", "vs", "at_equal", "basis"),
            {},
            extra=("images", "bitrate_change", "bitrate_change_lo", "bitrate_change_hi"),
        ),
        optional=True,
    ),
]
