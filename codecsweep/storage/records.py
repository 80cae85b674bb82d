"""The Parquet tables of the output contract: schemas, and one deterministic writer.

Columns and units are documented in docs/columns.md. Rows are written sorted, with fixed
schemas and no timestamps, so the same inputs give the same Parquet content.
"""

from __future__ import annotations

import os
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq


class SchemaError(ValueError):
    """A row whose columns are not exactly the table's: a column forgotten in a schema (or in a
    writer) fails loudly instead of vanishing from the Parquet."""


def new_row(schema: pa.Schema, **values) -> dict:
    """A row of ``schema`` with every column present (null unless given)."""
    unknown = set(values) - set(schema.names)
    if unknown:
        raise SchemaError(f"not columns of the table: {', '.join(sorted(unknown))}")
    return {name: values.get(name) for name in schema.names}


def check_columns(rows: list[dict], schema: pa.Schema) -> None:
    expected = set(schema.names)
    for row in rows:
        if row.keys() != expected:
            unknown, missing = sorted(row.keys() - expected), sorted(expected - row.keys())
            raise SchemaError(
                f"row columns differ from the schema: unknown {unknown or 'none'}, missing {missing or 'none'} "
                f"(add a new column to records.py, or start rows from records.new_row)"
            )


def write(rows: list[dict], schema: pa.Schema, path: str | os.PathLike) -> None:
    """Write rows as one Parquet file, atomically (temp file + rename). Every row must have
    exactly the schema's columns (``SchemaError`` otherwise)."""
    check_columns(rows, schema)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except OSError as exc:  # e.g. a full disk: no partial table is left, and the message names it
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, f"cannot write the results table {path}: {exc.strerror or exc}") from exc


def read(path: str | os.PathLike | list) -> list[dict]:
    """The rows of one Parquet file, or of several in order (e.g. every shard of a table)."""
    if isinstance(path, list | tuple):
        return [row for p in path for row in read(p)]
    return pq.read_table(path).to_pylist()


def parquet_damage(path: str | os.PathLike) -> str | None:
    """Why a Parquet file cannot be read, from its framing alone (cheap: 12 bytes read), or
    None. Catches what disk trouble, an interrupted copy or a sync tool leaves: a truncated,
    empty or overwritten file (the magic bytes at both ends and the footer length)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            size = f.seek(0, os.SEEK_END)
            if size < 12:
                return f"{size} bytes, too short for Parquet"
            f.seek(size - 8)
            tail = f.read(8)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if head != b"PAR1" or tail[4:] != b"PAR1":
        return "no Parquet magic bytes (truncated or overwritten)"
    if int.from_bytes(tail[:4], "little") > size - 12:
        return "footer length beyond the file (truncated)"
    return None


def remove_damaged(results_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """Delete every damaged Parquet file under ``results_dir``, so that Snakemake sees the
    output missing and reruns its job (which the cache serves in seconds). Returns
    (path, reason) for each one removed."""
    removed = []
    for path in sorted(pathlib.Path(results_dir).rglob("*.parquet")):
        reason = parquet_damage(path)
        if reason:
            path.unlink(missing_ok=True)
            removed.append((str(path), reason))
    return removed
