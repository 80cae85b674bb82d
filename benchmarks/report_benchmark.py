"""Time the report job on synthetic studies: the default study's shape (6 images x 432
variants) and 1,000 images x 432 variants. Prints the numbers; asserts nothing.

    PYTHONPATH=. python benchmarks/report_benchmark.py [--images 6 1000] [--keep DIR]
    PYTHONPATH=. python benchmarks/report_benchmark.py --job [--compare OLD_CHECKOUT] [--rounds 3] [--images 6]

``--job`` times the report as the workflow runs it: a fresh interpreter (imports included),
one figure worker, a cache (``cache_dir``), three reports per cache: the study (cold), the
same again (its figures from the cache) and the study with one more image (the "+1 image"
run: the report whose figures all change). ``--compare DIR`` runs the same with the code of
another checkout (e.g. ``git worktree add /tmp/old HEAD``), alternating the two, round by round.

The synthetic Parquet follows the output contract (codecsweep.records): the study's grid
(JPEG / JPEG 2000 / HEVC x 4 scales x RGB/gray x 18 parameters), bits per pixel rising with
the parameter, and a classifier whose top-1 survives with a probability that is logistic in
log bpp, shifted by a per-image difficulty. ``synthetic_study`` is also the tests' fixture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from codecsweep.core import schemas  # noqa: E402

ENCODERS = {"jpeg": (0.08, 0.0), "jpeg2000": (0.05, 0.3), "hevc": (0.03, 0.6)}  # bpp at param 0, skill
SCALES = (1.0, 0.5, 0.25, 0.125)
COLORS = ("rgb", "gray")
PARAMS = 18


def _table(columns: dict, schema: pa.Schema) -> pa.Table:
    n = len(next(iter(columns.values())))
    arrays = [pa.array(columns[f.name], type=f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def synthetic_study(
    out: pathlib.Path,
    images: int,
    seed: int = 0,
    encoders=tuple(ENCODERS),
    annotated_share: float = 0.8,
    difficulty_sd: float = 1.0,
) -> dict[str, list[str]]:
    """Write images / variants / predictions / metrics Parquet under ``out``; return the
    ``files`` argument of ``report.build_report``."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = np.array([f"img{i:05d}" for i in range(images)])
    w, h = 500, 375
    source_bytes = rng.integers(60_000, 200_000, images)
    annotated = rng.random(images) < annotated_share
    difficulty = rng.normal(0, difficulty_sd, images)
    complexity = np.exp(rng.normal(0, 0.3, images))
    original_rank = np.where(rng.random(images) < 0.75, 0, rng.geometric(0.3, images))
    original_top1 = rng.integers(0, 1000, images)
    grid = [(e, s, c, k) for e in encoders for s in SCALES for c in COLORS for k in range(PARAMS)]
    enc = np.array([g[0] for g in grid])
    scale = np.array([g[1] for g in grid])
    color = np.array([g[2] for g in grid])
    k = np.array([g[3] for g in grid])
    base = np.array([ENCODERS.get(e, (0.05, 0.3))[0] for e in enc])
    skill = np.array([ENCODERS.get(e, (0.05, 0.3))[1] for e in enc])
    # images x settings
    bpp = base * np.exp(0.22 * k) * scale**1.7 * np.where(color == "gray", 0.7, 1.0) * complexity[:, None]
    nbytes = np.maximum(np.round(bpp * w * h / 8), 20).astype(np.int64)
    bpp = nbytes * 8 / (w * h)
    logit = 2.2 + 1.6 * np.log(bpp) + skill + 1.2 * np.log2(scale) * 0.4 - difficulty[:, None]
    agrees = rng.random(bpp.shape) < 1 / (1 + np.exp(-logit))
    rank_diff = np.where(agrees, rng.integers(-1, 2, bpp.shape), -rng.geometric(0.2, bpp.shape))
    true_rank = np.maximum(original_rank[:, None] - rank_diff, 0)
    rank_diff = original_rank[:, None] - true_rank
    top1 = np.where(agrees, original_top1[:, None], (original_top1[:, None] + 1 + k) % 1000)
    ssim = 1 - 0.35 / (1 + 4 * bpp)
    psnr = 24 + 6 * np.log2(1 + 4 * bpp)

    n, m = bpp.shape
    flat = {"image_id": np.repeat(ids, m), "encoder": np.tile(enc, n), "scale": np.tile(scale, n)}
    flat |= {"color": np.tile(color, n), "param": np.tile(k.astype(str), n), "dataset": np.full(n * m, "syn")}
    keys = dict(flat)
    variants = _table(
        keys
        | {
            "param_index": np.tile(k, n).astype(np.int32),
            "codec_version": np.array([f"{e} 1.0" for e in flat["encoder"]]),
            "bytes": nbytes.ravel(),
            "bpp": bpp.ravel(),
            "cr_raw": (w * h * 24 / (nbytes * 8)).ravel(),
            "cr_source": (source_bytes[:, None] / nbytes).ravel(),
            "status": np.full(n * m, "ok"),
        },
        schemas.VARIANTS,
    )
    top5 = [[int(t), int(o), 1, 2, 3] for t, o in zip(top1.ravel(), np.repeat(original_top1, m))]
    predictions = _table(
        keys
        | {
            "model": np.full(n * m, "synthnet"),
            "true_rank": true_rank.ravel().astype(np.int32),
            "top1": top1.ravel().astype(np.int32),
            "top5": top5,
            "original_rank": np.repeat(original_rank, m).astype(np.int32),
            "rank_diff": rank_diff.ravel().astype(np.int32),
            "top1_agrees": agrees.ravel(),
            "status": np.full(n * m, "ok"),
        },
        schemas.PREDICTIONS,
    )
    originals = _table(
        {
            "dataset": np.full(n, "syn"),
            "image_id": ids,
            "model": np.full(n, "synthnet"),
            "true_rank": original_rank.astype(np.int32),
            "top1": original_top1.astype(np.int32),
            "top5": [[int(t), 1, 2, 3, 4] for t in original_top1],
            "status": np.full(n, "ok"),
        },
        schemas.PREDICTIONS,
    )
    metrics = _table(
        keys
        | {"psnr": psnr.ravel(), "ssim": ssim.ravel(), "ms_ssim": ssim.ravel() ** 1.2, "dfd": (1 - ssim).ravel()}
        | {"status": np.full(n * m, "ok")},
        schemas.METRICS,
    )
    imgs = _table(
        {
            "dataset": np.full(n, "syn"),
            "image_id": ids,
            "source_sha256": np.array([f"{i:064x}" for i in range(n)]),
            "source_path": np.array([f"{i}.jpg" for i in ids]),
            "width": np.full(n, w, dtype=np.int32),
            "height": np.full(n, h, dtype=np.int32),
            "source_bytes": source_bytes,
            "label": np.where(annotated, original_top1, -1).astype(np.int32),
            "label_source": np.where(annotated, "annotated", "pseudo"),
            "shard": np.zeros(n, dtype=np.int32),
            "status": np.full(n, "ok"),
        },
        schemas.IMAGES,
    )
    files = {}
    for name, table in [
        ("images", imgs),
        ("variants", variants),
        ("originals", originals),
        ("predictions", predictions),
        ("metrics", metrics),
    ]:
        pq.write_table(table, out / f"{name}.parquet")
        files[name] = [str(out / f"{name}.parquet")]
    return files


#: One report job: a fresh interpreter, the imports, one figure worker (the rule's threads: 2).
JOB = """
import json, resource, sys
if __name__ == "__main__":  # the figure worker is spawned: it imports this script again
    files, sql, out, cache = json.loads(sys.argv[1])
    from codecsweep.report.build import build_report
    build_report(files, sql, out_dir=out, figure_workers=1, cache_dir=cache)
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(json.dumps({"cpu": me.ru_utime + me.ru_stime, "worker_cpu": kids.ru_utime + kids.ru_stime}))
"""


def without_last_image(files: dict[str, list[str]], out: pathlib.Path) -> dict[str, list[str]]:
    """The same study without its last image (by id): ``files`` is then that study plus one image."""
    out.mkdir(parents=True, exist_ok=True)
    last = max(pq.read_table(files["images"][0], columns=["image_id"]).column("image_id").to_pylist())
    fewer = {}
    for name, paths in files.items():
        table = pq.read_table(paths[0])
        pq.write_table(table.filter(pc.not_equal(table["image_id"], last)), out / f"{name}.parquet")
        fewer[name] = [str(out / f"{name}.parquet")]
    return fewer


def with_artifact_hashes(files: dict[str, list[str]]) -> None:
    """Give the variants artifact hashes (of nothing in the cache: the gallery shows them as
    missing), as the workflow's variants have."""
    table = pq.read_table(files["variants"][0])
    keys = zip(*(table.column(c).to_pylist() for c in ("dataset", "image_id", "encoder", "scale", "color", "param")))
    hashes = pa.array([hashlib.sha256(repr(k).encode()).hexdigest() for k in keys], type=pa.string())
    i = table.schema.get_field_index("artifact_sha256")
    pq.write_table(table.set_column(i, table.schema.field(i), hashes), files["variants"][0])


def time_job(code: pathlib.Path, files: dict, out: pathlib.Path, cache: pathlib.Path) -> dict:
    """Wall and CPU seconds of one report job with the package of ``code``."""
    sql = sorted(str(p) for p in (code / "reports/sql").glob("*.sql"))
    script = out.parent / f"{out.name}-job.py"
    script.write_text(JOB)
    env = dict(os.environ, PYTHONPATH=str(code))
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), json.dumps([files, sql, str(out), str(cache)])],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"the report job with {code} failed:\n{done.stderr[-3000:]}")
    return {"wall": time.perf_counter() - t0, **json.loads(done.stdout.splitlines()[-1])}


def jobs(codes: list[pathlib.Path], images: int, rounds: int) -> None:
    """Each round, for each code in turn: the study cold, again (cached), then with one more image."""
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        more = synthetic_study(root / "more", images + 1)
        with_artifact_hashes(more)
        study = without_last_image(more, root / "study")
        for r in range(rounds):
            for k, code in enumerate(codes):
                cache = root / f"cache-{r}-{k}"
                runs = [("cold", study), ("again", study), ("+1 image", more)]
                times = [
                    (what, time_job(code, files, root / f"out-{r}-{k}-{n}", cache))
                    for n, (what, files) in enumerate(runs)
                ]
                print(
                    f"round {r + 1}, {code}: "
                    + "; ".join(
                        f"{w} {t['wall']:.1f} s wall, {t['cpu']:.1f} + {t['worker_cpu']:.1f} s CPU" for w, t in times
                    )
                    + f" (main + worker; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
                    flush=True,
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, nargs="+", default=None, help="default: 6 1000 (--job: 6)")
    ap.add_argument("--keep", type=pathlib.Path, help="write the reports here instead of a temporary folder")
    ap.add_argument("--job", action="store_true", help="time report jobs (fresh interpreter, figure worker, cache)")
    ap.add_argument("--compare", type=pathlib.Path, help="--job: alternate with the code of this checkout")
    ap.add_argument("--rounds", type=int, default=3, help="--job: rounds of the alternation")
    args = ap.parse_args()
    if args.job:
        codes = ([args.compare.resolve()] if args.compare else []) + [REPO]
        for n in args.images or [6]:
            jobs(codes, n, args.rounds)
        return
    from codecsweep.report.build import build_report

    sql = sorted(str(p) for p in (REPO / "reports/sql").glob("*.sql"))
    for n in args.images or [6, 1000]:
        with tempfile.TemporaryDirectory() as tmp:
            root = args.keep / f"images-{n}" if args.keep else pathlib.Path(tmp)
            t0 = time.perf_counter()
            files = synthetic_study(root / "results", n)
            t1, c1 = time.perf_counter(), time.process_time()
            build_report(files, sql, out_dir=root / "reports")
            t2, c2 = time.perf_counter(), time.process_time()
            # CPU time too: on a shared machine the wall time mostly measures the neighbours.
            print(
                f"{n} images x 432 variants: fixture {t1 - t0:.1f} s; report {t2 - t1:.1f} s wall, "
                f"{c2 - c1:.1f} s CPU (this process, all threads); load average {os.getloadavg()[0]:.1f} "
                f"on {os.cpu_count()} cores",
                flush=True,
            )


if __name__ == "__main__":
    main()
