"""Compare two runs of the study file by file: every results Parquet (all columns but the
wall-clock timings) and every report file (tables, Markdown, HTML, figures) byte for byte.

    python benchmarks/compare_outputs.py RUN_A RUN_B      # each a folder holding results/ and reports/

A refactor must change no result: this prints every file that differs (and which columns),
and exits 1 if any does. Timing columns: ``encode_ms`` (variants) and ``wall_s`` (runstats);
``results/benchmarks/`` (Snakemake's timing files) is not compared. Parquet files are compared
as tables (schema and values), so a different writer chunking of equal data still counts as equal.
"""

from __future__ import annotations

import hashlib
import pathlib
import sys

import pyarrow.parquet as pq

TIMING_COLUMNS = {"encode_ms", "wall_s"}
SKIP = ("results/benchmarks/", "reports/sql/")


def files(root: pathlib.Path) -> dict[str, pathlib.Path]:
    out = {}
    for sub in ("results", "reports"):
        for p in sorted((root / sub).rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and not rel.startswith(SKIP) and ".snakemake_timestamp" not in rel:
                out[rel] = p
    return out


def parquet_difference(a: pathlib.Path, b: pathlib.Path) -> str | None:
    ta, tb = pq.read_table(a), pq.read_table(b)
    if ta.schema != tb.schema:
        return f"schemas differ: {ta.schema} vs {tb.schema}"
    if ta.num_rows != tb.num_rows:
        return f"{ta.num_rows} vs {tb.num_rows} rows"
    differing = [c for c in ta.column_names if c not in TIMING_COLUMNS and not ta[c].equals(tb[c])]
    return f"columns differ: {', '.join(differing)}" if differing else None


def digest(p: pathlib.Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def compare(root_a: pathlib.Path, root_b: pathlib.Path) -> list[str]:
    fa, fb = files(root_a), files(root_b)
    problems = [f"only in {root_a}: {rel}" for rel in sorted(set(fa) - set(fb))]
    problems += [f"only in {root_b}: {rel}" for rel in sorted(set(fb) - set(fa))]
    for rel in sorted(set(fa) & set(fb)):
        if rel.endswith(".parquet"):
            why = parquet_difference(fa[rel], fb[rel])
        else:
            why = None if digest(fa[rel]) == digest(fb[rel]) else "bytes differ"
        if why:
            problems.append(f"{rel}: {why}")
    print(f"compared {len(set(fa) & set(fb))} files ({sum(r.endswith('.parquet') for r in fa)} Parquet)")
    return problems


if __name__ == "__main__":
    a, b = map(pathlib.Path, sys.argv[1:3])
    found = compare(a, b)
    print("\n".join(found) if found else "identical (timing columns aside)")
    sys.exit(1 if found else 0)
