"""The report's DuckDB: views over exactly a run's Parquet files, and the query files of reports/sql/."""

from __future__ import annotations

import csv
import pathlib

import duckdb
import pyarrow as pa

from ..core import schemas
from ..core.metric_table import METRIC_INFO
from ..core.paths import REPO

#: The size every rate in the report counts (bpp, cr_raw, cr_source), in one place:
#: ``bytes`` is the whole encoded file, container included.
RATE = "bytes"
RATE_NOTE = "the whole encoded file, container included (column `bytes`)"
VIEWS_SQL = REPO / "reports" / "sql" / "views.sql"
SCHEMAS = {"images": schemas.IMAGES, "variants": schemas.VARIANTS, "metrics": schemas.METRICS}
#: The Rennes study's Tables 4-7 as printed (the file's header says where from): the view
#: ``rennes2017`` (every column text, as printed, empty cells null; ``row``: the file's order).
STUDY_TABLES = pathlib.Path(__file__).resolve().parent.parent / "data" / "rennes2017_tables.csv"


def study_tables() -> list[dict[str, str | None]]:
    """The rows of ``STUDY_TABLES``, every value the printed text (None where the cell is empty)."""
    lines = [line for line in STUDY_TABLES.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(lines)]


def _sql_list(paths) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def connect(files: dict[str, list], views_sql=VIEWS_SQL, strict: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the views images, variants, predictions, metrics over
    exactly the given files (originals and variant predictions together in predictions),
    metric_info from ``metrics.METRIC_INFO``, rennes2017 (the study's Tables 4-7, as printed:
    ``STUDY_TABLES``), and the derived views of ``views.sql``
    (``strict=False``: a derived view the files cannot support is left out, for ad-hoc queries)."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    views = {
        "images": files["images"],
        "variants": files["variants"],
        "predictions": list(files["originals"]) + list(files["predictions"]),
        "metrics": files["metrics"],
    }
    # jpeg_mo's tables are tuned on calibration images (codecsweep.sensitivity): with a split
    # given, the whole report rests on the held-out images only, every codec alike.
    held_out = ""
    if files.get("splits"):
        con.execute(
            "CREATE VIEW calibration_images AS SELECT dataset, image_id "
            f"FROM read_parquet({_sql_list(files['splits'])}) WHERE calibration"
        )
        held_out = " WHERE NOT EXISTS (SELECT 1 FROM calibration_images c WHERE c.dataset = t.dataset AND c.image_id = t.image_id)"
    for view, paths in views.items():
        if not paths:  # an empty table with the contract's columns
            con.register(f"_empty_{view}", SCHEMAS.get(view, schemas.PREDICTIONS).empty_table())
            source = f"_empty_{view}"
        else:
            source = f"read_parquet({_sql_list(paths)}, union_by_name=true)"
        select = "*"
        if view == "variants" and RATE != "bytes":  # every rate column follows RATE
            select = f"* REPLACE (bpp * {RATE} / bytes AS bpp, cr_raw * bytes / {RATE} AS cr_raw, "
            select += f"cr_source * bytes / {RATE} AS cr_source)"
        con.execute(f"CREATE VIEW {view} AS SELECT {select} FROM {source} t{held_out}")
    info = pa.Table.from_pylist(
        [
            {"name": m.name, "label": m.label, "unit": m.unit, "higher_is_better": m.higher_is_better, "group": m.group}
            for m in METRIC_INFO
        ]
    )
    con.register("_metric_info", info)
    con.execute("CREATE VIEW metric_info AS SELECT * FROM _metric_info")
    rows = [{"row": n, **r} for n, r in enumerate(study_tables(), start=1)]  # row: the file's order
    schema = pa.schema([("row", pa.int32())] + [(k, pa.string()) for k in rows[0] if k != "row"])
    con.register("_rennes2017", pa.Table.from_pylist(rows, schema=schema))
    con.execute("CREATE VIEW rennes2017 AS SELECT * FROM _rennes2017")
    text = pathlib.Path(views_sql).read_text()
    derived = text[text.index("\n-- derived views\n") :]
    if strict:
        con.execute(derived)
    else:
        for statement in derived.split(";"):
            try:
                con.execute(statement)
            except duckdb.Error:
                pass
    return con


def materialize(con, views) -> None:
    """Compute views once: later queries (and files) read the stored result instead of
    re-running the view's query each time."""
    for view in views:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _stored_{view} AS FROM {view}")
        con.execute(f"CREATE OR REPLACE VIEW {view} AS FROM _stored_{view}")


def parse_sql(path: pathlib.Path) -> tuple[str, str, str]:
    """(name, title, description) of a report query file; ``-- sql:`` lines are left out."""
    title, notes = path.stem, []
    for line in path.read_text().splitlines():
        if not line.startswith("--"):
            break
        body = line[2:].strip()
        if body.startswith("title:"):
            title = body[6:].strip()
        elif not body.startswith("sql:"):
            notes.append(body)
    name = path.stem.split("_", 1)[1] if path.stem[:2].isdigit() else path.stem
    return name, title, " ".join(notes)
