"""Criteria that fit the sample (36_tolerance.sql): the most compression whose loss is not
significantly above k points, by a one-sided bootstrap (``Sample.tolerance_rule``). The query
file gives the rows, the resolution and the images a criterion needs; the criteria themselves
(measure, side, k) are its view ``tolerance_criteria``, which the columns here follow."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..context import Context
from ..numbers import estimate, rounded, setting_label
from ..spec import Intervals, TableSpec

KEYS = ("dataset", "model", "encoder", "measure", "side", "k_pt")
VALUES = ("cr_source", "cr_source_lo", "cr_source_hi", "bpp", "bpp_lo", "bpp_hi", "at", "loss_pt", "loss_bound_pt")


def tolerance_intervals(ctx: Context) -> pd.DataFrame:
    """Per codec and criterion of ``tolerance_criteria``: the chosen setting's means with their
    intervals, where it is, its loss and the bound the test used (best curve by the sample)."""
    columns = [*KEYS, *VALUES]
    if not ctx.con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'tolerance_criteria'").fetchone()[0]:
        return pd.DataFrame(columns=columns)
    criteria = ctx.con.execute("SELECT measure, side, k_pt FROM tolerance_criteria ORDER BY k").fetchall()
    rows = []
    for (dataset, model), s in ctx.samples.items():
        quantity = {what: q for q, what, _ in s.measures()}
        for (encoder,), _ in s.settings_by(["encoder"]):
            curves = [c for key, c in s.settings_by(["encoder", "scale", "color"]) if key[0] == encoder]
            for measure, side, k in criteria:
                res = [s.tolerance_rule(c, quantity[measure], k, side) for c in curves]
                best = max(res, key=lambda r: r["cr_source"][0] if np.isfinite(r["cr_source"][0]) else -np.inf)
                row = dict(zip(KEYS, (dataset, model, encoder, measure, side, k)))
                row |= estimate("cr_source", best["cr_source"], 2) | estimate("bpp", best["bpp"], 4)
                row["at"] = None if best["at"] is None else setting_label(s.settings.iloc[best["at"]])
                row |= {"loss_pt": rounded(best["loss"][0], 1), "loss_bound_pt": rounded(best["bound"], 1)}
                rows.append(row)
    return pd.DataFrame(rows, columns=columns)


TABLES = [
    TableSpec("tolerance", intervals=Intervals(tolerance_intervals, KEYS, {}, extra=VALUES), optional=True),
]
