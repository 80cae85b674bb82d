"""Numbers as the report prints them: settled (the same data gives the same digits), rounding,
a value with its bootstrap interval columns, and the summary's '22.6× [13.6, 44]' form."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bootstrap import interval

#: Significant digits a computed number keeps before it is rounded or written. The last bits
#: of a float sum depend on the order of its terms (DuckDB aggregates in parallel threads, in
#: an order that changes from run to run), so digits beyond these are noise, not data.
SIGNIFICANT = 12


def settled(x: float) -> float:
    """``x`` cut to ``SIGNIFICANT`` digits, and -0.0 as 0.0: a correlation that is exactly 0
    comes out of a parallel sum as ±1e-16, and its sign says only where the noise fell.
    A number of at most 12 significant digits (every rounded one) is unchanged."""
    if not np.isfinite(x):
        return x
    return float(f"{x:.{SIGNIFICANT}g}") + 0.0  # + 0.0 turns -0.0 into 0.0, nothing else


def settled_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every float settled (``settled``): what the report writes and reads on."""
    out = df.copy()
    for name in out.columns:
        col = out[name]
        if pd.api.types.is_float_dtype(col.dtype):
            values = [settled(x) for x in col.to_numpy(dtype=np.float64, na_value=np.nan)]
            out[name] = pd.Series(values, index=out.index, dtype=np.float64).astype(col.dtype)
        elif col.dtype == object:
            out[name] = [settled(float(x)) if isinstance(x, float | np.floating) else x for x in col]
    return out


def rounded(x, decimals: int):
    """``x`` settled, then rounded (Python's round: half to even), None where undefined; never -0.0."""
    return None if x is None or not np.isfinite(x) else round(settled(float(x)), decimals) + 0.0


def estimate(name: str, values, decimals: int) -> dict:
    """``name``: the full sample's value (``values[0]``), and ``name_lo`` / ``name_hi``: its 95%
    bootstrap interval over the resamples (``values[1:]``), all rounded."""
    lo, hi = interval(values)
    return {
        name: rounded(values[0], decimals),
        f"{name}_lo": rounded(lo, decimals),
        f"{name}_hi": rounded(hi, decimals),
    }


def fmt(v, lo=None, hi=None, unit: str = "", pct: bool = False, sign: str = "") -> str:
    """'22.6× [13.6, 44]', '-35% [-50, -20]'; '—' for undefined."""

    def f(x):
        if x is None or not np.isfinite(x):
            return "—"
        if pct:
            return f"{100 * x:{sign}.0f}"
        return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"  # 1550, not 1.55e+03

    if v is None or not np.isfinite(v):
        return "—"
    text = f(v) + ("%" if pct else unit)
    if lo is not None and np.isfinite(lo) and np.isfinite(hi):
        text += f" [{f(lo)}, {f(hi)}]"
    return text


def setting_label(row) -> str:
    """'scale 0.5 rgb q=50': a setting as the tables name it."""
    return f"scale {row.scale:g} {row.color} q={row.param}"
