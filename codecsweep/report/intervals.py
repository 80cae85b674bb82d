"""95% bootstrap intervals over images for the numbers of the SQL tables.

The SQL computes each point estimate; the functions here compute its interval from the
``Sample`` of each (dataset, model) (the same rule re-applied in every resample) and return
``*_lo`` / ``*_hi`` columns keyed like the table, which ``add_intervals`` merges in. A
table's spec says which function, which keys and which columns (``spec.Intervals``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.metric_table import METRIC_INFO
from .bootstrap import interval, means, resample_weights, spearman_pairs
from .context import Context
from .numbers import rounded
from .sample import KEYS

#: Variants the correlation intervals resample at most (a fixed, even subset of the
#: figures' sample beyond that): ranks over resamples cost time per variant.
CORR_POINTS = 20_000


def add_intervals(df: pd.DataFrame, intervals: pd.DataFrame, keys: list[str], decimals: dict[str, int]):
    """Merge *_lo / *_hi columns into ``df`` on ``keys``, each right after its column."""
    if not len(df):
        for name in decimals:
            df[f"{name}_lo"], df[f"{name}_hi"] = [], []
        return df
    merged = df.merge(intervals, on=keys, how="left")
    cols = []
    for c in df.columns:
        cols.append(c)
        if c in decimals:
            for side in ("lo", "hi"):
                merged[f"{c}_{side}"] = merged[f"{c}_{side}"].astype(float).round(decimals[c])
                cols.append(f"{c}_{side}")
    return merged[cols]


def setting_intervals(ctx: Context) -> pd.DataFrame:
    """Every per-setting mean (param_table, curves)."""
    parts = [s.setting_intervals().assign(dataset=ds, model=m) for (ds, m), s in ctx.samples.items()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["dataset", "model", *KEYS])


def color_intervals(ctx: Context) -> pd.DataFrame:
    """Per color mode, the means over all its variants pooled (rgb_vs_gray)."""
    rows = []
    for (ds, m), s in ctx.samples.items():
        for (color,), cols in s.settings_by(["color"]):
            row = {"dataset": ds, "model": m, "color": color}
            for name, q in (("rank_diff_mean", "rank_diff"), ("top1_agreement", "agrees")):
                row[f"{name}_lo"], row[f"{name}_hi"] = interval(s.pooled(cols, q))
            rows.append(row)
    names = ["rank_diff_mean", "top1_agreement"]
    return pd.DataFrame(rows, columns=["dataset", "model", "color"] + [f"{n}_{s}" for n in names for s in ("lo", "hi")])


def headline_intervals(ctx: Context) -> pd.DataFrame:
    """The study's rule per encoder (headline)."""
    return _study_rule_intervals(ctx, ["encoder"])


def by_scale_color_intervals(ctx: Context) -> pd.DataFrame:
    """The study's rule per encoder, scale and color, and the robust rule beside it
    (headline_by_scale_color: the robust_* columns are added as they are)."""
    return _study_rule_intervals(ctx, ["encoder", "scale", "color"])


def _study_rule_intervals(ctx: Context, by: list[str]) -> pd.DataFrame:
    robust = by != ["encoder"]
    rows = []
    for (ds, m), s in ctx.samples.items():
        for key, cols in s.settings_by(by):
            res = s.study_rule(cols)
            row = {"dataset": ds, "model": m, **dict(zip(by, key))}
            row["max_cr_source_lo"], row["max_cr_source_hi"] = interval(res["cr_source"])
            row["max_cr_raw_lo"], row["max_cr_raw_hi"] = interval(res["cr_raw"])
            if robust:
                rule = s.robust_rule(cols)
                row["robust_cr_source"] = rounded(rule["cr_source"][0], 2)
                row["robust_cr_source_lo"], row["robust_cr_source_hi"] = (
                    rounded(v, 2) for v in interval(rule["cr_source"])
                )
                row["robust_param"] = None if rule["at"] is None else s.settings.param.iloc[rule["at"]]
            rows.append(row)
    columns = ["dataset", "model", *by, "max_cr_source_lo", "max_cr_source_hi", "max_cr_raw_lo", "max_cr_raw_hi"]
    if robust:
        columns += ["robust_cr_source", "robust_cr_source_lo", "robust_cr_source_hi", "robust_param"]
    return pd.DataFrame(rows, columns=columns)


def oracle_intervals(ctx: Context) -> pd.DataFrame:
    """The per-image oracle against the best fixed setting, any codec and per codec (oracle)."""
    rows = []
    for (ds, m), s in ctx.samples.items():
        scopes = [("(any)", np.arange(len(s.settings)))] + [(e, c) for (e,), c in s.settings_by(["encoder"])]
        for criterion in ("top-1 kept", "rank loss <= 1"):
            for scope, cols in scopes:
                res = s.oracle(cols, criterion)
                row = {"dataset": ds, "model": m, "criterion": criterion, "encoder": scope}
                for k in ("oracle_bpp", "fixed_bpp", "saving"):
                    row[f"{k}_lo"], row[f"{k}_hi"] = interval(res[k])
                rows.append(row)
    names = ["oracle_bpp", "fixed_bpp", "saving"]
    return pd.DataFrame(
        rows, columns=["dataset", "model", "criterion", "encoder"] + [f"{n}_{s}" for n in names for s in ("lo", "hi")]
    )


def correlation_intervals(ctx: Context) -> pd.DataFrame:
    """Spearman's rho of each metric with the rank difference and with top-1 agreement,
    resampled over images (a variant counts as often as its image is drawn)."""
    names = ("spearman_rank_diff", "spearman_top1_agreement")
    columns = ["dataset", "model", "scope", "metric"] + [f"{n}_{side}" for n in names for side in ("lo", "hi")]
    rows = []
    if ctx.points is None:
        return pd.DataFrame(columns=columns)
    for (ds, m), d in ctx.points.groupby(["dataset", "model"], sort=True):
        s = ctx.samples.get((ds, m))
        if s is None:
            continue
        d = d.iloc[np.linspace(0, len(d) - 1, min(len(d), CORR_POINTS)).astype(int)]
        image = d.image_id.map({im: i for i, im in enumerate(s.images)}).to_numpy()
        infos = [info for info in METRIC_INFO if info.name in d and d[info.name].notna().any()]
        for scope, sub in [("all", np.ones(len(d), dtype=bool))] + [
            (e, (d.encoder == e).to_numpy()) for e in sorted(d.encoder.unique())
        ]:
            xs = {info.name: d[info.name].to_numpy()[sub] for info in infos}
            ys = {name: y.to_numpy(dtype=float)[sub] for name, y in zip(names, (d.rank_diff, d.top1_agrees))}
            rho = spearman_pairs(xs, ys, image[sub], s.w)  # each side ranked once, not once per pair
            for info in infos:
                row = {"dataset": ds, "model": m, "scope": scope, "metric": info.name}
                for name in names:
                    row[f"{name}_lo"], row[f"{name}_hi"] = interval(rho[info.name, name])
                rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def invariance_intervals(ctx: Context) -> pd.DataFrame:
    """Bootstrap over the images that have thresholds, of the invariance table's columns:
    over the per-image thresholds of the view ``threshold_per_image``, which
    41_threshold_invariance.sql defines and its own point estimates use."""
    per_image = ctx.con.execute("SELECT * FROM threshold_per_image ORDER BY dataset, model, metric, image_id").df()
    names = ["mean_separation", "between_images", "encoder_ratio", "scale_ratio"]
    rows = []
    for (ds, m, metric), d in per_image.groupby(["dataset", "model", "metric"], sort=True):
        w = resample_weights(len(d))
        v = {c: d[c].to_numpy(dtype=np.float64, na_value=np.nan)[:, None] for c in d.columns[4:]}
        mean_t = means(w, v["threshold"])[:, 0]
        between = np.sqrt(np.maximum(means(w, v["threshold"] ** 2)[:, 0] - mean_t**2, 0))
        spread = np.where(between > 0, between, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            encoder_ratio = means(w, v["across_encoders"])[:, 0] / spread
            scale_ratio = means(w, v["across_scales"])[:, 0] / spread
        row = {"dataset": ds, "model": m, "metric": metric}
        for name, vals in zip(names, (means(w, v["separation"])[:, 0], between, encoder_ratio, scale_ratio)):
            row[f"{name}_lo"], row[f"{name}_hi"] = interval(vals)
        rows.append(row)
    return pd.DataFrame(
        rows, columns=["dataset", "model", "metric"] + [f"{n}_{s}" for n in names for s in ("lo", "hi")]
    )
