"""The default study end to end, timed: cold run, no-op rerun, one image added.

    python benchmarks/study_benchmark.py [--cores 2] [--config config/config.yaml]

Runs a copy of the workflow in a temporary folder with a fresh cache (so nothing of this
checkout's cache or results is used or touched) and prints, from the jobs' own runstats:
- wall time of the cold run, and per stage the jobs' summed wall time (= core-seconds: every
  job runs one thread) per variant;
- core utilization: the jobs' summed wall time over (wall time x cores);
- the no-op rerun (nothing to do) and adding one image (a 7th photo) against 1/N of the
  cold run (N images): what incremental additions cost.
Numbers only, no assertions (speed targets are not tests).
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import duckdb
import yaml
from PIL import Image

from codecsweep.project import REPO, copy_workflow


def _run(root: pathlib.Path, cores: int) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "all"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"snakemake failed:\n{proc.stderr[-4000:]}")
    return time.perf_counter() - start


def _stats(root: pathlib.Path, since: float) -> list[dict]:
    files = [str(p) for p in (root / "results/runstats").rglob("*.parquet") if p.stat().st_mtime >= since]
    if not files:
        return []
    cur = duckdb.connect().execute(f"SELECT * FROM read_parquet({files})")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _report(label: str, wall: float, rows: list[dict], cores: int, variants: int) -> None:
    # An analyze job writes one row per model and one for measure, each with the job's wall time.
    jobs = {}
    for r in rows:
        stage = "analyze" if r["stage"] == "measure" or (r["stage"] == "classify" and r["encoder"]) else r["stage"]
        key = (stage, r["dataset"], r["shard"], r["encoder"])
        jobs[key] = max(jobs.get(key, 0.0), r["wall_s"])
    busy = sum(jobs.values())
    print(f"{label}: {wall:.1f} s wall, {len(jobs)} jobs, {busy:.1f} job-s, utilization {busy / (wall * cores):.0%}")
    for stage in ("encode", "classify", "analyze"):
        s = sum(v for k, v in jobs.items() if k[0] == stage)
        if s and variants:
            print(f"  {stage:9s} {s:7.1f} core-s = {1000 * s / variants:7.1f} core-ms per variant")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--config", default=str(REPO / "config/config.yaml"))
    ap.add_argument("--keep", help="run in this (new) folder and keep it, to read its reports afterwards")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="codecsweep-bench-") as tmp:
        root = pathlib.Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=bool(not args.keep))
        copy_workflow(root)
        config = yaml.safe_load(pathlib.Path(args.config).read_text())
        config["cache_dir"] = str(root / "cache")
        (root / "config").mkdir(exist_ok=True)
        (root / "config/config.yaml").write_text(yaml.safe_dump(config))
        shutil.copytree(REPO / "config/datasets", root / "config/datasets")

        start = time.time()
        wall = _run(root, args.cores)
        variants = duckdb.execute(f"SELECT count(*) FROM read_parquet('{root}/results/variants/**/*.parquet')")
        variants = variants.fetchone()[0]
        images = duckdb.execute(f"SELECT count(*) FROM read_parquet('{root}/results/images/**/*.parquet')")
        images = images.fetchone()[0]
        print(f"default study: {images} images, {variants} variants, {args.cores} cores")
        _report("cold run", wall, _stats(root, start), args.cores, variants)

        start = time.time()
        print(f"no-op rerun: {_run(root, args.cores):.1f} s wall")

        # One more photo: the coffee photo mirrored (another image, same size and content kind).
        Image.open(root / "data/default/coffee.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            root / "data/default/coffee_mirrored.png"
        )
        with open(root / "config/datasets/default.tsv", "a") as f:
            f.write("coffee_mirrored\tcoffee_mirrored.png\tn07920052\tthe espresso photo, mirrored\n")
        start = time.time()
        added = _run(root, args.cores)
        print(f"one image added: {added:.1f} s wall = {added / (wall / images):.2f} x its share of the cold run")
        _report("  jobs of that run", added, _stats(root, start), args.cores, variants // images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
