"""The report's files: ``Report`` collects sections (title, notes, table, figures) and writes
``tables/<name>.csv|md``, ``summary.md`` and ``index.html``; figures are drawn here or in a
pool of worker processes, or copied from the cache when their data did not change."""

from __future__ import annotations

import base64
import html
import logging
import multiprocessing
import pathlib
import re
from concurrent.futures import Future, ProcessPoolExecutor

import pandas as pd

from ..storage.cache import CacheWriteError
from .figures import figure_key, from_cache, to_cache
from .numbers import settled_frame

log = logging.getLogger("codecsweep")
#: summary.md inlines tables up to this many rows and links the longer ones.
INLINE_ROWS = 15
#: index.html folds tables longer than this into a <details> element.
FOLD_ROWS = 40
STYLE = (
    "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;font-size:12px;margin:1em 0;display:block;overflow-x:auto;max-width:100%}td,th{border:1px solid #ccc;"
    "padding:2px 6px;text-align:right}th{background:#f4f4f4}img{max-width:100%}"
    ".summary{background:#f7f7ff;padding:1em;border-radius:6px}"
    "details{margin:0.5em 0}</style>"
)


def _md(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False) if len(df) else "(no rows)"


class Report:
    """Collects sections (title, notes, table, figures) and writes Markdown + HTML.

    With ``figure_workers`` > 0 the figures are drawn in that many worker processes (started
    with the first figure to draw) while this one goes on with the tables; with a ``cache``,
    a figure whose data, code and libraries it has seen is copied from it instead. The files
    are the same bytes either way."""

    def __init__(self, out_dir: pathlib.Path, figure_workers: int = 0, cache=None):
        self.out_dir = out_dir
        self._workers = figure_workers
        self._pool = None
        #: a ``storage.cache.Cache``: figures whose data it has seen are copied from it, the
        #: others drawn and stored in it (``figures.figure_key``)
        self.cache = cache
        #: figures drawn / copied from the cache
        self.figure_counts = {"drawn": 0, "cached": 0}
        self.tables_dir = out_dir / "tables"
        self.figures_dir = out_dir / "figures"
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        self.sections: list[dict] = []
        self.tables: dict[str, pd.DataFrame] = {}
        #: lines under the answer on index.html: (relative link or None, text)
        self.links: list[tuple[str | None, str]] = []

    def table(self, name: str, title: str, notes: str, df: pd.DataFrame, source: str = "") -> None:
        """Write ``tables/<name>.csv|md`` and keep the section. Every float is settled first
        (``numbers.settled``: no -0.0, no digit that depends on summation order): this is the
        one place all tables (SQL, intervals, Python) pass, so the same data gives the same bytes."""
        df = settled_frame(df.reset_index(drop=True))
        self.tables[name] = df
        df.to_csv(self.tables_dir / f"{name}.csv", index=False)
        (self.tables_dir / f"{name}.md").write_text(f"## {title}\n\n{notes}\n\n{_md(df)}\n")
        self.sections.append({"title": title, "notes": notes, "df": df, "name": name, "source": source, "figures": []})
        log.info("report table %s: %d rows", name, len(df))

    def figure(self, draw, args: tuple, caption: str) -> None:
        """A figure of the last section: ``draw(*args, figures_dir)`` returns its PNG's path
        (or None); copied from the cache, or called here or queued for a worker."""
        if not self.sections:
            return
        key = None if self.cache is None else figure_key(draw, args)
        path = None if key is None else from_cache(self.cache, key, self.figures_dir)
        if path is not None:
            self.figure_counts["cached"] += 1
            self.sections[-1]["figures"].append((path, caption, None, (), None))
            return
        self.figure_counts["drawn"] += 1
        if self._workers <= 0:
            path = draw(*args, self.figures_dir)
        else:
            if self._pool is None:
                # Spawned (forking a process with DuckDB's threads is unsafe), with the first
                # figure to draw: they import matplotlib while this process goes on. A spawned
                # worker imports the calling script again: scripts guard their work by __main__.
                self._pool = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))
            path = self._pool.submit(draw, *args, self.figures_dir)
        self.sections[-1]["figures"].append((path, caption, draw, args, key))

    def close(self) -> None:
        """Draw here the queued figures no worker has started (last first), wait for the rest
        (a failed one raises here), stop the workers and store the figures drawn in the cache."""
        try:
            queued = [(s, n) for s in self.sections for n in range(len(s["figures"]))]
            for s, n in reversed(queued):
                path, cap, draw, args, key = s["figures"][n]
                if isinstance(path, Future) and path.cancel():
                    s["figures"][n] = (draw(*args, self.figures_dir), cap, draw, args, key)
            for s in self.sections:
                done = [(p.result() if isinstance(p, Future) else p, cap, key) for p, cap, _, _, key in s["figures"]]
                s["figures"] = [(p, cap, None, (), key) for p, cap, key in done if p is not None]
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None
        self._store_figures()

    def _store_figures(self) -> None:
        """The figures drawn (not copied) into the cache; a cache that cannot be written only
        costs the next report their drawing."""
        if self.cache is None:
            return
        stored = set()
        try:
            for s in self.sections:
                for path, _, _, _, key in s["figures"]:
                    if key is not None and key not in stored:
                        to_cache(self.cache, key, path)
                        stored.add(key)
        except CacheWriteError as exc:
            log.warning("report figures not cached: %s", exc)
        for s in self.sections:
            s["figures"] = [(p, cap, None, (), None) for p, cap, *_ in s["figures"]]

    def write(self, answer: list[str], provenance: list[str], summary_md, index_html) -> None:
        self.close()
        md = ["# codecsweep report", "", *answer, "", "## Provenance and caveats", "", *provenance, ""]
        md += ["## Tables and figures", ""]
        for s in self.sections:
            md += self._section_md(s)
        pathlib.Path(summary_md).write_text("\n".join(md))
        pathlib.Path(index_html).write_text(self._html(answer, provenance))

    @staticmethod
    def _section_md(s: dict) -> list[str]:
        md = [f"### {s['title']}", "", s["notes"], ""]
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
        return md + [f"![{cap}](figures/{p.name})" for p, cap, *_ in s["figures"]] + [""]

    def _html(self, answer, provenance) -> str:
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'><title>codecsweep report</title>",
            STYLE + "</head><body><h1>codecsweep report</h1>",
            "<div class='summary'>" + lines_to_html(answer) + "</div>",
            *(
                f"<p><a href='{html.escape(href)}'>{html.escape(text)}</a></p>"
                if href
                else f"<p>{html.escape(text)}</p>"
                for href, text in self.links
            ),
            "<h2>Provenance and caveats</h2>" + lines_to_html(provenance),
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
            if len(s["df"]) > FOLD_ROWS:
                table = f"<details><summary>{len(s['df'])} rows</summary>{table}</details>"
            parts.append(table)
        parts.append("</body></html>")
        return "\n".join(parts)


def _inline(text: str) -> str:
    """Escaped text with Markdown's `code` and *emphasis* as HTML."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)


def _html_table(rows: list[str]) -> str:
    head, *body = [[_inline(c.strip()) for c in row.strip("|").split("|")] for row in rows if "---" not in row]
    return (
        "<table><tr>"
        + "".join(f"<th>{c}</th>" for c in head)
        + "</tr>"
        + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
        + "</table>"
    )


def lines_to_html(lines: list[str]) -> str:
    """The few Markdown forms the summary's opening uses: headings, bullets, tables, paragraphs."""
    out, table, items = [], [], []

    def flush():
        if table:
            out.append(_html_table(table))
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
