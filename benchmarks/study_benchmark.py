"""The default study end to end, timed: cold run, no-op rerun, one image added.

    python benchmarks/study_benchmark.py [--cores 2] [--config config/config.yaml] [--smoke]
    python benchmarks/study_benchmark.py --base REV [--repeat N] [--peer] [--cores 2] [--smoke]

Runs a copy of the workflow in a temporary folder with a fresh cache (so nothing of this
checkout's cache or results is used or touched) and prints, from Snakemake's benchmark files
of the jobs (start-up included):
- wall time of the cold run; per stage the jobs, their wall and CPU time, CPU-ms per variant
  and peak memory (what ``config.MEM_MB`` should cover);
- core utilization: the jobs' CPU time over (wall time x cores);
- the compute floor (``compute_floor.py``: every necessary step timed alone on the same images,
  over the cores, the model in the config's runtime) and the ratio of the cold run's wall time to it;
- the no-op rerun (nothing to do) and adding one image (a 7th photo) against 1/N of the
  cold run (N images): what incremental additions cost.

``--base REV`` compares this working tree ("new") with an older commit ("base") in one run:
the commit is checked out in a temporary ``git worktree`` and its own workflow, config and
``codecsweep`` package (``PYTHONPATH`` = the worktree, checked) run in a project of their own,
on the same images, each side with a fresh cache. The runs alternate, base first, so machine
noise falls on both: cold (``--repeat N``: N cold runs each, ABAB, the median reported), no-op,
one image added. The floor is measured once, for the new code; a classification probe times
each side's own classifier on the same originals. A last table gives every figure of both
sides, new/base and the target. ``--peer`` adds ``peer_benchmark.py`` (CompressAI's bench).
``--smoke`` runs ``config/smoke.yaml``'s setup (merged into each side's config.yaml).
Numbers only, no assertions (speed targets are not tests).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import duckdb
import yaml
from PIL import Image

from codecsweep.core.paths import REPO, WORKFLOW_FILES, copy_workflow
from codecsweep.study.config import load_study

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from compute_floor import ONE_THREAD, compute_floor, print_floor  # noqa: E402

#: What the added image is: the coffee photo mirrored (another image, same size and content kind).
ADDED = dict(image_id="coffee_mirrored", path="coffee_mirrored.png", label_wnid="n07920052")
ADDED_NOTE = "the espresso photo, mirrored"


def make_project(root: pathlib.Path, config: dict, source: pathlib.Path = REPO) -> dict:
    """A copy of the workflow of ``source`` (this checkout, or another revision's worktree) in
    ``root`` (created, or empty) with ``config`` and a fresh cache of its own; returns the config
    as written."""
    root.mkdir(parents=True, exist_ok=True)
    if source == REPO:
        copy_workflow(root)
    else:  # another revision's paths module may not have copy_workflow (or not this one): same list
        for rel in WORKFLOW_FILES:
            src, dst = source / rel, root / rel
            if src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    config = dict(config, cache_dir=str(root / "cache"))
    (root / "config").mkdir(exist_ok=True)
    (root / "config/config.yaml").write_text(yaml.safe_dump(config))
    shutil.copytree(source / "config/datasets", root / "config/datasets")
    # an overlay taken from this checkout (base without smoke.yaml) names files the base lacks
    for rel in [*config.get("grids", []), *(d["sheet"] for d in config.get("datasets", []) if d.get("sheet"))]:
        if not (root / rel).exists() and (REPO / rel).exists():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / rel, root / rel)
    return config


def run_snakemake(root: pathlib.Path, cores: int, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of Snakemake and every job together) of one run; ``env``: the
    environment of Snakemake and its jobs (default: this process's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "all"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"snakemake failed in {root}:\n{proc.stderr[-4000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _float(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):  # a column Snakemake could not measure ("NA")
        return float("nan")


def _jobs(out: pathlib.Path, since: float) -> list[dict]:
    """The jobs of the last run, from Snakemake's benchmark files (``benchmark:`` of every rule)
    under ``out`` (the project, or its ``runs/<run>``): name, stage, wall seconds (start-up
    included), CPU seconds, peak memory (MB), start and end (the file's time) in seconds since
    ``since``."""
    jobs = []
    for path in (out / "results/benchmarks").rglob("*.tsv"):
        end = path.stat().st_mtime
        if end < since:
            continue
        head, values = path.read_text().splitlines()[:2]
        row = dict(zip(head.split("\t"), values.split("\t")))
        name = str(path.relative_to(out / "results/benchmarks").with_suffix(""))
        s = float(row["s"])
        jobs.append(
            dict(
                name=name,
                stage=name.split("/")[0],
                s=s,
                cpu=_float(row.get("cpu_time")),
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


def _outputs(root: pathlib.Path, config: dict) -> pathlib.Path:
    """Where the study's results/ are: ``runs/<run>/`` for a named run (smoke.yaml's ``run: smoke``)."""
    return root / "runs" / config["run"] if config.get("run") else root


def _count(out: pathlib.Path, table: str) -> int:
    return duckdb.execute(f"SELECT count(*) FROM read_parquet('{out}/results/{table}/**/*.parquet')").fetchone()[0]


def _ok_sources(root: pathlib.Path, out: pathlib.Path) -> list[str]:
    """The source files of the images the run ingested (status ok), as absolute paths."""
    rows = duckdb.execute(
        f"SELECT source_path FROM read_parquet('{out}/results/images/**/*.parquet') WHERE status = 'ok' ORDER BY 1"
    ).fetchall()
    return [str(root / p) for (p,) in rows]


def _merge(base: dict, overlay: dict) -> dict:
    """``overlay`` over ``base`` as Snakemake merges a ``--configfile``: dicts key by key, the rest replaced."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _load_config(path: pathlib.Path, source: pathlib.Path, smoke: bool) -> dict:
    """The config at ``path``, with ``source``'s ``config/smoke.yaml`` merged in for ``smoke``
    (this checkout's where ``source``, an older revision, has none)."""
    config = yaml.safe_load(path.read_text())
    if smoke:
        overlay = source / "config/smoke.yaml"
        overlay = overlay if overlay.exists() else REPO / "config/smoke.yaml"
        config = _merge(config, yaml.safe_load(overlay.read_text()))
    return config


def add_image(root: pathlib.Path, config: dict, image: pathlib.Path | None = None) -> pathlib.Path:
    """One more photo in the study's first dataset: ``image`` copied in, or (None) the coffee
    photo of the materialized default data mirrored; a line for it in the dataset's sheet (its
    columns, whatever the revision's sheet has). Returns the image's file."""
    ds = config["datasets"][0]
    dest = root / ds["root"] / ADDED["path"]
    if image is None:
        Image.open(root / "data/default/coffee.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(dest)
    else:  # the very same bytes on both sides
        shutil.copy(image, dest)
    sheet = root / ds["sheet"]
    header = sheet.read_text().splitlines()[0].split("\t")
    values = dict(ADDED, note=ADDED_NOTE)
    with open(sheet, "a") as f:
        f.write("\t".join(values.get(column, "") for column in header) + "\n")
    return dest


def run_single(args) -> int:
    """The study of this working tree alone (no ``--base``): what this script always printed."""
    with tempfile.TemporaryDirectory(prefix="codecsweep-bench-") as tmp:
        root = pathlib.Path(args.keep or tmp)
        config = make_project(root, _load_config(pathlib.Path(args.config), REPO, args.smoke))
        out = _outputs(root, config)

        start = time.time()
        wall, cpu = run_snakemake(root, args.cores)
        variants, images = _count(out, "variants"), _count(out, "images")
        print(f"{config.get('run') or 'default'} study: {images} images, {variants} variants, {args.cores} cores")
        _report("cold run", wall, cpu, _jobs(out, start), args.cores, variants, timeline=True)
        if not args.no_floor:
            steps, n, floor_wall = _floor(root, out, config, args.cores)
            floor = print_floor(steps, n, args.cores, floor_wall)
            print(f"cold run / floor: {wall:.1f} / {floor:.1f} = {wall / floor:.2f}")

        start = time.time()
        print(f"no-op rerun: {run_snakemake(root, args.cores)[0]:.1f} s wall")

        add_image(root, config)
        start = time.time()
        added, cpu = run_snakemake(root, args.cores)
        print(f"one image added: {added:.1f} s wall = {added / (wall / images):.2f} x its share of the cold run")
        _report("  that run", added, cpu, _jobs(out, start), args.cores, variants // images, timeline=True)
    return 0


def _floor(root: pathlib.Path, out: pathlib.Path, config: dict, cores: int) -> tuple[dict, int, float]:
    """The compute floor of the run in ``root`` (this checkout's code) on its ingested images,
    the model in the config's runtime, its ONNX export read from the run's cache."""
    study = load_study(dict(config, grids=[str(root / g) for g in config["grids"]]))
    runtime = config.get("runtime", "auto")
    return compute_floor(
        _ok_sources(root, out), study, study.models[0], config["batch_size"]["cpu"], cores, runtime, config["cache_dir"]
    )


# ---------------------------------------------------------------------------------------------
# --base: this working tree against an older revision, alternated


@dataclass
class Side:
    """One side of the comparison: whose workflow (``source``), its project and environment, and
    what was measured."""

    label: str  # base | new
    source: pathlib.Path  # REPO, or the base revision's worktree
    config_path: pathlib.Path
    root: pathlib.Path
    env: dict | None  # None: this process's (the editable install of this checkout)
    smoke: bool
    config: dict = field(default_factory=dict)
    images: int = 0  # of the cold run (the image added comes later)
    variants: int = 0
    cold: list = field(default_factory=list)  # wall seconds of every cold run
    runs: dict = field(default_factory=dict)  # run name -> (wall, cpu, jobs) of its last run

    @property
    def out(self) -> pathlib.Path:
        return _outputs(self.root, self.config)

    def fresh(self) -> None:
        """An empty project with a fresh cache (again, for each cold run)."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.config = make_project(self.root, _load_config(self.config_path, self.source, self.smoke), self.source)

    def snakemake(self, name: str, cores: int, label: str = "") -> float:
        """One run, kept under ``name`` (``label``: what to print, default ``name``)."""
        since = time.time()
        wall, cpu = run_snakemake(self.root, cores, self.env)
        self.runs[name] = (wall, cpu, _jobs(self.out, since))
        print(f"  {self.label:4s} {label or name:12s} {wall:7.1f} s wall", flush=True)
        return wall


@contextlib.contextmanager
def worktree(rev: str):
    """(path, commit) of ``rev`` checked out in a temporary detached worktree of this checkout's
    repository; removed on the way out, error or not (the checkout itself is not touched)."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"], capture_output=True, text=True
    )
    if commit.returncode:
        raise SystemExit(f"--base {rev}: not a commit of {REPO}: {commit.stderr.strip()}")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="codecsweep-base-"))
    path = tmp / "tree"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev], check=True, capture_output=True
    )
    try:
        yield path, commit.stdout.strip()
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _package_of(side: Side) -> pathlib.Path:
    """Where ``codecsweep`` comes from in ``side``'s environment, checked to be its own: the
    editable install's finder comes after PYTHONPATH on sys.path, so the worktree's should win."""
    probe = subprocess.run(
        [sys.executable, "-c", "import codecsweep; print(codecsweep.__file__)"],
        cwd=side.root,
        env=side.env,
        capture_output=True,
        text=True,
    )
    path = pathlib.Path(probe.stdout.strip() or "?").resolve()
    if probe.returncode or not path.is_relative_to(side.source.resolve()):
        raise SystemExit(f"{side.label}: codecsweep is imported from {path}, not from {side.source}\n{probe.stderr}")
    return path


def _sides(tree: pathlib.Path, top: pathlib.Path, args) -> list[Side]:
    """base (the worktree's own config) and new (``--config``), projects ready, packages checked."""
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH")) if p)
    sides = [
        Side("base", tree, tree / "config/config.yaml", top / "base", dict(os.environ, PYTHONPATH=path), args.smoke),
        Side("new", REPO, pathlib.Path(args.config).resolve(), top / "new", None, args.smoke),
    ]
    for side in sides:
        side.fresh()
        print(f"{side.label}: codecsweep from {_package_of(side)}, workflow and config from {side.source}")
    return sides


#: The classification probe, run in each side's environment: its own classifier (PyTorch eager
#: before the runtimes, the config's runtime after) timed alone, one thread, process CPU time.
PROBE = """
import json, sys, time
import numpy as np
from PIL import Image
import codecsweep.models as m
a = json.loads(sys.argv[1])
spec = m.get_spec(a["model"])
if hasattr(m, "run_model"):
    runtime = m.resolve_runtime(a["runtime"], spec)
    cache = None
    if runtime != "torch":
        from codecsweep.storage.cache import Cache
        cache = Cache(a["cache_dir"])
    model, run = m.load_runtime(a["model"], runtime, cache, 1), m.run_model
else:
    runtime, model, run = "torch", m.load_model(a["model"], "cpu"), m.forward
if "torch" in sys.modules:
    sys.modules["torch"].set_num_threads(1)
x = [m.preprocess(spec, Image.open(p).convert("RGB")) for p in a["images"]]
b, n = a["batch"], a["batches"]
batches = [np.stack([x[(i * b + j) % len(x)] for j in range(b)]) for i in range(n)]
run(model, batches[0], a["taps"])
t0 = time.process_time()
for batch in batches:
    run(model, batch, a["taps"])
print(json.dumps(dict(runtime=runtime, ms=1000 * (time.process_time() - t0) / (n * b))))
"""


def _probe(side: Side, images: int) -> dict:
    """{runtime, ms}: core-ms per image of ``side``'s classifier on its ingested originals, in
    full batches of the config's CPU batch size, with the dfd taps where the config has dfd."""
    b = side.config["batch_size"]["cpu"]
    spec = dict(
        model=side.config["models"][0],
        runtime=side.config.get("runtime", "auto"),
        cache_dir=side.config["cache_dir"],
        images=_ok_sources(side.root, side.out),
        batch=b,
        batches=max(1, images // b),
        taps=bool(side.config.get("metrics", {}).get("dfd_model")),
    )
    env = dict(side.env or os.environ, **ONE_THREAD)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(spec)], cwd=side.root, env=env, capture_output=True, text=True
    )
    if proc.returncode:
        print(f"  {side.label}: classification probe failed:\n{proc.stderr[-2000:]}")
        return dict(runtime="?", ms=float("nan"))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _peer(cores: int) -> float | None:
    """codecsweep's wall over CompressAI bench's, from ``peer_benchmark.py`` (this checkout's code),
    or None (said why) where it cannot run (CompressAI missing, anything else)."""
    print("peer benchmark (benchmarks/peer_benchmark.py, this checkout's code):", flush=True)
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/peer_benchmark.py"), "--cores", str(cores)],
        capture_output=True,
        text=True,
    )
    print("  " + "\n  ".join(proc.stdout.strip().splitlines()))
    peer = re.search(r"\(peer\):\s*([\d.]+) s wall", proc.stdout)
    ours = re.search(r"cache empty\):\s*([\d.]+) s wall", proc.stdout)
    if proc.returncode or not (peer and ours):
        print(f"  peer benchmark could not run (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
        return None
    return float(ours.group(1)) / float(peer.group(1))


def _ratio(new: float | None, base: float | None) -> float | None:
    return new / base if new is not None and base else None


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "—" if v is None or v != v else format(v, spec)


def _table(rows: list[tuple]) -> None:
    """metric | base | new | new/base | target | met?; a row: (metric, base, new, target text,
    the value the target is on (the ratio, or new itself), the bound)."""
    print(f"\n{'metric':40s} {'base':>9s} {'new':>9s} {'new/base':>9s}  {'target':22s} met?")
    for metric, base, new, target, value, bound in rows:
        met = "—" if value is None or bound is None or value != value else ("yes" if value <= bound else "NO")
        print(f"{metric:40s} {_fmt(base):>9s} {_fmt(new):>9s} {_fmt(_ratio(new, base)):>9s}  {target:22s} {met}")


def _stage_table(base: Side, new: Side) -> None:
    """The cold runs' job seconds per stage, both sides (their last cold run)."""
    b, n = base.runs["cold"][2], new.runs["cold"][2]
    print(f"\ncold run per stage (job-s, start-up included; CPU-s)  {'base':>16s} {'new':>16s} {'new/base':>9s}")
    for stage in sorted({j["stage"] for j in b + n}, key=lambda st: -sum(j["s"] for j in b if j["stage"] == st)):
        sb = sum(j["s"] for j in b if j["stage"] == stage)
        sn = sum(j["s"] for j in n if j["stage"] == stage)
        cb = sum(j["cpu"] for j in b if j["stage"] == stage)
        cn = sum(j["cpu"] for j in n if j["stage"] == stage)
        print(f"  {stage:51s} {sb:7.1f} ({cb:6.1f}) {sn:7.1f} ({cn:6.1f}) {_fmt(_ratio(sn, sb)):>9s}")


def _analyze_ms(side: Side) -> float | None:
    """Core-ms per variant of the cold run's analyze jobs (classify every variant with every model,
    pixel metrics, dfd; job start-up included), from their benchmark files' CPU time."""
    cpu = sum(j["cpu"] for j in side.runs["cold"][2] if j["stage"] == "analyze")
    return 1000 * cpu / side.variants if side.variants and cpu == cpu else None


def _alternate(sides: list[Side], args) -> dict:
    """Every run, the sides alternated (base first): cold x ``repeat`` (ABAB), then the floor and
    the classification probes, no-op, one image added. Returns what the last table needs."""
    print(f"\nruns ({args.cores} cores), in the order they ran:")
    for i in range(args.repeat):
        for side in sides:
            if i:
                side.fresh()  # a fresh project and cache for every cold run
            side.cold.append(side.snakemake("cold", args.cores, f"cold {i + 1}/{args.repeat}"))
            side.images, side.variants = _count(side.out, "images"), _count(side.out, "variants")
    base, new = sides
    floor = None
    if not args.no_floor:
        steps, n, floor_wall = _floor(new.root, new.out, new.config, args.cores)
        print()
        floor = print_floor(steps, n, args.cores, floor_wall)
    probes = {side.label: _probe(side, args.probe_images) for side in sides}
    for side in sides:
        side.snakemake("no-op", args.cores)
    # the image is made once (from the new side's materialized data), the same bytes on the base
    add_image(base.root, base.config, add_image(new.root, new.config))
    for side in sides:
        side.snakemake("+1 image", args.cores)
    return dict(floor=floor, probes=probes)


def _summary(sides: list[Side], floor: float | None, probes: dict, peer: float | None, args) -> None:
    """Both sides' run reports, the stage table, and the last table: every figure, new/base, target."""
    base, new = sides
    for side in sides:
        variants, images = side.variants, side.images
        print(f"\n{side.label}: {images} images, {variants} variants")
        _report(f"{side.label} cold run (last)", *side.runs["cold"], args.cores, variants)
        _report(f"{side.label} one image added", *side.runs["+1 image"], args.cores, variants // images)
    _stage_table(base, new)
    cold = {s.label: statistics.median(s.cold) for s in sides}
    share = {s.label: s.runs["+1 image"][0] / (cold[s.label] / s.images) for s in sides}
    noop = {s.label: s.runs["no-op"][0] for s in sides}
    floor_ratio = {s.label: cold[s.label] / floor if floor else None for s in sides}
    ms = {s.label: probes[s.label]["ms"] for s in sides}
    analyze = {s.label: _analyze_ms(s) for s in sides}
    n = f"median of {args.repeat}" if args.repeat > 1 else "1 run"
    rows = [
        (f"cold wall (s, {n})", cold["base"], cold["new"], "new/base <= 0.6", _ratio(cold["new"], cold["base"]), 0.6),
        (
            "floor ratio (cold wall / floor)",
            floor_ratio["base"],
            floor_ratio["new"],
            "new <= 1.2",
            floor_ratio["new"],
            1.2,
        ),
        (
            "classify core-ms per image (probe)",
            ms["base"],
            ms["new"],
            "new/base <= 0.45",
            _ratio(ms["new"], ms["base"]),
            0.45,
        ),
        ("analyze core-ms per variant (jobs)", analyze["base"], analyze["new"], "(context, no target)", None, None),
        ("+1 image (x its share of the cold run)", share["base"], share["new"], "new <= 1.25", share["new"], 1.25),
        ("no-op wall (s)", noop["base"], noop["new"], "new <= 3 s", noop["new"], 3.0),
    ]
    if args.peer:
        rows.append(("codecsweep / CompressAI bench (new)", None, peer, "new <= 0.5", peer, 0.5))
    _table(rows)
    _explain(probes, floor, args)


def _explain(probes: dict, floor: float | None, args) -> None:
    """What each figure of the table is."""
    print(
        f"""
- cold wall: Snakemake from an empty cache to the report, both sides on the same images and {args.cores} cores.
- floor ratio: cold wall over the compute floor ({"not measured: --no-floor" if floor is None else f"{floor:.1f} s"}),
  measured once with the new code and its runtime; the base's ratio is against the same floor.
- classify core-ms per image: each side's own classifier timed alone (its own codecsweep package),
  {args.probe_images} originals in batches of the config's CPU batch size, with the dfd taps, one thread,
  process CPU time after one warm-up batch: base in {probes["base"]["runtime"]}, new in {probes["new"]["runtime"]}.
  The jobs' benchmark files cannot give it: analyze classifies and measures in the same job.
- analyze core-ms per variant: the cold run's analyze jobs' CPU time (benchmark files) per variant:
  classification with pixel metrics, dfd and the jobs' start-up; context for the probe, no target.
- +1 image: the run after adding one photo (the coffee photo mirrored, the same file on both sides)
  over 1/N of the cold run's wall (N images).
- no-op: the rerun with nothing to do (Snakemake's start-up and DAG)."""
    )


def run_compare(args) -> int:
    """This working tree against ``args.base``, alternated (module docstring)."""
    with worktree(args.base) as (tree, commit), tempfile.TemporaryDirectory(prefix="codecsweep-bench-") as tmp:
        top = pathlib.Path(args.keep or tmp)
        print(f"base: {args.base} = {commit[:12]} (worktree {tree}); new: the working tree of {REPO}")
        sides = _sides(tree, top, args)
        measured = _alternate(sides, args)
        peer = _peer(args.cores) if args.peer else None
        _summary(sides, measured["floor"], measured["probes"], peer, args)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--config", default=str(REPO / "config/config.yaml"), help="the (new side's) config")
    ap.add_argument("--smoke", action="store_true", help="config/smoke.yaml's setup merged into the config")
    ap.add_argument(
        "--no-floor", action="store_true", help="skip the compute-floor measurement (about the cold run's time)"
    )
    ap.add_argument("--keep", help="run in this (new) folder and keep it, to read its reports afterwards")
    ap.add_argument("--base", metavar="REV", help="compare with this git revision's code (worktree), alternated")
    ap.add_argument("--repeat", type=int, default=1, help="with --base: cold runs per side, ABAB (the median)")
    ap.add_argument("--probe-images", type=int, default=64, help="with --base: images the classify probe times")
    ap.add_argument("--peer", action="store_true", help="with --base: also peer_benchmark.py (CompressAI bench)")
    args = ap.parse_args()
    return run_compare(args) if args.base else run_single(args)


if __name__ == "__main__":
    sys.exit(main())
