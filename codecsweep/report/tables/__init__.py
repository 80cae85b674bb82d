"""The report's tables, as ``TableSpec`` lists: every module of this package contributes one.

A module here (any name not starting with ``_``) defines ``TABLES``, a list of
``codecsweep.report.spec.TableSpec``; ``all_specs()`` imports every such module (found with
pkgutil, in name order) and returns their specs. So adding a table is one file:

- a query: ``reports/sql/NN_<name>.sql`` alone makes a plain table ``<name>`` (title and notes
  from its comments; files run in name order, so it may use the views of lower-numbered
  files); a spec ``TableSpec("<name>", intervals=..., figures=...)`` in a module here adds
  bootstrap intervals and figures to it;
- a table computed in Python: a module here with the function and
  ``TABLES = [TableSpec("<name>", make=<function of the Context>, title=..., notes=...)]``.

Modules here import what they use from the report's modules (``..spec``, ``..context``,
``..figures``, ...), never from this package's ``__init__``.
"""

from __future__ import annotations

import importlib
import pkgutil


def all_specs() -> list:
    """Every module's ``TABLES``, modules in name order, each list in its order."""
    specs = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if not hasattr(module, "TABLES"):
            raise AttributeError(f"{module.__name__} defines no TABLES (helper modules start with '_')")
        specs += list(module.TABLES)
    return specs
