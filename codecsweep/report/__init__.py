"""Reports: the DuckDB queries in ``reports/sql/`` over a run's Parquet files, bootstrap
intervals over images for every number they claim, the tables SQL cannot make, matplotlib
figures (each drawn once per format; with a cache, only those whose data changed), and
``summary.md`` + ``index.html``: ``build.build_report``.

Every ``NN_name.sql`` there holds one result query (optionally after statements that
define views for later files), a ``-- title:`` line and comments that say what it
computes (``-- sql:`` lines are for SQL readers only); each becomes
``reports/tables/<name>.csv`` and ``.md`` and a section of the summary and the HTML page.
``reports/sql/views.sql`` defines the table views for SQL readers and the derived views the
report uses too (``database.connect`` defines the table views over exactly a run's files,
and ``metric_info`` from ``core.metric_table``). Nothing in the report depends on the clock
or on the order of the input rows.

Which tables there are, and what each gets besides its rows, is declared, not coded in
the build loop: every module of ``codecsweep/report/tables/`` defines ``TABLES``, a list of
``spec.TableSpec`` (a query file's name with its bootstrap intervals and figures, or a
Python function with title and notes), found by ``tables.all_specs()``. Adding a table is
one file: a query file (a plain table; a spec can add intervals and figures to it), or a
module in ``tables/`` (see its docstring). A spec whose query file is not given fails.

Modules, lowest first: ``bootstrap`` (resampling math), ``sample`` (the ``Sample`` of one
(dataset, model): every criterion per resample), ``database`` (the views), ``figures``,
``numbers`` (rounding and formats), ``context`` (what the tables read), ``intervals`` (the
SQL tables' intervals), ``spec`` (``TableSpec``), ``tables/`` (the specs and the Python
tables), ``render`` (``Report``: the files), ``comparisons`` (the summary's paired, rate-basis
and replication paragraphs), ``prose`` (the summary's answer and provenance), ``gallery``
(reports/gallery.html: decoded variants from the cache), ``build`` (``build_report``). This ``__init__`` imports none of them: ``codecsweep sql`` needs
only ``database`` (no matplotlib at its start).
"""
