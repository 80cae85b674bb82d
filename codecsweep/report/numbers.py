"""Numbers as the report prints them: rounding, a value with its bootstrap interval columns,
and the summary's '22.6× [13.6, 44]' form."""

from __future__ import annotations

import numpy as np

from .bootstrap import interval


def rounded(x, decimals: int):
    """``x`` rounded (Python's round: half to even), None where undefined."""
    return None if x is None or not np.isfinite(x) else round(float(x), decimals)


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
