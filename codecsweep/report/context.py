"""What every report table, interval and figure reads: the run's DuckDB (views over exactly
its Parquet files), one bootstrap ``Sample`` per (dataset, model) and a fixed sample of
classified variants with their metrics (``points``)."""

from __future__ import annotations

import dataclasses
import pathlib

import duckdb
import numpy as np
import pandas as pd

from ..core.metric_table import METRIC_INFO
from .database import connect, materialize
from .sample import Sample

#: Variants plotted in scatter figures at most (a reproducible sample beyond that).
MAX_POINTS = 50_000
#: The rate bases: the whole file (``bytes``: what every other table counts) and the codec's
#: own bits (``payload_bytes``: container, headers and markers left out; codecs/bitstream.py).
BASES = ("bytes", "payload_bytes")


@dataclasses.dataclass
class Context:
    """The run's data as the tables see it. ``samples`` are in sorted (dataset, model) order;
    the tables show all; a figure shows one (``primary``: the first, or the ``focus`` of the
    context ``focused`` on it), and is drawn once for each of ``figure_pairs()``."""

    con: duckdb.DuckDBPyConnection
    samples: dict[tuple[str, str], Sample]
    points: pd.DataFrame | None
    held_out: bool = False
    memo: dict = dataclasses.field(default_factory=dict, repr=False)
    focus: tuple[str, str] | None = None

    @property
    def primary(self) -> tuple[str, str] | None:
        return self.focus or next(iter(self.samples), None)

    def figure_pairs(self) -> list[tuple[str, str]]:
        """The (dataset, model)s that get their own set of figures: every one of the study."""
        return list(self.samples)

    def focused(self, pair: tuple[str, str]) -> Context:
        """This context with ``primary`` = ``pair`` (the same connection, samples and memo)."""
        return dataclasses.replace(self, focus=pair)

    def only_primary(self, df: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``df`` of the primary (dataset, model)."""
        p = self.primary
        return df if p is None else df[(df.dataset == p[0]) & (df.model == p[1])]

    def primary_points(self) -> pd.DataFrame | None:
        return None if self.points is None else self.only_primary(self.points)

    def memoized(self, key, compute):
        """``compute()``, once per ``key`` for the whole report (for tables that share a result)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def on_basis(self, basis: str) -> dict[tuple[str, str], Sample]:
        """The samples with every rate on ``basis`` (one of ``BASES``): the samples themselves for
        "bytes"; for "payload_bytes" those (dataset, model)s whose variants have payload sizes,
        each variant's rates scaled by payload_bytes / bytes (a variant without one: NaN)."""
        if basis == "bytes":
            return self.samples
        return self.memoized(("basis", basis), lambda: _on_payload(self))


def load_context(files: dict[str, list], views_sql: pathlib.Path) -> Context:
    """Connect to the run's files, compute the observations once and build the samples."""
    con = connect(files, views_sql)
    materialize(con, ["observations", "originals"])
    obs = con.execute(
        "SELECT * FROM observations ORDER BY dataset, model, image_id, encoder, scale DESC, color DESC, param"
    ).df()
    originals = con.execute("SELECT * FROM originals ORDER BY dataset, model, image_id").df()
    samples = {
        (ds, m): Sample(d, originals[(originals.dataset == ds) & (originals.model == m)])
        for (ds, m), d in obs.groupby(["dataset", "model"], sort=True)
    }
    return Context(con, samples, _points(con), held_out=bool(files.get("splits")))


def _on_payload(ctx: Context) -> dict[tuple[str, str], Sample]:
    present = {c for (c,) in ctx.con.execute("SELECT column_name FROM (DESCRIBE variants)").fetchall()}
    if "payload_bytes" not in present:
        return {}
    shares = ctx.con.execute("""
        SELECT dataset, image_id, encoder, scale, color, param, payload_bytes / bytes AS share
        FROM variants WHERE status = 'ok' AND payload_bytes > 0 AND bytes > 0""").df()
    out = {}
    for (dataset, model), s in ctx.samples.items():
        share = s.matrix(shares[shares.dataset == dataset], "share")
        if np.isfinite(share).any():
            out[(dataset, model)] = s.on_basis(share)
    return out


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
