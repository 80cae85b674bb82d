"""Plan the ImageNet-validation-scale study without running it: job count and dry-run time.

    python benchmarks/scale_check.py [--images 50000] [--shards 190]

Writes a synthetic 50,000-image sample sheet (the files need not exist for a dry run) and
a config with the study's 432-variant grid and the given shard count into a temporary
copy of the workflow, runs `snakemake -n` there, and prints the number of jobs and how
long Snakemake took to plan them. Snakemake's per-job cost grows with the number of
pending jobs, so the plan should stay at or below ~2,000 jobs: 8 jobs per shard
(ingest + 3 encode + classify_originals + 3 analyze) + report + all.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import yaml

from codecsweep.core.paths import copy_workflow


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--shards", type=int, default=190)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codecsweep-scale-") as tmp:
        root = pathlib.Path(tmp)
        copy_workflow(root)
        (root / "data/imagenet/val").mkdir(parents=True)  # the root must exist; the images need not (-n)
        sheet = root / "config/imagenet_val.tsv"
        sheet.write_text(
            "image_id\tpath\tlabel_wnid\n"
            + "".join(
                f"ILSVRC2012_val_{i:08d}\tILSVRC2012_val_{i:08d}.JPEG\tn01440764\n" for i in range(1, args.images + 1)
            )
        )
        config = {
            "datasets": [
                {
                    "name": "imagenet_val",
                    "kind": "sheet",
                    "root": "data/imagenet/val",
                    "sheet": "config/imagenet_val.tsv",
                    "shards": args.shards,
                }
            ],
            "grids": ["config/grids/rennes2017.yaml"],
            "encoders": ["jpeg", "jpeg2000", "hevc"],
            "models": ["efficientnet_lite0"],
        }
        (root / "config/config.yaml").write_text(yaml.safe_dump(config))
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "-n", "--cores", "all", "--quiet", "rules"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            print((proc.stdout + proc.stderr)[-3000:])
            return 1
        total = re.search(r"^total\s+(\d+)", proc.stdout + proc.stderr, re.MULTILINE)
        jobs = int(total.group(1)) if total else -1
        per_job = args.images // args.shards * 144
        print(f"images: {args.images}, shards: {args.shards}, variants: {args.images * 432:,}")
        print(f"jobs planned: {jobs} (target <= 2000); ~{per_job:,} variants per encode job")
        print(f"SLURM submissions with profiles/slurm: {jobs - 1} (every job but the local `all`)")
        print(f"dry run (snakemake -n): {seconds:.1f} s")
        print(proc.stdout.strip()[-1500:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
