"""Reports: the DuckDB queries in ``reports/sql/`` run over a run's Parquet files.

Every ``NN_name.sql`` there is one SELECT with a ``-- title:`` line and comments that say
what it computes; each becomes ``reports/tables/<name>.csv`` and ``.md`` and a section of
``reports/summary.md``. ``reports/sql/views.sql`` defines the same views for the duckdb CLI.
"""

from __future__ import annotations

import logging
import pathlib

import duckdb

log = logging.getLogger("codecsweep")


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
    text = path.read_text()
    title, notes = path.stem, []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        body = line[2:].strip()
        if body.startswith("title:"):
            title = body[6:].strip()
        else:
            notes.append(body)
    name = path.stem.split("_", 1)[1] if path.stem[:2].isdigit() else path.stem
    return name, title, " ".join(notes)


def build_report(files: dict[str, list], sql_files, summary, tables_dir, rejected) -> dict:
    con = connect(files)
    tables_dir = pathlib.Path(tables_dir)
    tables_dir.mkdir(parents=True, exist_ok=True)
    sections, results = ["# codecsweep report", ""], {}
    for sql_path in sorted(map(pathlib.Path, sql_files)):
        if sql_path.name == "views.sql":
            continue
        name, title, notes = parse_sql(sql_path)
        df = con.execute(sql_path.read_text()).df()
        results[name] = df
        df.to_csv(tables_dir / f"{name}.csv", index=False)
        md = df.to_markdown(index=False) if len(df) else "(no rows)"
        (tables_dir / f"{name}.md").write_text(f"## {title}\n\n{notes}\n\n{md}\n")
        sections += [f"## {title}", "", notes, "", f"Query: `{sql_path}`; table: `{tables_dir / name}.csv`", "", md, ""]
        log.info("report table %s: %d rows", name, len(df))
    bad = con.execute(
        "SELECT dataset, image_id, source_path, error AS reason FROM images WHERE status <> 'ok' ORDER BY ALL"
    ).df()
    bad.to_csv(rejected, index=False)
    if len(bad):
        sections[2:2] = [f"**{len(bad)} image(s) were rejected** and are not in the study: see `{rejected}`.", ""]
    pathlib.Path(summary).write_text("\n".join(sections))
    return results
