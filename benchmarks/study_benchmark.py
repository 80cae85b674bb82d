"""The default study end to end, timed: cold run, no-op rerun, one image added.

    python benchmarks/study_benchmark.py [--cores 2] [--config config/config.yaml]

Runs a copy of the workflow in a temporary folder with a fresh cache (so nothing of this
checkout's cache or results is used or touched) and prints, from Snakemake's benchmark files
of the jobs (start-up included):
- wall time of the cold run; per stage the jobs, their wall and CPU time, CPU-ms per variant
  and peak memory (what ``config.MEM_MB`` should cover);
- core utilization: the jobs' CPU time over (wall time x cores);
- the compute floor (``compute_floor.py``: every necessary step timed alone on the same images,
  over the cores) and the ratio of the cold run's wall time to it;
- the no-op rerun (nothing to do) and adding one image (a 7th photo) against 1/N of the
  cold run (N images): what incremental additions cost.
Numbers only, no assertions (speed targets are not tests).
"""

from __future__ import annotations

import argparse
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import duckdb
import yaml
from PIL import Image

from codecsweep.core.paths import REPO, copy_workflow
from codecsweep.study.config import load_study

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from compute_floor import compute_floor, print_floor  # noqa: E402


def make_project(root: pathlib.Path, config: dict) -> dict:
    """A copy of the workflow in ``root`` (created, or empty) with ``config`` and a fresh cache
    of its own; returns the config as written."""
    root.mkdir(parents=True, exist_ok=True)
    copy_workflow(root)
    config = dict(config, cache_dir=str(root / "cache"))
    (root / "config").mkdir(exist_ok=True)
    (root / "config/config.yaml").write_text(yaml.safe_dump(config))
    shutil.copytree(REPO / "config/datasets", root / "config/datasets")
    return config


def run_snakemake(root: pathlib.Path, cores: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of Snakemake and every job together) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "all"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"snakemake failed:\n{proc.stderr[-4000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _jobs(root: pathlib.Path, since: float) -> list[dict]:
    """The jobs of the last run, from Snakemake's benchmark files (``benchmark:`` of every rule):
    name, stage, wall seconds (start-up included), peak memory (MB), start and end (the file's
    time) in seconds since ``since``."""
    jobs = []
    for path in (root / "results/benchmarks").rglob("*.tsv"):
        end = path.stat().st_mtime
        if end < since:
            continue
        head, values = path.read_text().splitlines()[:2]
        row = dict(zip(head.split("\t"), values.split("\t")))
        name = str(path.relative_to(root / "results/benchmarks").with_suffix(""))
        s = float(row["s"])
        jobs.append(
            dict(
                name=name,
                stage=name.split("/")[0],
                s=s,
                rss=float(row["max_rss"]),
                start=end - since - s,
                end=end - since,
            )
        )
    return sorted(jobs, key=lambda j: j["start"])


def _report(label: str, wall: float, cpu: float, jobs: list[dict], cores: int, variants: int, timeline=False) -> None:
    busy = sum(j["s"] for j in jobs)
    print(
        f"{label}: {wall:.1f} s wall, {cpu:.1f} CPU-s (Snakemake and jobs): {cpu / (wall * cores):.0%} of {cores} "
        f"cores busy; {len(jobs)} jobs, {busy:.1f} job-s (start-up included)"
    )
    for stage in sorted({j["stage"] for j in jobs}, key=lambda st: -sum(j["s"] for j in jobs if j["stage"] == st)):
        mine = [j for j in jobs if j["stage"] == stage]
        s = sum(j["s"] for j in mine)
        per = f" = {1000 * s / variants:5.1f} ms per variant" if stage in ("encode", "analyze") and variants else ""
        print(f"  {stage:20s} {len(mine):3d} jobs {s:7.1f} job-s{per:26s} peak {max(j['rss'] for j in mine):5.0f} MB")
    if timeline:
        print("  timeline (s since the start; the job's wall time includes its start-up):")
        for j in jobs:
            print(f"    {j['start']:6.1f} - {j['end']:6.1f}  {j['name']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--config", default=str(REPO / "config/config.yaml"))
    ap.add_argument(
        "--no-floor", action="store_true", help="skip the compute-floor measurement (about the cold run's time)"
    )
    ap.add_argument("--keep", help="run in this (new) folder and keep it, to read its reports afterwards")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="codecsweep-bench-") as tmp:
        root = pathlib.Path(args.keep or tmp)
        config = make_project(root, yaml.safe_load(pathlib.Path(args.config).read_text()))

        start = time.time()
        wall, cpu = run_snakemake(root, args.cores)
        variants = duckdb.execute(f"SELECT count(*) FROM read_parquet('{root}/results/variants/**/*.parquet')")
        variants = variants.fetchone()[0]
        images = duckdb.execute(f"SELECT count(*) FROM read_parquet('{root}/results/images/**/*.parquet')")
        images = images.fetchone()[0]
        print(f"default study: {images} images, {variants} variants, {args.cores} cores")
        _report("cold run", wall, cpu, _jobs(root, start), args.cores, variants, timeline=True)
        if not args.no_floor:
            sources = duckdb.execute(
                f"SELECT source_path FROM read_parquet('{root}/results/images/**/*.parquet') WHERE status = 'ok'"
            ).fetchall()
            study = load_study(dict(config, grids=[str(root / g) for g in config["grids"]]))
            steps, n, floor_wall = compute_floor(
                [str(root / p) for (p,) in sources], study, study.models[0], config["batch_size"]["cpu"], args.cores
            )
            floor = print_floor(steps, n, args.cores, floor_wall)
            print(f"cold run / floor: {wall:.1f} / {floor:.1f} = {wall / floor:.2f}")

        start = time.time()
        print(f"no-op rerun: {run_snakemake(root, args.cores)[0]:.1f} s wall")

        # One more photo: the coffee photo mirrored (another image, same size and content kind).
        Image.open(root / "data/default/coffee.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            root / "data/default/coffee_mirrored.png"
        )
        with open(root / "config/datasets/default.tsv", "a") as f:
            f.write("coffee_mirrored\tcoffee_mirrored.png\tn07920052\tthe espresso photo, mirrored\n")
        start = time.time()
        added, cpu = run_snakemake(root, args.cores)
        print(f"one image added: {added:.1f} s wall = {added / (wall / images):.2f} x its share of the cold run")
        _report("  that run", added, cpu, _jobs(root, start), args.cores, variants // images, timeline=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
