"""``build_report``: every table of ``tables/`` (and every query file given), its intervals
and figures, then the summary and the HTML page."""

from __future__ import annotations

import logging
import pathlib
import re

from ..storage.cache import Cache
from .context import Context, load_context
from .database import VIEWS_SQL, materialize, parse_sql
from .gallery import build_gallery
from .prose import answer, provenance
from .render import Report
from .spec import TableSpec
from .tables import all_specs

log = logging.getLogger("codecsweep")


def build_report(
    files: dict[str, list],
    sql_files,
    out_dir="reports",
    summary=None,
    index_html=None,
    rejected=None,
    figure_workers: int = 0,
    cache_dir=None,
) -> Report:
    """Every table, figure and the summary of a run; ``figure_workers``: processes that draw
    the figures meanwhile (0: drawn in this one); ``cache_dir``: the run's cache, for the
    variant gallery (``gallery.html``; without it, none, and index.html says so), and where
    figures and thumbnails are kept, so that a report draws only those whose data changed."""
    cache = None if cache_dir is None else Cache(cache_dir)
    r = Report(pathlib.Path(out_dir), figure_workers, cache=cache)
    try:
        sql_files = sorted(map(pathlib.Path, sql_files))
        views = next((p for p in sql_files if p.name == "views.sql"), VIEWS_SQL)
        ctx = load_context(files, views)
        for spec, path in plan(all_specs(), [p for p in sql_files if p.name != "views.sql"]):
            _add_table(r, ctx, spec, path)
        _gallery(r, ctx, cache)
        _finish(r, ctx, summary, index_html, rejected)
    finally:
        try:
            r.close()
        finally:
            if cache is not None:
                cache.close()
    if cache is not None:
        for problem in cache.problems:
            if problem not in cache.index_problems:  # those the cache logged when it found them
                log.warning("cache: damaged copy not used (made again): %s", problem)
        log.info("report figures: %(drawn)d drawn, %(cached)d from the cache", r.figure_counts)
    return r


def plan(specs: list[TableSpec], sql_files: list[pathlib.Path]) -> list[tuple[TableSpec, pathlib.Path | None]]:
    """The report's tables in order: the query files in name order, each with its spec (a
    plain table without one), then the Python tables by (order, name)."""
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"report tables specified twice: {', '.join(twice)}")
    by_name = {s.name: s for s in specs}
    queries = {}
    for path in sql_files:
        name = parse_sql(path)[0]
        if name in queries:
            raise ValueError(f"two query files make the table {name}: {queries[name].name} and {path.name}")
        queries[name] = path
    missing = [s.name for s in specs if s.is_sql and s.name not in queries]
    if missing:
        raise FileNotFoundError(
            "report table(s) without their query file among the SQL files given: "
            + ", ".join(f"{n} (reports/sql/NN_{n}.sql)" for n in missing)
        )
    clash = [s.name for s in specs if not s.is_sql and s.name in queries]
    if clash:
        raise ValueError(f"report table(s) both made in Python and by a query file: {', '.join(clash)}")
    out = [(by_name.get(name, TableSpec(name)), path) for name, path in queries.items()]
    python = sorted((s for s in specs if not s.is_sql), key=lambda s: (s.order, s.name))
    return out + [(s, None) for s in python]


def _add_table(r: Report, ctx: Context, spec: TableSpec, path: pathlib.Path | None) -> None:
    """Run the spec's query (or its function), add its intervals, write it, queue its figures."""
    if path is None:
        df, title, notes, source = spec.make(ctx), spec.title, spec.notes, ""
    else:
        _, title, notes = parse_sql(path)
        text = path.read_text()
        df = ctx.con.execute(text).df()
        materialize(ctx.con, re.findall(r"CREATE OR REPLACE VIEW (\w+)", text))
        source = str(path)
    if spec.optional and not len(df):
        return
    if spec.intervals is not None:
        df = spec.intervals.apply(ctx, df)
    r.table(spec.name, title, notes, df, source=source)
    table = r.tables[spec.name]
    for fig in spec.figures:
        for draw, args, caption in fig.drawings(ctx, table):
            r.figure(draw, args, caption)


def _gallery(r: Report, ctx: Context, cache: Cache | None) -> None:
    """gallery.html beside index.html, linked from it; or the reason there is none."""
    if cache is None:
        r.links.append((None, "No variant gallery: the report was built without the cache (cache_dir)."))
    elif "param_table" not in r.tables:
        r.links.append((None, "No variant gallery: it needs the table param_table (reports/sql/10_param_table.sql)."))
    else:
        page = build_gallery(ctx.con, cache, r.out_dir)
        r.links.append((page.name, "Variant gallery: the headline settings and the next more compressed, as images"))


def _finish(r: Report, ctx: Context, summary, index_html, rejected) -> None:
    """rejected.csv, then summary.md and index.html (the answer, the provenance, every section)."""
    bad = ctx.con.execute(
        "SELECT dataset, image_id, source_path, error AS reason FROM images WHERE status <> 'ok' ORDER BY ALL"
    ).df()
    if rejected:
        bad.to_csv(rejected, index=False)
    lines = answer(r.tables, ctx.samples)
    bases = any(
        name in r.tables and "basis" in r.tables[name] and (r.tables[name].basis == "payload_bytes").any()
        for name in ("headline_bases", "bd_rate_bases", "codec_pairs", "bd_rate_pairs", "replication")
    )
    notes = provenance(ctx.con, ctx.held_out, len(bad), bases)
    r.write(lines, notes, summary or r.out_dir / "summary.md", index_html or r.out_dir / "index.html")
