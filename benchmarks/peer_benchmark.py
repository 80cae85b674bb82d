"""The same work as a per-variant peer: CompressAI's ``bench`` against this workflow.

    python benchmarks/peer_benchmark.py [--cores 2]

The work: the six default photographs x the study's 18 JPEG qualities, full scale, RGB, and
PSNR and MS-SSIM of each variant against its original.
- peer: ``python -m compressai.utils.bench jpeg <folder> -q 1,2,...,50 -j <cores>``
  (Pillow's JPEG in memory, PSNR and MS-SSIM with torch), timed from start to exit;
- this project: a cold run of the workflow (fresh cache) with ``encoders: [jpeg]``,
  ``scales: [1]``, ``colors: [rgb]``, dfd and LPIPS off, the same qualities.
It prints both wall times, and the mean PSNR per quality of both (the two implementations
must agree: an independent check of ours). What the project does beyond the peer is printed
too: it is not the same work to the last step.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import duckdb
import yaml

from codecsweep.core.paths import REPO
from codecsweep.study.datasets import materialize_default

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from study_benchmark import make_project, run_snakemake  # noqa: E402


def _peer(folder: pathlib.Path, qualities: list, cores: int) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "compressai.utils.bench", "jpeg", str(folder), "-j", str(cores)]
    start = time.perf_counter()
    proc = subprocess.run(cmd + ["-q", ",".join(map(str, qualities))], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"compressai bench failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout)["results"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    qualities = yaml.safe_load((REPO / "config/grids/rennes2017.yaml").read_text())["encoders"]["jpeg"]
    with tempfile.TemporaryDirectory(prefix="codecsweep-peer-") as tmp:
        photos = pathlib.Path(tmp) / "photos"
        materialize_default(photos)
        peer_wall, peer = _peer(photos, qualities, args.cores)

        root = pathlib.Path(tmp) / "project"
        make_project(
            root,
            dict(
                config,
                encoders=["jpeg"],
                scales=[1],
                colors=["rgb"],
                metrics=dict(config["metrics"], dfd_model=None, lpips_net=None),
            ),
        )
        wall, _ = run_snakemake(root, args.cores)
        ours = duckdb.execute(f"""
            SELECT CAST(m.param AS INTEGER) AS q, avg(m.psnr) AS psnr, avg(m.ms_ssim) AS ms_ssim, avg(v.bpp) AS bpp
            FROM read_parquet('{root}/results/metrics/**/*.parquet') m
            JOIN read_parquet('{root}/results/variants/**/*.parquet') v USING (image_id, encoder, scale, color, param)
            GROUP BY 1 ORDER BY 1""").fetchall()
        changed = duckdb.execute(f"""
            SELECT image_id || ': ' || normalization FROM read_parquet('{root}/results/images/**/*.parquet')
            WHERE normalization <> '' ORDER BY 1""").fetchall()
    n = len(qualities) * 6
    print(
        f"the same work: 6 photos x {len(qualities)} JPEG qualities = {n} variants, PSNR + MS-SSIM, {args.cores} cores"
    )
    print(f"  CompressAI bench (peer):  {peer_wall:6.1f} s wall")
    print(f"  codecsweep (cold, cache empty): {wall:6.1f} s wall = {wall / peer_wall:.1f} x the peer")
    print(
        "  codecsweep does besides: classifies the 6 originals and every variant with EfficientNet-Lite0 "
        "(ranks, top-1), SSIM, PSNR-Y and SSIM-Y, bpp and both compression ratios, the content-addressed "
        "cache, Parquet tables, the report with bootstrap intervals and figures, ~2 s of Snakemake start-up"
    )
    print("  quality: mean PSNR (dB) peer / ours, mean MS-SSIM peer / ours, mean bpp peer / ours")
    for (line,) in changed:  # the peer encodes a file's raw values; the project its sRGB pixels
        print(f"  (differ where the project normalized a source first: {line})")
    for i, (q, psnr, ms_ssim, bpp) in enumerate(ours):
        print(
            f"    q={q:2d}: {peer['psnr-rgb'][i]:6.2f} / {psnr:6.2f}   {peer['ms-ssim-rgb'][i]:.4f} / {ms_ssim:.4f}   "
            f"{peer['bpp'][i]:.3f} / {bpp:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
