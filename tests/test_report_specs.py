"""The report's table specs: which query file gets which spec (by the table's name, not
by the file's number), plain tables for unnamed query files, loud failures for missing
ones, and discovery of a table module dropped into codecsweep/report/tables/."""

import pathlib
import sys

import pandas as pd
import pytest

import codecsweep.report.tables as tables_package
from codecsweep.report.build import plan
from codecsweep.report.spec import TableSpec
from codecsweep.report.tables import all_specs

REPO = pathlib.Path(__file__).resolve().parent.parent


def _query(d: pathlib.Path, filename: str) -> pathlib.Path:
    path = d / filename
    path.write_text(f"-- title: {filename}\nSELECT 1 AS x;\n")
    return path


def test_every_shipped_spec_has_its_query_file_and_the_order_is_the_reports():
    sql = sorted(p for p in (REPO / "reports/sql").glob("*.sql") if p.name != "views.sql")
    steps = plan(all_specs(), sql)
    names = [spec.name for spec, _ in steps]
    assert names[: len(sql)] == [p.stem.split("_", 1)[1] for p in sql]  # the query files first, in file order
    assert names[len(sql) :] == ["headline_criteria", "rate_thresholds", "bd_rate", "knee_fits", "metric_kendall"]
    specs = {spec.name: spec for spec, _ in steps}
    assert specs["headline"].intervals is not None and specs["oracle"].figures
    assert specs["status"] == TableSpec("status")  # no spec: a plain table


def test_a_renumbered_query_keeps_its_spec_and_an_unknown_one_is_plain(tmp_path):
    spec = TableSpec("headline", figures=())
    python = TableSpec("made", make=lambda ctx: pd.DataFrame(), title="Made", order=1)
    files = [_query(tmp_path, "35_headline.sql"), _query(tmp_path, "99_mine.sql")]
    assert plan([python, spec], files) == [(spec, files[0]), (TableSpec("mine"), files[1]), (python, None)]


def test_a_spec_without_its_query_file_fails_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"headline \(reports/sql/NN_headline.sql\)"):
        plan([TableSpec("headline")], [_query(tmp_path, "10_other.sql")])
    with pytest.raises(ValueError, match="two query files"):
        plan([], [_query(tmp_path, "10_x.sql"), _query(tmp_path, "20_x.sql")])
    with pytest.raises(ValueError, match="specified twice"):
        plan([TableSpec("x"), TableSpec("x")], [])


def test_spec_checks_its_fields():
    with pytest.raises(ValueError, match="query file's comments"):
        TableSpec("x", title="an SQL table's title comes from its file")
    with pytest.raises(ValueError, match="needs a title"):
        TableSpec("x", make=lambda ctx: pd.DataFrame())


def test_a_module_dropped_into_tables_contributes_its_specs(tmp_path, monkeypatch):
    (tmp_path / "toy.py").write_text(
        "import pandas as pd\n"
        "from codecsweep.report.spec import TableSpec\n"
        "TABLES = [TableSpec('toy', make=lambda ctx: pd.DataFrame({'x': [1]}), title='Toy')]\n"
    )
    (tmp_path / "_helper.py").write_text("raise AssertionError('helper modules are not imported as tables')\n")
    monkeypatch.setattr(tables_package, "__path__", [*tables_package.__path__, str(tmp_path)])
    try:
        python = [s for s in all_specs() if not s.is_sql]
    finally:
        sys.modules.pop("codecsweep.report.tables.toy", None)
    assert "toy" in [s.name for s in python] and "headline_criteria" in [s.name for s in python]
    assert plan(python, [])[-1][0].name == "toy"  # order 100: after the shipped Python tables
