"""Reports: the DuckDB queries in ``reports/sql/`` over a run's Parquet files, bootstrap
intervals over images for every number they claim (``analysis.Sample``), the fits and
criteria SQL cannot do, seaborn figures, and ``summary.md`` + ``index.html``.

Every ``NN_name.sql`` there holds one result query (optionally after statements that
define views for later files), a ``-- title:`` line and comments that say what it
computes (``-- sql:`` lines are for SQL readers only); each becomes
``reports/tables/<name>.csv`` and ``.md`` and a section of the summary and the HTML page.
``reports/sql/views.sql`` defines the table views for the duckdb CLI and the derived views
both use. Nothing in the report depends on the clock or on the order of the input rows.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import math
import multiprocessing
import pathlib
import re
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
import pandas as pd

from ..core.metric_table import METRIC_INFO
from . import figures
from . import sample as analysis
from .bootstrap import RESAMPLES, SEED, images_to_halve, interval, means, resample_weights, spearman
from .database import RATE_NOTE, VIEWS_SQL, connect, materialize, parse_sql

log = logging.getLogger("codecsweep")
#: Variants plotted in scatter figures at most (a reproducible sample beyond that).
MAX_POINTS = 50_000
#: The Rennes study's headline (its rule, ratios against its source JPEG files).
STUDY_HEADLINE = {"jpeg": 7, "jpeg2000": 16, "hevc": 40}
#: Variants the correlation intervals resample at most (a fixed, even subset of the
#: figures' sample beyond that): ranks over resamples cost time per variant.
CORR_POINTS = 20_000
#: summary.md inlines tables up to this many rows and links the longer ones.
INLINE_ROWS = 15
#: A knee fit is stated in words only with this many points and images, and a slope whose
#: interval excludes 0.
FIT_MIN_POINTS, FIT_MIN_IMAGES = 6, 10
#: The invariance verdict needs thresholds of at least this many images.
INVARIANCE_MIN_IMAGES = 5
#: Why a metric column can be null everywhere.
NULL_REASONS = {
    "lpips": "the LPIPS backbone weights were not in the torch cache (the measure log says so)",
    "ms_ssim": "every image's shorter side is below 161 px",
    "ssim": "SSIM is undefined for images smaller than its 11x11 window (e.g. a 1x10000 strip)",
    "ssim_y": "SSIM is undefined for images smaller than its 11x11 window (or the column was not computed)",
}


def _warm_up() -> None:
    """A figure worker's first task: load the figures module (matplotlib, seaborn)."""
    from . import figures  # noqa: F401


def _md(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False) if len(df) else "(no rows)"


class Report:
    """Collects sections (title, notes, table, figures) and writes Markdown + HTML.

    With ``figure_workers`` > 0 the figures are drawn in that many worker processes while
    this one goes on with the tables (matplotlib is half of a report's time); the files are
    the same bytes either way."""

    def __init__(self, out_dir: pathlib.Path, figure_workers: int = 0):
        self.out_dir = out_dir
        self._pool = None
        if figure_workers > 0:
            # Spawned (forking a process with DuckDB's threads is unsafe), and started now so
            # they import matplotlib while this process reads the tables. A spawned worker
            # imports the calling script again: scripts guard their work by __main__.
            self._pool = ProcessPoolExecutor(figure_workers, mp_context=multiprocessing.get_context("spawn"))
            self._pool.submit(_warm_up)
        self.tables_dir = out_dir / "tables"
        self.figures_dir = out_dir / "figures"
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        self.sections: list[dict] = []
        self.tables: dict[str, pd.DataFrame] = {}

    def table(self, name: str, title: str, notes: str, df: pd.DataFrame, source: str = "") -> None:
        df = df.reset_index(drop=True)
        self.tables[name] = df
        df.to_csv(self.tables_dir / f"{name}.csv", index=False)
        (self.tables_dir / f"{name}.md").write_text(f"## {title}\n\n{notes}\n\n{_md(df)}\n")
        self.sections.append({"title": title, "notes": notes, "df": df, "name": name, "source": source, "figures": []})
        log.info("report table %s: %d rows", name, len(df))

    def figure(self, draw, args: tuple, caption: str) -> None:
        """A figure of the last section: ``draw(*args, figures_dir)`` returns its PNG's path
        (or None); called here or queued for a worker."""
        if not self.sections:
            return
        if self._pool is None:
            path = draw(*args, self.figures_dir)
        else:
            path = self._pool.submit(draw, *args, self.figures_dir)
        self.sections[-1]["figures"].append((path, caption, draw, args))

    def close(self) -> None:
        """Draw here the queued figures no worker has started (last first), wait for the rest
        (a failed one raises here) and stop the workers."""
        try:
            queued = [(s, n) for s in self.sections for n in range(len(s["figures"]))]
            for s, n in reversed(queued):
                path, cap, draw, args = s["figures"][n]
                if isinstance(path, Future) and path.cancel():
                    s["figures"][n] = (draw(*args, self.figures_dir), cap, draw, args)
            for s in self.sections:
                done = [(p.result() if isinstance(p, Future) else p, cap) for p, cap, *_ in s["figures"]]
                s["figures"] = [(p, cap, None, ()) for p, cap in done if p is not None]
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None

    def write(self, answer: list[str], provenance: list[str], summary_md, index_html) -> None:
        self.close()
        md = ["# codecsweep report", "", *answer, "", "## Provenance and caveats", "", *provenance, ""]
        md += ["## Tables and figures", ""]
        for s in self.sections:
            md += [f"### {s['title']}", "", s["notes"], ""]
            if s["source"]:
                md += [f"Query: `{pathlib.Path(s['source']).name}` in `reports/sql/`.", ""]
            if len(s["df"]) <= INLINE_ROWS:
                md += [_md(s["df"]), ""]
            else:
                md += [
                    f"{len(s['df'])} rows: [tables/{s['name']}.md](tables/{s['name']}.md), "
                    f"[tables/{s['name']}.csv](tables/{s['name']}.csv).",
                    "",
                ]
            md += [f"![{cap}](figures/{p.name})" for p, cap, *_ in s["figures"]] + [""]
        pathlib.Path(summary_md).write_text("\n".join(md))
        pathlib.Path(index_html).write_text(self._html(answer, provenance))

    def _html(self, answer, provenance) -> str:
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'><title>codecsweep report</title>",
            "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;font-size:12px;margin:1em 0;display:block;overflow-x:auto;max-width:100%}td,th{border:1px solid #ccc;"
            "padding:2px 6px;text-align:right}th{background:#f4f4f4}img{max-width:100%}"
            ".summary{background:#f7f7ff;padding:1em;border-radius:6px}"
            "details{margin:0.5em 0}</style></head><body><h1>codecsweep report</h1>",
            "<div class='summary'>" + _lines_to_html(answer) + "</div>",
            "<h2>Provenance and caveats</h2>" + _lines_to_html(provenance),
        ]
        for s in self.sections:
            parts.append(f"<h2>{html.escape(s['title'])}</h2><p>{html.escape(s['notes'])}</p>")
            for path, cap, *_ in s["figures"]:
                data = base64.b64encode(path.read_bytes()).decode()
                parts.append(
                    f"<figure><img alt='{html.escape(cap)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(cap)}</figcaption></figure>"
                )
            table = s["df"].to_html(index=False, na_rep="", border=0) if len(s["df"]) else "<p>(no rows)</p>"
            if len(s["df"]) > 40:
                table = f"<details><summary>{len(s['df'])} rows</summary>{table}</details>"
            parts.append(table)
        parts.append("</body></html>")
        return "\n".join(parts)


def _inline(text: str) -> str:
    """Escaped text with Markdown's `code` and *emphasis* as HTML."""
    import re

    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)


def _lines_to_html(lines: list[str]) -> str:
    """The few Markdown forms the summary's opening uses: headings, bullets, tables, paragraphs."""
    out, table, items = [], [], []

    def flush():
        if table:
            head, *body = [[_inline(c.strip()) for c in row.strip("|").split("|")] for row in table if "---" not in row]
            out.append(
                "<table><tr>"
                + "".join(f"<th>{c}</th>" for c in head)
                + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
                + "</table>"
            )
            table.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in items) + "</ul>")
            items.clear()

    for line in lines:
        if line.startswith("|"):
            table.append(line)
            continue
        if line.startswith("- "):
            items.append(line[2:])
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


# --- numbers with their intervals -------------------------------------------------------


def _round(x, decimals: int):
    return None if x is None or not np.isfinite(x) else round(float(x), decimals)


def _estimate(name: str, values, decimals: int) -> dict:
    """``name``: the full sample's value (``values[0]``), and ``name_lo`` / ``name_hi``: its 95%
    bootstrap interval over the resamples (``values[1:]``), all rounded."""
    lo, hi = interval(values)
    return {name: _round(values[0], decimals), f"{name}_lo": _round(lo, decimals), f"{name}_hi": _round(hi, decimals)}


def _fmt(v, lo=None, hi=None, unit: str = "", pct: bool = False, sign: str = "") -> str:
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


def _add_intervals(df: pd.DataFrame, intervals: pd.DataFrame, keys: list[str], decimals: dict[str, int]):
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


def _label(encoder: str) -> str:
    return figures.codec_label(encoder)


# --- the tables the SQL cannot make ---------------------------------------------------------


def _headline_criteria(samples: dict) -> pd.DataFrame:
    """Per encoder: the study's rule, the robust rule, and the rate at which top-1 accuracy
    (annotated images) and top-1 agreement fall by 1 and 5 points; each with its interval,
    where it was found, how many images it rests on and how many would halve its interval."""
    rows = []
    for (dataset, model), s in samples.items():
        for (encoder,), cols in s.groups(["encoder"]):
            curves = [key for key, _ in s.groups(["encoder", "scale", "color"]) if key[0] == encoder]
            curve_cols = [s.columns(encoder=e, scale=sc, color=c) for e, sc, c in curves]
            study = s.study_rule(cols)
            at = None if study["at"] is None else _setting(s.settings.iloc[study["at"]])
            crit = [("study rule: largest mean cr_source with mean rank loss <= 1", study, at, s.n)]
            robust = [s.robust_rule(c) for c in curve_cols]
            best = analysis.best_of(robust)
            at = None if best.get("curve") is None else robust[best["curve"]]["at"]
            at = None if at is None else _setting(s.settings.iloc[at])
            crit.append(("robust: passes with every less compressed setting (rank loss <= 1)", best, at, s.n))
            for measure, what, n in (("correct", "top-1 accuracy", s.annotated), ("agrees", "top-1 agreement", s.n)):
                for drop in analysis.DROPS:
                    best = analysis.best_of([s.rate_at_drop(c, measure, drop) for c in curve_cols])
                    at = None
                    if best.get("curve") is not None:
                        _, scale, color = curves[best["curve"]]
                        at = f"scale {scale:g} {color} curve"
                        if best["below_grid"][0] > 0:
                            at += " (no drop within the grid: at most this rate)"
                    crit.append((f"{what} falls by > {100 * drop:g} pt", best, at, n))
            for name, res, where, n in crit:
                if not res:
                    continue
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "encoder": encoder,
                        "criterion": name,
                        **_estimate("cr_source", res["cr_source"], 2),
                        "cr_raw": _round(res["cr_raw"][0], 2),
                        **_estimate("bpp", res["bpp"], 4),
                        "at": where,
                        "images": n,
                        "images_to_halve_interval": _round(images_to_halve(res["cr_source"], n), 0),
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "model",
            "encoder",
            "criterion",
            "cr_source",
            "cr_source_lo",
            "cr_source_hi",
            "cr_raw",
            "bpp",
            "bpp_lo",
            "bpp_hi",
            "at",
            "images",
            "images_to_halve_interval",
        ],
    )


def _setting(row) -> str:
    return f"scale {row.scale:g} {row.color} q={row.param}"


def _rate_thresholds(samples: dict) -> pd.DataFrame:
    rows = []
    for (dataset, model), s in samples.items():
        for (encoder, scale, color), cols in s.groups(["encoder", "scale", "color"]):
            for measure, what, n in (("correct", "top-1 accuracy", s.annotated), ("agrees", "top-1 agreement", s.n)):
                for drop in analysis.DROPS:
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
                            **_estimate("bpp", res["bpp"], 4),
                            **_estimate("cr_source", res["cr_source"], 2),
                            "below_grid": bool(res["below_grid"][0]),
                        }
                    )
    return pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "model",
            "encoder",
            "scale",
            "color",
            "measure",
            "drop_pt",
            "images",
            "bpp",
            "bpp_lo",
            "bpp_hi",
            "cr_source",
            "cr_source_lo",
            "cr_source_hi",
            "below_grid",
        ],
    )


def _bd_rates(samples: dict) -> pd.DataFrame:
    rows = []
    for (dataset, model), s in samples.items():
        for (scale, color), _ in s.groups(["scale", "color"]):
            if color != "rgb":
                continue
            ref = s.columns(encoder="jpeg", scale=scale, color=color)
            if not len(ref):
                continue
            for (encoder,), _ in s.groups(["encoder"]):
                test = s.columns(encoder=encoder, scale=scale, color=color)
                if encoder == "jpeg" or not len(test):
                    continue
                for measure, what, n in (
                    ("correct", "top-1 accuracy", s.annotated),
                    ("agrees", "top-1 agreement", s.n),
                ):
                    saving = s.bd_rate(ref, test, measure)
                    rows.append(
                        {
                            "dataset": dataset,
                            "model": model,
                            "scale": scale,
                            "color": color,
                            "encoder": encoder,
                            "vs": "jpeg",
                            "at_equal": what,
                            "images": n,
                            **_estimate("bitrate_change", saving, 4),
                        }
                    )
    return pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "model",
            "scale",
            "color",
            "encoder",
            "vs",
            "at_equal",
            "images",
            "bitrate_change",
            "bitrate_change_lo",
            "bitrate_change_hi",
        ],
    )


def _knee_fits(samples: dict) -> pd.DataFrame:
    """top-1 agreement = plateau + c·min(0, ln(x/knee)) per encoder at scale 1, RGB, on the
    sample and on every resample: x = bits per pixel, and the JPEG quality for JPEG."""
    rows = []
    for (dataset, model), s in samples.items():
        for (encoder,), _ in s.groups(["encoder"]):
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
                        "c": _round(fit["c"][0], 4),
                        "c_lo": _round(c_lo, 4),
                        "c_hi": _round(c_hi, 4),
                        "plateau": _round(fit["a"][0], 4),
                        **_estimate("knee", fit["knee"], 4),
                        "r2": _round(fit["r2"][0], 3),
                        "points": len(cols),
                        "images": s.n,
                        "supported": supported,
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "model",
            "encoder",
            "x",
            "c",
            "c_lo",
            "c_hi",
            "plateau",
            "knee",
            "knee_lo",
            "knee_hi",
            "r2",
            "points",
            "images",
            "supported",
        ],
    )


def _kendall(points: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["dataset", "model", "scope", "metric", "kendall_rank_diff", "kendall_top1_agreement", "predictive_power"]
    if points is None:
        return pd.DataFrame(columns=columns)
    rows = []
    for (dataset, model), d in points.groupby(["dataset", "model"], sort=True):
        for scope, sub in [("all", d)] + list(d.groupby("encoder", sort=True)):
            for m in METRIC_INFO:
                if m.name not in sub:
                    continue
                tau = analysis.kendall(sub[m.name], sub.rank_diff)
                tau_a = analysis.kendall(sub[m.name], sub.top1_agrees.astype(float))
                sign = 1 if m.higher_is_better else -1
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "scope": scope,
                        "metric": m.name,
                        "kendall_rank_diff": None if tau is None else round(tau, 4),
                        "kendall_top1_agreement": None if tau_a is None else round(tau_a, 4),
                        "predictive_power": None if tau is None else round(sign * tau, 4),
                    }
                )
    df = pd.DataFrame(rows, columns=columns)
    df["_all"] = df.scope != "all"
    df = df.sort_values(
        ["dataset", "model", "_all", "scope", "predictive_power", "metric"],
        ascending=[True, True, True, True, False, True],
        na_position="last",
    )
    return df.drop(columns="_all")


# --- intervals for the SQL tables ----------------------------------------------------------


def _setting_intervals(samples: dict) -> pd.DataFrame:
    parts = [s.setting_intervals().assign(dataset=ds, model=m) for (ds, m), s in samples.items()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["dataset", "model", *analysis.KEYS])


def _color_intervals(samples: dict) -> pd.DataFrame:
    rows = []
    for (ds, m), s in samples.items():
        for (color,), cols in s.groups(["color"]):
            row = {"dataset": ds, "model": m, "color": color}
            for name, q in (("rank_diff_mean", "rank_diff"), ("top1_agreement", "agrees")):
                row[f"{name}_lo"], row[f"{name}_hi"] = interval(s.pooled(cols, q))
            rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "model",
            "color",
            "rank_diff_mean_lo",
            "rank_diff_mean_hi",
            "top1_agreement_lo",
            "top1_agreement_hi",
        ],
    )


def _study_rule_intervals(samples: dict, by: list[str]) -> pd.DataFrame:
    rows = []
    for (ds, m), s in samples.items():
        for key, cols in s.groups(by):
            res = s.study_rule(cols)
            row = {"dataset": ds, "model": m, **dict(zip(by, key))}
            row["max_cr_source_lo"], row["max_cr_source_hi"] = interval(res["cr_source"])
            row["max_cr_raw_lo"], row["max_cr_raw_hi"] = interval(res["cr_raw"])
            if by != ["encoder"]:
                robust = s.robust_rule(cols)
                row["robust_cr_source"] = _round(robust["cr_source"][0], 2)
                row["robust_cr_source_lo"], row["robust_cr_source_hi"] = (
                    _round(v, 2) for v in interval(robust["cr_source"])
                )
                row["robust_param"] = None if robust["at"] is None else s.settings.param.iloc[robust["at"]]
            rows.append(row)
    return pd.DataFrame(
        rows,
        columns=["dataset", "model", *by, "max_cr_source_lo", "max_cr_source_hi", "max_cr_raw_lo", "max_cr_raw_hi"]
        + (
            ["robust_cr_source", "robust_cr_source_lo", "robust_cr_source_hi", "robust_param"]
            if by != ["encoder"]
            else []
        ),
    )


def _oracle_intervals(samples: dict) -> pd.DataFrame:
    rows = []
    for (ds, m), s in samples.items():
        scopes = [("(any)", np.arange(len(s.settings)))] + [(e, c) for (e,), c in s.groups(["encoder"])]
        for criterion in ("top-1 kept", "rank loss <= 1"):
            for scope, cols in scopes:
                res = s.oracle(cols, criterion)
                row = {"dataset": ds, "model": m, "criterion": criterion, "encoder": scope}
                for k in ("oracle_bpp", "fixed_bpp", "saving"):
                    row[f"{k}_lo"], row[f"{k}_hi"] = interval(res[k])
                rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "model",
            "criterion",
            "encoder",
            "oracle_bpp_lo",
            "oracle_bpp_hi",
            "fixed_bpp_lo",
            "fixed_bpp_hi",
            "saving_lo",
            "saving_hi",
        ],
    )


def _correlation_intervals(points: pd.DataFrame | None, samples: dict) -> pd.DataFrame:
    """Spearman's rho of each metric with the rank difference and with top-1 agreement,
    resampled over images (a variant counts as often as its image is drawn)."""
    columns = ["dataset", "model", "scope", "metric"] + [
        f"{n}_{side}" for n in ("spearman_rank_diff", "spearman_top1_agreement") for side in ("lo", "hi")
    ]
    rows = []
    if points is None:
        return pd.DataFrame(columns=columns)
    for (ds, m), d in points.groupby(["dataset", "model"], sort=True):
        s = samples.get((ds, m))
        if s is None:
            continue
        d = d.iloc[np.linspace(0, len(d) - 1, min(len(d), CORR_POINTS)).astype(int)]
        image = d.image_id.map({im: i for i, im in enumerate(s.images)}).to_numpy()
        for scope, sub in [("all", np.ones(len(d), dtype=bool))] + [
            (e, (d.encoder == e).to_numpy()) for e in sorted(d.encoder.unique())
        ]:
            for info in METRIC_INFO:
                if info.name not in d or not d[info.name].notna().any():
                    continue
                row = {"dataset": ds, "model": m, "scope": scope, "metric": info.name}
                for name, y in (("spearman_rank_diff", d.rank_diff), ("spearman_top1_agreement", d.top1_agrees)):
                    rho = spearman(d[info.name].to_numpy()[sub], y.to_numpy(dtype=float)[sub], image[sub], s.w)
                    row[f"{name}_lo"], row[f"{name}_hi"] = interval(rho)
                rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _invariance_intervals(con) -> pd.DataFrame:
    """Bootstrap over the images that have thresholds, of the invariance table's columns."""
    per_image = con.execute("""
        SELECT dataset, model, metric, image_id,
               any_value(threshold) FILTER (scope_kind = 'all') AS threshold,
               any_value(separation) FILTER (scope_kind = 'all') AS separation,
               stddev_pop(threshold) FILTER (scope_kind = 'encoder') AS across_encoders,
               stddev_pop(threshold) FILTER (scope_kind = 'scale') AS across_scales
        FROM thresholds GROUP BY ALL ORDER BY dataset, model, metric, image_id""").df()
    rows = []
    for (ds, m, metric), d in per_image.groupby(["dataset", "model", "metric"], sort=True):
        w = resample_weights(len(d))
        v = {c: d[c].to_numpy(dtype=np.float64, na_value=np.nan)[:, None] for c in d.columns[4:]}
        mean_t = means(w, v["threshold"])[:, 0]
        between = np.sqrt(np.maximum(means(w, v["threshold"] ** 2)[:, 0] - mean_t**2, 0))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = {
                "encoder_ratio": means(w, v["across_encoders"])[:, 0] / np.where(between > 0, between, np.nan),
                "scale_ratio": means(w, v["across_scales"])[:, 0] / np.where(between > 0, between, np.nan),
            }
        row = {"dataset": ds, "model": m, "metric": metric}
        for name, vals in [
            ("mean_separation", means(w, v["separation"])[:, 0]),
            ("between_images", between),
            *ratios.items(),
        ]:
            row[f"{name}_lo"], row[f"{name}_hi"] = interval(vals)
        rows.append(row)
    names = ["mean_separation", "between_images", "encoder_ratio", "scale_ratio"]
    return pd.DataFrame(
        rows, columns=["dataset", "model", "metric"] + [f"{n}_{s}" for n in names for s in ("lo", "hi")]
    )


# --- the summary ------------------------------------------------------------------------------


CRITERIA_SHOWN = {
    "study rule: largest mean cr_source with mean rank loss <= 1": "study rule",
    "robust: passes with every less compressed setting (rank loss <= 1)": "robust rule",
    "top-1 accuracy falls by > 1 pt": "accuracy −1 pt",
    "top-1 agreement falls by > 1 pt": "agreement −1 pt",
}


def _answer(r: Report, samples: dict) -> list[str]:
    """The opening of the summary: the headline per codec with intervals and criteria."""
    crit = r.tables.get("headline_criteria")
    if crit is None or not len(crit):
        return ["No classified variants: nothing to answer yet (see the provenance below and the status table)."]
    lines = []
    for (dataset, model), d in crit.groupby(["dataset", "model"], sort=True):
        s = samples[(dataset, model)]
        lines += [
            f"## How hard can an image be compressed before {model} notices? ({dataset})",
            "",
            f"Compression ratio against the source files (`cr_source`, the study's definition) with 95% bootstrap "
            f"intervals over images ({RESAMPLES} resamples); {s.n} images, {s.annotated} of them annotated. "
            "Criteria: *study rule* = the largest mean ratio whose mean rank loss is at most 1 (a maximum over a "
            "noisy grid); *robust rule* = the most compressed setting that passes together with every less "
            "compressed one; *accuracy / agreement −1 pt* = the rate at which top-1 accuracy against the labels "
            "(annotated images only) / top-1 agreement with the original's prediction (all images) falls by more "
            "than 1 point, interpolated on the rate curve. Each is the best over the codec's scales and color modes; "
            "— where no setting meets the criterion (or no annotated image) and ≥ where even the lowest rate "
            "tested meets it.",
            "",
            "| codec | " + " | ".join(CRITERIA_SHOWN.values()) + " |",
            "| --- |" + " --- |" * len(CRITERIA_SHOWN),
        ]
        for encoder, e in d.groupby("encoder", sort=True):
            cells = []
            for full in CRITERIA_SHOWN:
                row = e[e.criterion == full]
                if not len(row):
                    cells.append("—")
                    continue
                row = row.iloc[0]
                cell = _fmt(row.cr_source, row.cr_source_lo, row.cr_source_hi, "×")
                if row["at"] and "at most" in str(row["at"]):
                    cell = "≥ " + cell
                cells.append(cell + (f" ({row['at']})" if row["at"] and "q=" in str(row["at"]) else ""))
            lines.append(f"| {_label(encoder)} | " + " | ".join(cells) + " |")
        study = "; ".join(
            f"{_label(e)} {_fmt(d[(d.encoder == e) & d.criterion.str.startswith('study')].cr_source.iloc[0])}× "
            f"(study {v}×)"
            for e, v in STUDY_HEADLINE.items()
            if len(d[(d.encoder == e) & d.criterion.str.startswith("study")])
        )
        lines += [
            "",
            f"The Rennes study found 7 / 16 / 40 for JPEG / JPEG 2000 / BPG by its rule, against its source JPEG "
            f"files; here, like with like (`cr_source`): {study or 'none of those codecs ran'}. This run differs: "
            f"model {model} (the study: AlexNet), {s.n} images of {dataset} ({s.annotated} annotated, "
            f"{s.n - s.annotated} pseudo-labelled; the study: 55 annotated ImageNet JPEGs), a grid of "
            f"{len(s.settings)} settings (the study: 432).",
        ]
        lines += _oracle_lines(r, dataset, model) + _bd_lines(r, dataset, model) + _power_lines(d)
        lines += _fit_lines(r, dataset, model) + _metric_lines(r, dataset, model)
        lines.append("")
    return lines


def _oracle_lines(r, dataset, model) -> list[str]:
    o = r.tables.get("oracle")
    if o is None:
        return []
    o = o[(o.dataset == dataset) & (o.model == model) & (o.criterion == "top-1 kept")]
    if not len(o):
        return []
    row = o.iloc[0]
    return [
        "",
        f"Per-image oracle: choosing the setting per image (smallest file that keeps the original's top-1, any "
        f"codec; it keeps {100 * row.oracle_share:.0f}% of the images) instead of the best single fixed setting "
        f"({row.fixed_setting}, keeps {100 * row.fixed_share:.0f}%"
        + ("" if row.fixed_share >= row.oracle_share - 1e-9 else ": no fixed setting keeps as many")
        + f") would save {_fmt(row.saving, row.saving_lo, row.saving_hi, pct=True)} of the bits "
        f"({_fmt(row.oracle_bpp, row.oracle_bpp_lo, row.oracle_bpp_hi)} against "
        f"{_fmt(row.fixed_bpp, row.fixed_bpp_lo, row.fixed_bpp_hi)} bpp; {row.images} images). Per codec: "
        "the oracle table.",
    ]


def _bd_lines(r, dataset, model) -> list[str]:
    b = r.tables.get("bd_rate")
    if b is None:
        return []
    b = b[(b.dataset == dataset) & (b.model == model) & (b.scale == 1.0) & (b.at_equal == "top-1 agreement")]
    parts = [
        f"{_label(row.encoder)} {_fmt(row.bitrate_change, row.bitrate_change_lo, row.bitrate_change_hi, pct=True, sign='+')}"
        for row in b.itertuples()
        if row.bitrate_change is not None and np.isfinite(row.bitrate_change)
    ]
    if not parts:
        return []
    return [
        "",
        "Bits needed against JPEG at equal top-1 agreement (BD-rate, scale 1, RGB; negative = fewer): "
        + "; ".join(parts)
        + ".",
    ]


def _power_lines(crit: pd.DataFrame) -> list[str]:
    d = crit[crit.criterion.str.startswith("study") & crit.images_to_halve_interval.notna()]
    if not len(d):
        return [
            "",
            "How many images would halve the intervals cannot be estimated here (too few images, or no "
            "spread between resamples).",
        ]
    parts = [f"{_label(row.encoder)} {row.images_to_halve_interval:.0f}" for row in d.itertuples()]
    return [
        "",
        f"Images needed to halve the interval of the study-rule headline (now {int(d.images.iloc[0])}; "
        f"from the bootstrap spread): " + ", ".join(parts) + ".",
    ]


def _fit_lines(r, dataset, model) -> list[str]:
    k = r.tables.get("knee_fits")
    if k is None:
        return []
    k = k[(k.dataset == dataset) & (k.model == model) & (k.x == "bpp")]
    lines = []
    for row in k[k.supported].itertuples():
        drop = row.c * math.log(2) * 100
        lines.append(
            f"{_label(row.encoder)}: below about {row.knee:.3g} bpp [{row.knee_lo:.3g}, {row.knee_hi:.3g}], top-1 "
            f"agreement falls by {drop:.1f} points [{row.c_lo * math.log(2) * 100:.1f}, "
            f"{row.c_hi * math.log(2) * 100:.1f}] per halving of the bits ({row.points} points, {row.images} images)"
        )
    if lines:
        return ["", "Knee fits (scale 1, RGB): " + "; ".join(lines) + "."]
    return [
        "",
        f"No knee fit is stated: a fit needs at least {FIT_MIN_POINTS} points, {FIT_MIN_IMAGES} images "
        "and a slope whose interval excludes 0 (the fits are in the knee_fits table).",
    ]


def _metric_lines(r, dataset, model) -> list[str]:
    lines = []
    corr = r.tables.get("metric_correlation")
    if corr is not None and len(corr):
        higher = {m.name: m.higher_is_better for m in METRIC_INFO}
        d = corr[(corr.dataset == dataset) & (corr.model == model) & (corr.scope == "all")]
        d = d.dropna(subset=["predictive_power"])
        parts = []
        for row in d.itertuples():
            sign = 1 if higher.get(row.metric, True) else -1
            lo, hi = sorted((sign * row.spearman_rank_diff_lo, sign * row.spearman_rank_diff_hi))
            parts.append(f"{row.metric} {_fmt(row.predictive_power, lo, hi)}")
        if parts:
            lines += [
                "",
                "Metrics ranked by how well they predict the rank loss (Spearman, signed so that higher = "
                "better): " + ", ".join(parts) + ".",
            ]
    inv = r.tables.get("threshold_invariance")
    if inv is not None and len(inv):
        for row in inv[(inv.dataset == dataset) & (inv.model == model) & (inv.metric == "ssim")].itertuples():
            if pd.isna(row.encoder_ratio) or pd.isna(row.scale_ratio) or row.images < INVARIANCE_MIN_IMAGES:
                lines += [
                    "",
                    f"SSIM threshold per image: {row.images} image(s) with both dropped and held variants, too few "
                    f"(< {INVARIANCE_MIN_IMAGES}) to judge the study's invariance claim.",
                ]
                continue
            his = (row.encoder_ratio_hi, row.scale_ratio_hi)
            los = (row.encoder_ratio_lo, row.scale_ratio_lo)
            verdict = (
                "holds"
                if max(his) < 0.5
                else "does not hold"
                if min(los) >= 0.5
                else "cannot be decided with these images"
            )
            lines += [
                "",
                f"SSIM threshold per image ({row.images} images): spread within an image across encoders / "
                f"scales is {_fmt(row.encoder_ratio, row.encoder_ratio_lo, row.encoder_ratio_hi)} / "
                f"{_fmt(row.scale_ratio, row.scale_ratio_lo, row.scale_ratio_hi)} of the spread between "
                f"images (invariant: well below 0.5): the study's invariance claim {verdict}.",
            ]
    return lines


def _provenance(con, samples: dict) -> list[str]:
    """What the numbers rest on: inputs' identity, models, codec versions, images, grid,
    null columns, the rate. No dates: the same inputs give the same report."""
    lines = []
    ident = con.execute(
        "SELECT dataset, image_id, coalesce(source_sha256, '') FROM images WHERE status = 'ok' ORDER BY ALL"
    ).fetchall()
    digest = hashlib.sha256("\n".join(",".join(map(str, t)) for t in ident).encode()).hexdigest()[:16]
    images = con.execute("""
        SELECT dataset, count(*) FILTER (status = 'ok') AS ok,
               count(*) FILTER (status = 'ok' AND label_source = 'annotated') AS annotated,
               count(*) FILTER (status = 'ok' AND label_source <> 'annotated') AS pseudo,
               count(*) FILTER (status <> 'ok') AS rejected
        FROM images GROUP BY dataset ORDER BY dataset""").fetchall()
    lines.append(f"- Inputs: image set `{digest}` (sha256 over the images' ids and content hashes).")
    for ds, ok, ann, pseudo, rej in images:
        lines.append(f"- Images in {ds}: {ok} ({ann} annotated, {pseudo} pseudo-labelled), {rej} rejected.")
    models = [m for (m,) in con.execute("SELECT DISTINCT model FROM predictions ORDER BY model").fetchall()]
    lines.append(f"- Models: {', '.join(models) or 'none'}.")
    codecs = con.execute("""
        SELECT encoder, string_agg(DISTINCT coalesce(codec_version, 'unknown'), ', ' ORDER BY coalesce(codec_version, 'unknown')),
               count(DISTINCT (scale, color, param))
        FROM variants WHERE status = 'ok' GROUP BY encoder ORDER BY encoder""").fetchall()
    if codecs:
        lines.append(
            "- Codecs (version; settings in the grid): "
            + "; ".join(f"{_label(e)} ({v}; {n})" for e, v, n in codecs)
            + f"; {sum(n for *_, n in codecs)} settings in all."
        )
    present = {c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE metrics)").fetchall()}
    names = [m.name for m in METRIC_INFO if m.name in present]
    if names:
        counts = con.execute(
            "SELECT count(*), " + ", ".join(f"count({n})" for n in names) + " FROM metrics WHERE status = 'ok'"
        ).fetchone()
        if counts[0]:
            for n, c in zip(names, counts[1:]):
                if c == 0:
                    lines.append(f"- `{n}` is null everywhere: {NULL_REASONS.get(n, 'it was not computed')}.")
    lines.append(f"- Rates: every bpp and compression ratio counts {RATE_NOTE}; bpp is over the original's pixels.")
    lines.append(
        f"- Intervals: 95% percentile bootstrap over images ({RESAMPLES} resamples, seed {SEED}); "
        "images are the unit of sampling. Rates at a threshold are interpolated on the resample's curve."
    )
    return lines


# --- the report -------------------------------------------------------------------------------


def build_report(
    files: dict[str, list],
    sql_files,
    out_dir="reports",
    summary=None,
    index_html=None,
    rejected=None,
    figure_workers: int = 0,
) -> Report:
    """Every table, figure and the summary of a run; ``figure_workers``: processes that draw
    the figures meanwhile (0: drawn in this one)."""
    r = Report(pathlib.Path(out_dir), figure_workers)
    try:
        _build(r, files, sql_files, summary, index_html, rejected)
    finally:
        r.close()
    return r


def _build(r: Report, files: dict[str, list], sql_files, summary, index_html, rejected) -> None:
    out_dir = r.out_dir
    sql_files = sorted(map(pathlib.Path, sql_files))
    views = next((p for p in sql_files if p.name == "views.sql"), VIEWS_SQL)
    con = connect(files, views)
    materialize(con, ["observations", "originals"])
    obs = con.execute(
        "SELECT * FROM observations ORDER BY dataset, model, image_id, encoder, scale DESC, color DESC, param"
    ).df()
    originals = con.execute("SELECT * FROM originals ORDER BY dataset, model, image_id").df()
    samples = {
        (ds, m): analysis.Sample(d, originals[(originals.dataset == ds) & (originals.model == m)])
        for (ds, m), d in obs.groupby(["dataset", "model"], sort=True)
    }
    points = _points(con)
    # Figures show one (dataset, model): the first in sorted order; the tables show all.
    primary = next(iter(samples), None)

    def only_primary(df):
        return df if primary is None else df[(df.dataset == primary[0]) & (df.model == primary[1])]

    settings = ["dataset", "model", *analysis.KEYS]
    for sql_path in sql_files:
        if sql_path.name == "views.sql":
            continue
        name, title, notes = parse_sql(sql_path)
        text = sql_path.read_text()
        df = con.execute(text).df()
        materialize(con, re.findall(r"CREATE OR REPLACE VIEW (\w+)", text))
        if name == "param_table":
            df = _add_intervals(
                df,
                _setting_intervals(samples),
                settings,
                {
                    "rank_diff_mean": 2,
                    "cr_source_mean": 2,
                    "cr_raw_mean": 2,
                    "bpp_mean": 4,
                    "top1_agreement": 3,
                    "top1_accuracy": 3,
                },
            )
        elif name == "rgb_vs_gray":
            df = _add_intervals(
                df, _color_intervals(samples), ["dataset", "model", "color"], {"rank_diff_mean": 2, "top1_agreement": 3}
            )
        elif name == "headline":
            df = _add_intervals(
                df,
                _study_rule_intervals(samples, ["encoder"]),
                ["dataset", "model", "encoder"],
                {"max_cr_source": 2, "max_cr_raw": 2},
            )
        elif name == "headline_by_scale_color":
            by = ["encoder", "scale", "color"]
            extra = _study_rule_intervals(samples, by)
            df = _add_intervals(
                df,
                extra.drop(columns=[c for c in extra if c.startswith("robust")]),
                ["dataset", "model", *by],
                {"max_cr_source": 2, "max_cr_raw": 2},
            )
            if len(df):
                df = df.merge(
                    extra[["dataset", "model", *by] + [c for c in extra if c.startswith("robust")]],
                    on=["dataset", "model", *by],
                    how="left",
                )
        elif name == "threshold_invariance":
            df = _add_intervals(
                df,
                _invariance_intervals(con),
                ["dataset", "model", "metric"],
                {"mean_separation": 3, "between_images": 4, "encoder_ratio": 2, "scale_ratio": 2},
            )
        elif name == "curves":
            df = _add_intervals(
                df, _setting_intervals(samples), settings, {"top1_agreement": 4, "top1_accuracy": 4, "bpp_mean": 5}
            )
        elif name == "metric_correlation":
            df = _add_intervals(
                df,
                _correlation_intervals(points, samples),
                ["dataset", "model", "scope", "metric"],
                {"spearman_rank_diff": 3, "spearman_top1_agreement": 3},
            )
        elif name == "oracle":
            df = _add_intervals(
                df,
                _oracle_intervals(samples),
                ["dataset", "model", "criterion", "encoder"],
                {"oracle_bpp": 5, "fixed_bpp": 5, "saving": 4},
            )
        r.table(name, title, notes, df, source=str(sql_path))
        if name == "metric_correlation":
            r.figure(
                figures.metric_scatter,
                (None if points is None else only_primary(points),),
                "Each metric against the rank difference",
            )
        if name == "param_table":
            r.figure(figures.compression_vs_rank, (only_primary(df),), "Rank difference vs compression")
        if name == "curves":
            r.figure(
                figures.accuracy_curves,
                (only_primary(df),),
                f"Top-1 agreement and accuracy against bits per pixel, per scale (rate: {RATE_NOTE})",
            )
            r.figure(figures.rate_accuracy, (only_primary(df),), f"Rate–accuracy at scale 1, RGB (rate: {RATE_NOTE})")
        if name == "oracle":
            r.figure(figures.oracle, (only_primary(df),), f"Per-image oracle vs best fixed setting (rate: {RATE_NOTE})")
        if name == "thresholds":
            r.figure(
                figures.ssim_thresholds,
                (None if points is None else only_primary(points), only_primary(df)),
                "SSIM vs rank difference per image; dashed: the image's threshold",
            )
        if name == "overfitting":
            best = None
            if len(df) and points is not None:
                best = df.sort_values(
                    ["best_rank_diff", "dataset", "model", "image_id", "encoder"],
                    ascending=[False, True, True, True, True],
                ).iloc[0]
            mine = None if best is None else points[(points.dataset == best.dataset) & (points.model == best.model)]
            r.figure(
                figures.overfitting,
                (mine, None if best is None else best.image_id),
                "Rank improvements under compression" + ("" if best is None else f": {best.image_id} ({best.model})"),
            )
    r.table(
        "headline_criteria",
        "The headline per encoder by every criterion, with intervals",
        "Compression ratio against the source files (cr_source; cr_raw against raw pixels) and bpp, by the study's "
        "rule, the robust rule (no isolated passes) and the rates at which top-1 accuracy (annotated images only) "
        "and top-1 agreement (all images) fall by more than 1 and 5 points (interpolated in log rate on the curve; "
        "the best of the encoder's scales and color modes, re-chosen in every resample). images: how many images "
        "the number rests on; images_to_halve_interval: from the bootstrap spread of cr_source. 95% bootstrap "
        "intervals over images in *_lo / *_hi.",
        _headline_criteria(samples),
    )
    r.table(
        "rate_thresholds",
        "Rate at which top-1 accuracy / agreement falls by more than 1 and 5 points, per curve",
        "Per encoder, scale and color: the lowest bpp above which the measure never falls more than the drop "
        "below the originals' (accuracy: the originals' top-1 accuracy on the annotated images; agreement: 1), "
        "interpolated in log bpp between the last failing and the first passing setting; below_grid: no setting "
        "fails, the answer is at most the lowest rate tested. 95% bootstrap intervals over images.",
        _rate_thresholds(samples),
    )
    r.table(
        "bd_rate",
        "Bitrate change against JPEG at equal top-1 accuracy and agreement (Bjøntegaard-style)",
        "Mean difference of ln(bpp) between a codec and JPEG over their common range of the measure (accuracy "
        "made monotone in rate; piecewise-linear), as a relative bitrate change: -0.30 means 30% fewer bits for "
        "the same accuracy. Per scale, RGB; 95% bootstrap intervals over images (the curves re-computed in every "
        "resample).",
        _bd_rates(samples),
    )
    r.figure(figures.bd_rate, (only_primary(r.tables["bd_rate"]),), "BD-rate against JPEG with 95% intervals")
    r.table(
        "knee_fits",
        "Helmholtz accuracy = c·log(q) fit and its knee, per encoder (scale 1, RGB)",
        "Fit of top-1 agreement = plateau + c·min(0, ln(x / knee)) by least squares: flat above the knee, "
        "falling by c per unit of ln(x) below it (c·ln 2: per halving). x is bits per pixel for every codec, and "
        f"the quality parameter for JPEG as in the paper. supported: at least {FIT_MIN_POINTS} points, "
        f"{FIT_MIN_IMAGES} images and a slope interval above 0; only those are stated in the summary.",
        _knee_fits(samples),
    )
    r.table(
        "metric_kendall",
        "Which quality metric predicts the classifier's degradation (Kendall)",
        "Kendall's tau-b (scipy) of each metric with rank difference and with top-1 agreement; "
        "predictive_power signed so that larger = better predictor.",
        _kendall(points),
    )
    bad = con.execute(
        "SELECT dataset, image_id, source_path, error AS reason FROM images WHERE status <> 'ok' ORDER BY ALL"
    ).df()
    answer = _answer(r, samples)
    provenance = _provenance(con, samples)
    if rejected:
        bad.to_csv(rejected, index=False)
    if len(bad):
        provenance.insert(0, f"- {len(bad)} image(s) were rejected and are not in the study: see reports/rejected.csv.")
    if files.get("splits"):
        n = con.execute("SELECT count(*) FROM calibration_images").fetchone()[0]
        provenance.insert(
            0,
            f"- Held out: {n} calibration image(s) that jpeg_mo's quantization tables were tuned on are left out "
            "of every number here, for every codec (results/splits/).",
        )
    r.write(answer, provenance, summary or out_dir / "summary.md", index_html or out_dir / "index.html")


def _points(con) -> pd.DataFrame | None:
    """One row per classified variant with its metrics; beyond MAX_POINTS a fixed subset
    (by hash, so the same data give the same figures). None when nothing was classified."""
    present = {c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE metrics)").fetchall()}
    cols = ", ".join(f"m.{m.name}" for m in METRIC_INFO if m.name in present)
    df = con.execute(f"""
        SELECT p.dataset, p.model, p.image_id, p.encoder, p.scale, p.color, p.param, p.rank_diff,
               p.top1_agrees, v.cr_raw, v.bpp, {cols}
        FROM predictions p
        JOIN metrics m USING (dataset, image_id, encoder, scale, color, param)
        JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
        WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND m.status = 'ok' AND isfinite(m.psnr)
        ORDER BY hash(p.dataset, p.model, p.image_id, p.encoder, p.scale, p.color, p.param),
                 p.dataset, p.model, p.image_id, p.encoder, p.scale, p.color, p.param
        LIMIT {MAX_POINTS}""").df()
    if not len(df):
        return None
    # The sample in a fixed order (the hash picks which rows, the keys order them).
    return df.sort_values(["dataset", "model", "image_id", "encoder", "scale", "color", "param"]).reset_index(drop=True)
