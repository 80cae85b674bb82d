"""Reports: the DuckDB queries in ``reports/sql/`` over a run's Parquet files, the fits
that SQL cannot do (``analysis``), seaborn figures, and one HTML page.

Every ``NN_name.sql`` there holds one result query (optionally after statements that
define views for later files), a ``-- title:`` line and comments that say what it
computes; each becomes ``reports/tables/<name>.csv`` and ``.md`` and a section of
``reports/summary.md`` and ``reports/index.html``. ``reports/sql/views.sql`` defines the
same views for the duckdb CLI.
"""

from __future__ import annotations

import base64
import html
import logging
import pathlib

import duckdb
import pandas as pd

from . import analysis, figures

log = logging.getLogger("codecsweep")
#: Variants plotted in scatter figures at most (a reproducible sample beyond that).
MAX_POINTS = 50_000


def _sql_list(paths) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def connect(files: dict[str, list]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the views images, variants, predictions, metrics over
    exactly the given files (originals and variant predictions together in predictions)."""
    con = duckdb.connect()
    views = {
        "images": files["images"],
        "variants": files["variants"],
        "predictions": list(files["originals"]) + list(files["predictions"]),
        "metrics": files["metrics"],
    }
    for view, paths in views.items():
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet({_sql_list(paths)}, union_by_name=true)")
    return con


def parse_sql(path: pathlib.Path) -> tuple[str, str, str]:
    """(name, title, description) of a report query file."""
    title, notes = path.stem, []
    for line in path.read_text().splitlines():
        if not line.startswith("--"):
            break
        body = line[2:].strip()
        if body.startswith("title:"):
            title = body[6:].strip()
        else:
            notes.append(body)
    name = path.stem.split("_", 1)[1] if path.stem[:2].isdigit() else path.stem
    return name, title, " ".join(notes)


class Report:
    """Collects sections (title, notes, table, figures) and writes Markdown + HTML."""

    def __init__(self, out_dir: pathlib.Path):
        self.out_dir = out_dir
        self.tables_dir = out_dir / "tables"
        self.figures_dir = out_dir / "figures"
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        self.sections: list[dict] = []
        self.tables: dict[str, pd.DataFrame] = {}

    def table(self, name: str, title: str, notes: str, df: pd.DataFrame, source: str = "") -> None:
        self.tables[name] = df
        df.to_csv(self.tables_dir / f"{name}.csv", index=False)
        md = df.to_markdown(index=False) if len(df) else "(no rows)"
        (self.tables_dir / f"{name}.md").write_text(f"## {title}\n\n{notes}\n\n{md}\n")
        self.sections.append({"title": title, "notes": notes, "df": df, "name": name, "source": source, "figures": []})
        log.info("report table %s: %d rows", name, len(df))

    def figure(self, path: pathlib.Path | None, caption: str) -> None:
        if path is not None and self.sections:
            self.sections[-1]["figures"].append((path, caption))

    def write(self, summary_lines: list[str], summary_md, index_html) -> None:
        md = ["# codecsweep report", "", *summary_lines, ""]
        for s in self.sections:
            md += [f"## {s['title']}", "", s["notes"], ""]
            if s["source"]:
                md += [f"Query: `{s['source']}`; table: `reports/tables/{s['name']}.csv`", ""]
            md += [s["df"].to_markdown(index=False) if len(s["df"]) else "(no rows)", ""]
            md += [f"![{cap}](figures/{p.name})" for p, cap in s["figures"]] + [""]
        pathlib.Path(summary_md).write_text("\n".join(md))
        pathlib.Path(index_html).write_text(self._html(summary_lines))

    def _html(self, summary_lines) -> str:
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'><title>codecsweep report</title>",
            "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;"
            "padding:2px 6px;text-align:right}th{background:#f4f4f4}img{max-width:100%}"
            ".summary{background:#f7f7ff;padding:1em;border-radius:6px}"
            "details{margin:0.5em 0}</style></head><body><h1>codecsweep report</h1>",
            "<div class='summary'><ul>"
            + "".join(f"<li>{html.escape(x.lstrip('- '))}</li>" for x in summary_lines if x.strip())
            + "</ul></div>",
        ]
        for s in self.sections:
            parts.append(f"<h2>{html.escape(s['title'])}</h2><p>{html.escape(s['notes'])}</p>")
            for path, cap in s["figures"]:
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


def _knee_fits(curves: pd.DataFrame) -> pd.DataFrame:
    """accuracy = a + c·min(0, ln(x/knee)) per encoder at scale 1, RGB: x = bits per pixel
    for every codec, and x = the quality parameter for JPEG (the Helmholtz paper's axis)."""
    rows = []
    full = curves[(curves.scale == 1) & (curves.color == "rgb")]
    for (dataset, model, encoder), d in full.groupby(["dataset", "model", "encoder"], sort=True):
        axes = [("bpp", d.bpp_mean)]
        if encoder == "jpeg":
            axes.append(("jpeg quality", d.param.astype(float)))
        for axis, x in axes:
            fit = analysis.fit_log_knee(x, d.top1_agreement)
            if fit:
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "encoder": encoder,
                        "x": axis,
                        "c": round(fit["c"], 4),
                        "plateau": round(fit["a"], 4),
                        "knee": round(fit["knee"], 4),
                        "r2": round(fit["r2"], 3),
                        "points": fit["points"],
                    }
                )
    return pd.DataFrame(rows, columns=["dataset", "model", "encoder", "x", "c", "plateau", "knee", "r2", "points"])


def _bd_rates(curves: pd.DataFrame) -> pd.DataFrame:
    rows = []
    full = curves[(curves.scale == 1) & (curves.color == "rgb")]
    for (dataset, model), d in full.groupby(["dataset", "model"], sort=True):
        ref = d[d.encoder == "jpeg"]
        for encoder, t in d.groupby("encoder", sort=True):
            if encoder == "jpeg" or ref.empty:
                continue
            saving = analysis.bd_rate_saving(ref.bpp_mean, ref.top1_agreement, t.bpp_mean, t.top1_agreement)
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "encoder": encoder,
                    "vs": "jpeg",
                    "bitrate_change_at_equal_top1_agreement": None if saving is None else round(saving, 4),
                }
            )
    return pd.DataFrame(rows, columns=["dataset", "model", "encoder", "vs", "bitrate_change_at_equal_top1_agreement"])


def _kendall(points: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (dataset, model), d in points.groupby(["dataset", "model"], sort=True):
        for scope, s in [("all", d)] + list(d.groupby("encoder", sort=True)):
            for metric in ("psnr", "ssim", "ms_ssim", "lpips", "dfd"):
                sign = -1 if metric in ("lpips", "dfd") else 1
                tau = analysis.kendall(s[metric], s.rank_diff)
                tau_a = analysis.kendall(s[metric], s.top1_agrees.astype(float))
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "scope": scope,
                        "metric": metric,
                        "kendall_rank_diff": None if tau is None else round(tau, 4),
                        "kendall_top1_agreement": None if tau_a is None else round(tau_a, 4),
                        "predictive_power": None if tau is None else round(sign * tau, 4),
                    }
                )
    df = pd.DataFrame(rows)
    return df.sort_values(
        ["dataset", "model", "scope", "predictive_power"],
        ascending=[True, True, True, False],
        key=lambda c: c.map({"all": ""}).fillna(c) if c.name == "scope" else c,
    )


def _summary(r: Report) -> list[str]:
    """The headline numbers in words."""
    lines = []
    t = r.tables
    for row in t.get("headline", pd.DataFrame()).itertuples():
        name = figures.CODEC_LABELS.get(row.encoder, row.encoder)
        if pd.isna(row.max_cr_raw):
            lines.append(f"- {name} ({row.model}, {row.dataset}): no parameter set keeps the mean rank loss within 1.")
        else:
            lines.append(
                f"- {name} ({row.model}, {row.dataset}): compresses {row.max_cr_raw:g}x against raw pixels "
                f"({row.max_cr_source:g}x against the source files) with a mean rank loss within 1 "
                f"({row.at_raw}). The Rennes study: 7 / 16 / 40 for JPEG / JPEG 2000 / BPG."
            )
    corr = t.get("metric_correlation")
    if corr is not None and len(corr):
        overall = corr[corr.scope == "all"].dropna(subset=["predictive_power"])
        for (dataset, model), d in overall.groupby(["dataset", "model"], sort=True):
            ranking = ", ".join(f"{m} ({p:+.2f})" for m, p in zip(d.metric, d.predictive_power))
            lines.append(
                f"- Metrics ranked by how well they predict the rank difference ({model}, {dataset}; "
                f"Spearman, signed so that higher = better): {ranking}."
            )
    inv = t.get("threshold_invariance")
    if inv is not None and len(inv):
        for row in inv[inv.metric == "ssim"].itertuples():
            if pd.isna(row.encoder_ratio) or pd.isna(row.scale_ratio):
                lines.append(
                    f"- SSIM threshold per image ({row.model}, {row.dataset}): too few images with both "
                    "dropped and held variants to judge the study's invariance claim."
                )
                continue
            verdict = "holds" if max(row.encoder_ratio, row.scale_ratio) < 0.5 else "does not hold"
            lines.append(
                f"- SSIM threshold per image ({row.model}, {row.dataset}): separates dropped from held "
                f"variants with mean accuracy {row.mean_separation:g}; spread within an image across "
                f"encoders / scales is {row.encoder_ratio} / {row.scale_ratio} of the spread between "
                f"images: the study's invariance claim {verdict} here."
            )
    knees = t.get("knee_fits")
    if knees is not None and len(knees):
        for row in knees[knees.x == "bpp"].itertuples():
            lines.append(
                f"- {figures.CODEC_LABELS.get(row.encoder, row.encoder)} ({row.model}): top-1 agreement "
                f"falls as {row.c:+.3f}·ln(bpp) below a knee at {row.knee:.3g} bpp (R² {row.r2})."
            )
    return lines or ["- No classified variants: nothing to summarize."]


def build_report(
    files: dict[str, list], sql_files, out_dir="reports", summary=None, index_html=None, rejected=None
) -> Report:
    out_dir = pathlib.Path(out_dir)
    con = connect(files)
    r = Report(out_dir)
    points = _points(con)
    # Figures show one (dataset, model): the first in sorted order; the tables show all.
    primary = (
        None
        if points is None
        else points[["dataset", "model"]].drop_duplicates().sort_values(["dataset", "model"]).iloc[0].tolist()
    )

    def only_primary(df):
        return df if primary is None else df[(df.dataset == primary[0]) & (df.model == primary[1])]

    for sql_path in sorted(map(pathlib.Path, sql_files)):
        if sql_path.name == "views.sql":
            continue
        name, title, notes = parse_sql(sql_path)
        r.table(name, title, notes, con.execute(sql_path.read_text()).df(), source=str(sql_path))
        if name == "metric_correlation":
            r.figure(
                figures.metric_scatter(only_primary(points), r.figures_dir) if points is not None else None,
                "Each metric against the rank difference",
            )
        if name == "param_table" and len(r.tables[name]):
            r.figure(
                figures.compression_vs_rank(only_primary(r.tables[name]), r.figures_dir),
                "Rank difference vs compression",
            )
        if name == "curves" and len(r.tables[name]):
            r.figure(
                figures.accuracy_curves(only_primary(r.tables[name]), r.figures_dir), "Top-1 agreement along each grid"
            )
            r.figure(figures.rate_accuracy(only_primary(r.tables[name]), r.figures_dir), "Rate–accuracy per codec")
        if name == "thresholds" and points is not None:
            r.figure(
                figures.ssim_thresholds(only_primary(points), only_primary(r.tables[name]), r.figures_dir),
                "SSIM vs rank difference per image; dashed: the image's threshold",
            )
        if name == "overfitting" and len(r.tables[name]) and points is not None:
            best = (
                r.tables[name]
                .sort_values(["best_rank_diff", "dataset", "model"], ascending=[False, True, True])
                .iloc[0]
            )
            mine = points[(points.dataset == best.dataset) & (points.model == best.model)]
            r.figure(
                figures.overfitting(mine, best.image_id, r.figures_dir),
                f"Rank improvements: {best.image_id} ({best.model})",
            )
    curves = r.tables.get("curves", pd.DataFrame())
    if len(curves):
        r.table(
            "knee_fits",
            "Helmholtz accuracy = c·log(q) fit and its knee, per encoder (scale 1, RGB)",
            "Fit of top-1 agreement = plateau + c·min(0, ln(x / knee)) by least squares: flat above the knee, "
            "falling by c per unit of ln(x) below it (the Helmholtz paper's c·log(q) shape). x is bits per "
            "pixel for every codec, and the quality parameter for JPEG as in the paper.",
            _knee_fits(curves),
        )
        r.table(
            "bd_rate",
            "Bitrate saving against JPEG at equal top-1 agreement (Bjøntegaard-style)",
            "Mean difference of ln(bpp) between a codec and JPEG over their common range of top-1 agreement "
            "(scale 1, RGB; accuracy made monotone in rate; piecewise-linear), as a relative bitrate change: "
            "-0.30 means 30% fewer bits for the same agreement.",
            _bd_rates(curves),
        )
    if points is not None:
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
    lines = _summary(r)
    if rejected:
        bad.to_csv(rejected, index=False)
    if len(bad):
        lines.insert(0, f"- {len(bad)} image(s) were rejected and are not in the study: see reports/rejected.csv.")
    r.write(lines, summary or out_dir / "summary.md", index_html or out_dir / "index.html")
    return r


def _points(con) -> pd.DataFrame | None:
    """One row per classified variant with its metrics; beyond MAX_POINTS a fixed subset
    (by hash, so the same data give the same figures). None when nothing was classified."""
    df = con.execute(f"""
        SELECT p.dataset, p.model, p.image_id, p.encoder, p.scale, p.color, p.param, p.rank_diff,
               p.top1_agrees, v.cr_raw, v.bpp, m.psnr, m.ssim, m.ms_ssim, m.lpips, m.dfd
        FROM predictions p
        JOIN metrics m USING (dataset, image_id, encoder, scale, color, param)
        JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
        WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND m.status = 'ok' AND isfinite(m.psnr)
        ORDER BY hash(p.dataset, p.model, p.image_id, p.encoder, p.scale, p.color, p.param)
        LIMIT {MAX_POINTS}""").df()
    return df if len(df) else None
