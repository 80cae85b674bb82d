"""Peak memory (RSS) of each job kind on one large photo, printed as numbers (no assertions).

    python benchmarks/memory_benchmark.py [--megapixels 12 48] [--stages encode classify analyze]

For each size, a 4:3 photo-like image (scikit-image's coffee, upscaled, with noise so that it
compresses like a photo) is ingested into a one-image shard; then each stage function
(stages.encode_shard with one JPEG variant at scale 1, classify_originals_shard with
EfficientNet-Lite0, analyze_shard of that variant: classify + pixel metrics + dfd, LPIPS as configured)
runs in its own subprocess, which prints its peak RSS (``ru_maxrss``). A subprocess that only
imports the stages gives the baseline. Use the numbers to set ``config.MEM_MB``
(base + MB per megapixel of the shard's largest image).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


MODEL = "efficientnet_lite0"


def _child(stage: str, work: str) -> None:
    """Run one stage function in this (fresh) process and print its peak RSS as JSON."""
    from codecsweep import pipeline as stages

    w = pathlib.Path(work)
    images, variants, cache = w / "images.parquet", w / "variants.parquet", w / "cache"
    if stage == "encode":
        grid = {"encoder": "jpeg", "params": ["50"]}
        stages.encode_shard(images, "bench", 0, grid, [1.0], ["rgb"], cache, variants, w / "s-enc.parquet")
    elif stage == "classify":  # the originals' job
        stages.classify_originals_shard(
            images, "bench", 0, [MODEL], cache, {MODEL: w / "p.parquet"}, w / "s-cls.parquet"
        )
    elif stage == "analyze":  # classify + measure the variant (one decode, dfd from the same pass)
        stages.analyze_shard(
            images,
            variants,
            {MODEL: w / "p.parquet"},
            "bench",
            0,
            [MODEL],
            cache,
            {MODEL: w / "pv.parquet"},
            w / "m.parquet",
            w / "s-an.parquet",
        )
    print(json.dumps({"stage": stage, "peak_rss_mb": round(_peak_mb())}))


def _run_child(stage: str, work: pathlib.Path) -> int:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # CPU: host memory is what a job declares
    proc = subprocess.run(
        [sys.executable, __file__, "--child", stage, str(work)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(f"{stage} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def _make_image(megapixels: float, path: pathlib.Path) -> tuple[int, int]:
    import numpy as np
    import skimage.data
    from PIL import Image

    w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    h = int(round(w * 3 / 4))
    im = Image.fromarray(skimage.data.coffee()).resize((w, h), Image.Resampling.BICUBIC)
    rng = np.random.default_rng(0)
    arr = np.asarray(im, dtype=np.int16) + rng.integers(-6, 7, (h, w, 1), dtype=np.int16)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=92)
    return w, h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, nargs="+", default=[12, 48])
    ap.add_argument("--stages", nargs="+", default=["encode", "classify", "analyze"])
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(*args.child) if args.child[0] != "baseline" else print(json.dumps({"peak_rss_mb": _base()}))

    from codecsweep.core import schemas
    from codecsweep.storage import records
    from codecsweep.storage.images import Limits
    from codecsweep.study.datasets import ingest

    print(f"baseline (python + codecsweep.pipeline imported): {_run_child('baseline', REPO)} MB peak RSS")
    for mp in args.megapixels:
        with tempfile.TemporaryDirectory(prefix="codecsweep-mem-") as tmp:
            work = pathlib.Path(tmp)
            (work / "src").mkdir()
            w, h = _make_image(mp, work / "src/photo.jpg")
            spec = {"kind": "folder", "root": str(work / "src"), "shards": 1}
            records.write(ingest("bench", spec, Limits()), schemas.IMAGES, work / "images.parquet")
            for stage in args.stages:
                peak = _run_child(stage, work)
                print(
                    f"{stage:9s} {w}x{h} ({w * h / 1e6:.1f} MP): {peak} MB peak RSS ({peak / (w * h / 1e6):.0f} MB/MP)"
                )


def _base() -> int:
    import codecsweep.pipeline  # noqa: F401

    return round(_peak_mb())


if __name__ == "__main__":
    main()
