"""What a report table is: ``TableSpec`` (where its rows come from, its intervals, its
figures). The specs themselves are in ``codecsweep/report/tables/``."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping

import pandas as pd

from .context import Context
from .figures import for_pair
from .intervals import add_intervals


def primary_rows(ctx: Context, table: pd.DataFrame) -> tuple:
    """A figure's default arguments: the table's rows of the primary (dataset, model)."""
    return (ctx.only_primary(table),)


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure drawn from a table: ``draw(*args(ctx, table), figures_dir)`` writes it and
    returns its PNG's path (a function of ``figures``, run in a worker process: it must be a
    module-level function and its arguments picklable). ``caption``: text, or a function of
    (ctx, table) for a caption that names what the data chose."""

    draw: Callable
    caption: str | Callable[[Context, pd.DataFrame], str]
    args: Callable[[Context, pd.DataFrame], tuple] = primary_rows
    #: False: drawn once, from what ``args`` chooses among every (dataset, model) (its caption says which)
    per_pair: bool = True

    def caption_for(self, ctx: Context, table: pd.DataFrame) -> str:
        return self.caption if isinstance(self.caption, str) else self.caption(ctx, table)

    def drawings(self, ctx: Context, table: pd.DataFrame):
        """(draw, args, caption) once per (dataset, model) of ``ctx.figure_pairs()``: the title
        names the pair; with more than one pair, the file name (``<name>__<dataset>__<model>``)
        and the caption too."""
        pairs = ctx.figure_pairs() if self.per_pair else []
        if not pairs:
            yield self.draw, self.args(ctx, table), self.caption_for(ctx, table)
            return
        for pair in pairs:
            focused = ctx.focused(pair)
            label = f"model {pair[1]}, dataset {pair[0]}"
            suffix = "" if len(pairs) == 1 else re.sub(r"[^\w.-]", "_", f"__{pair[0]}__{pair[1]}")
            caption = self.caption_for(focused, table)
            yield (
                functools.partial(for_pair, self.draw, label, suffix),
                self.args(focused, table),
                caption if len(pairs) == 1 else f"{caption} ({label})",
            )


@dataclasses.dataclass(frozen=True)
class Intervals:
    """Bootstrap intervals of an SQL table's columns: ``compute(ctx)`` returns ``<col>_lo`` /
    ``<col>_hi`` per ``keys``; each column of ``decimals`` gets them right after it, rounded
    to its decimals. ``extra``: further columns of ``compute``'s frame appended as they are."""

    compute: Callable[[Context], pd.DataFrame]
    keys: tuple[str, ...]
    decimals: Mapping[str, int]
    extra: tuple[str, ...] = ()

    def apply(self, ctx: Context, df: pd.DataFrame) -> pd.DataFrame:
        found = self.compute(ctx)
        keys = list(self.keys)
        df = add_intervals(df, found.drop(columns=list(self.extra)), keys, dict(self.decimals))
        if self.extra and len(df):
            df = df.merge(found[[*keys, *self.extra]], on=keys, how="left")
        return df


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One table of the report: ``reports/tables/<name>.csv`` and ``.md``, a section of
    summary.md and index.html, and its figures.

    Without ``make`` the table is the query file ``reports/sql/NN_<name>.sql`` (its title and
    notes are the file's comments; the report fails if no such file is given). With ``make``
    it is ``make(ctx)``, a DataFrame, under ``title`` and ``notes``; such tables follow the SQL
    tables, by ``order`` (then by name). ``intervals`` are merged into the rows (the Python
    tables here compute their own instead), then the ``figures`` are drawn from them. An
    ``optional`` table is written only when it has rows: a table about something a run may
    not have (the study's tabulated settings, payload sizes, enough images for a paired
    verdict, a second model) is absent from the report rather than empty."""

    name: str
    make: Callable[[Context], pd.DataFrame] | None = None
    title: str = ""
    notes: str = ""
    intervals: Intervals | None = None
    figures: tuple[Figure, ...] = ()
    order: int = 100
    optional: bool = False

    def __post_init__(self):
        if self.make is None and (self.title or self.notes):
            raise ValueError(f"table {self.name}: an SQL table's title and notes are its query file's comments")
        if self.make is not None and not self.title:
            raise ValueError(f"table {self.name}: a table made in Python needs a title")

    @property
    def is_sql(self) -> bool:
        return self.make is None
