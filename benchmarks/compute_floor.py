"""The compute floor of a study: every necessary step timed alone, no pipeline around it.

    python benchmarks/compute_floor.py [--config config/config.yaml] [--cores 2]

For each image x encoder (one task; tasks run ``cores`` at a time, longest codec first) it
does exactly the work a variant needs and nothing else, with the project's own functions:
load and normalize the source and build its metric reference (once per image), prepare each
scale/color (once), then per variant encode, decode, bring back to the source size, the five
pixel metrics, the model's preprocessing, one forward pass in full batches of the configured
CPU batch size (with the stage features for dfd) and the dfd distance; plus one forward pass
per original. The model runs in the config's ``runtime`` as in the jobs (``auto``: ONNX Runtime
on a CPU; ``--runtime`` overrides). No cache (but for a run's ONNX export, where given), no
Parquet, no job start-up, no Snakemake.

Each step's process CPU time (all threads: x265's pool included) is summed; the floor is
that sum over the cores, i.e. the wall time of a perfect scheduler without overhead. It
reads the images of a finished run's images table (``--images``) or of the config's sheet.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import pathlib
import sys
import time

import numpy as np

from codecsweep.codecs import get_encoder
from codecsweep.metrics import DeepFeatureDistance, Reference, pixel_metrics
from codecsweep.storage.images import load_source, prepare, to_source_geometry

#: What Snakemake sets for a job of 1 thread: BLAS pools must not spin on the other core.
ONE_THREAD = {
    v: "1"
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "GOTO_NUM_THREADS")
}
STEPS = ("load", "prepare", "encode", "decode", "resize", "pixel", "preprocess", "classify", "dfd")


#: The model of this worker process, per (name, runtime): loaded once, not per task.
_MODELS: dict = {}


def _model(name: str, runtime: str, cache_dir: str | None):
    """Model ``name`` in ``runtime`` (``torch`` or ``onnxruntime``), one thread, as the workflow's
    jobs: ONNX Runtime loads its export from ``cache_dir`` (exported in memory if None)."""
    if (name, runtime) not in _MODELS:
        from codecsweep.models import load_runtime

        cache = None
        if runtime == "torch":
            import torch

            torch.set_num_threads(1)  # as the workflow's jobs: one thread each, `cores` of them at a time
        elif cache_dir:
            from codecsweep.storage.cache import Cache

            cache = Cache(cache_dir)
        _MODELS[name, runtime] = load_runtime(name, runtime, cache, 1)
    return _MODELS[name, runtime]


def _task(args) -> tuple[collections.Counter, int]:
    """Core seconds per step of one image's variants of one encoder (and of its original)."""
    path, encoder, params, scales, colors, model_name, batch, with_original, runtime, cache_dir = args
    from codecsweep.models import preprocess, run_model

    model = _model(model_name, runtime, cache_dir)  # once per worker process: start-up, not floor
    enc = get_encoder(encoder)
    t: collections.Counter = collections.Counter()
    clock = time.process_time

    def timed(step, fn, *a):
        t0 = clock()
        out = fn(*a)
        t[step] += clock() - t0
        return out

    src = timed("load", lambda: load_source(pathlib.Path(path))[0])
    ref = timed("load", Reference, np.asarray(src))
    x_orig = timed("preprocess", preprocess, model.spec, src)
    # The original's features (the dfd reference); its logits are the originals' classification.
    _, ref_taps = timed("classify", run_model, model, np.stack([x_orig] * batch), True)
    ref_taps = DeepFeatureDistance.reference([f[0:1] for f in ref_taps])
    if not with_original:
        t["classify"] = 0.0  # counted once per image, in the first encoder's task

    def flush(queue):
        _, taps = timed("classify", run_model, model, np.stack(queue), True)
        for n in range(len(queue)):
            timed("dfd", DeepFeatureDistance.distance, ref_taps, [f[n : n + 1] for f in taps])
        queue.clear()

    queue, variants = [], 0
    for scale in scales:
        for color in colors:
            prepared = timed("prepare", prepare, src, scale, color)
            for param in params:
                data = timed("encode", enc.encode, prepared, param)
                decoded = timed("decode", enc.decode, data)
                at_source = timed("resize", lambda d: np.asarray(to_source_geometry(d, src.size)), decoded)
                timed("pixel", pixel_metrics, ref, at_source)
                queue.append(timed("preprocess", preprocess, model.spec, decoded))
                variants += 1
                if len(queue) == batch:
                    flush(queue)
    if queue:
        flush(queue)
    return t, variants


def compute_floor(
    sources: list[str],
    study,
    model_name: str,
    batch: int,
    cores: int,
    runtime: str = "torch",
    cache_dir: str | None = None,
) -> tuple[dict[str, float], int, float]:
    """(core seconds per step, variants, wall seconds of this measurement) over ``sources``.
    ``runtime``: the config's (``auto``, ``torch``, ``onnxruntime``), what the workflow's jobs run
    the model in; ``cache_dir``: a cache holding the model's ONNX export (else exported per worker)."""
    from codecsweep.models import get_spec, resolve_runtime

    runtime = resolve_runtime(runtime, get_spec(model_name))
    tasks = [
        (src, enc, list(study.grids[enc]), list(study.scales), list(study.colors), model_name, batch, i == 0)
        + (runtime, cache_dir)
        for i, enc in enumerate(sorted(study.encoders, key=lambda e: e != "hevc"))  # x265 first: the longest
        for src in sources
    ]
    total: collections.Counter = collections.Counter()
    variants = 0
    os.environ.update(ONE_THREAD)  # inherited by the spawned workers
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(cores, maxtasksperchild=None) as pool:
        for t, n in pool.imap_unordered(_task, tasks):
            total.update(t)
            variants += n
    return {s: total[s] for s in STEPS}, variants, time.perf_counter() - start


def print_floor(steps: dict[str, float], variants: int, cores: int, measured_wall: float) -> float:
    """Print the per-step table; return the floor (core seconds over cores)."""
    core_s = sum(steps.values())
    floor = core_s / cores
    print(f"compute floor: {variants} variants, {core_s:.1f} core-s of necessary work = {floor:.1f} s on {cores} cores")
    for step, s in steps.items():
        print(f"  {step:10s} {s:7.1f} core-s = {1000 * s / variants:6.1f} core-ms per variant")
    print(f"  (this measurement itself: {measured_wall:.1f} s wall with {cores} worker processes)")
    return floor


def main() -> int:
    import yaml

    from codecsweep.core.paths import REPO
    from codecsweep.study.config import load_study

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "config/config.yaml"))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--runtime", help="auto, torch or onnxruntime (default: the config's runtime)")
    ap.add_argument("--images", nargs="+", help="source files (default: the default photographs)")
    args = ap.parse_args()
    config = yaml.safe_load(pathlib.Path(args.config).read_text())
    config["grids"] = [str(REPO / g) for g in config["grids"]]
    study = load_study(config)
    sources = args.images or sorted(str(p) for p in (REPO / "data/default").iterdir() if p.suffix in (".png", ".jpg"))
    if not sources:
        raise SystemExit("no images: run the default study once (it materializes data/default) or pass --images")
    batch = config["batch_size"]["cpu"]
    runtime = args.runtime or config.get("runtime", "auto")
    steps, variants, wall = compute_floor(sources, study, study.models[0], batch, args.cores, runtime)
    print_floor(steps, variants, args.cores, wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
