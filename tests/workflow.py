"""Helpers for end-to-end tests: a copy of the workflow in a temporary folder, real
Snakemake runs in it, and what each run computed (from the jobs' runstats)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import duckdb
import yaml
from PIL import Image

from codecsweep.core.paths import copy_workflow

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--cores", "2"]

TINY_GRID = {
    "scales": [1, 0.5],
    "colors": ["rgb"],
    "encoders": {"jpeg": [10, 50], "hevc": [35, 45], "webp": [10, 50], "jpeg2000": ["100", "20"]},
}


def tiny_photo(name: str) -> Image.Image:
    """A default photograph at 240 px wide: small enough to be quick, large enough for MS-SSIM."""
    import importlib.util

    from codecsweep.study.datasets import DEFAULT_SOURCES

    package, rel = DEFAULT_SOURCES[name]
    im = Image.open(pathlib.Path(importlib.util.find_spec(package).origin).parent / rel).convert("RGB")
    return im.resize((240, round(im.height * 240 / im.width)), Image.Resampling.LANCZOS)


class Project:
    def __init__(
        self,
        root: pathlib.Path,
        cache_dir: pathlib.Path,
        images=("chelsea", "coffee"),
        encoders=("jpeg", "hevc"),
        models=("efficientnet_lite0",),
    ):
        self.root = root
        copy_workflow(root)
        # An empty torch cache: the runs never depend on what the machine happens to hold
        # (no AlexNet, so LPIPS is null, deterministically; EfficientNet comes from its wheel).
        (root / "torch-home").mkdir()
        self.env = {**os.environ, "TORCH_HOME": str(root / "torch-home")}
        (root / "data/imgs").mkdir(parents=True)
        self.sheet_rows = []
        for name in images:
            self.add_image(name)
        (root / "config/grids/tiny.yaml").write_text(yaml.safe_dump(TINY_GRID))
        self.config = {
            "datasets": [{"name": "t", "kind": "sheet", "root": "data/imgs", "sheet": "config/t.tsv", "shards": 1}],
            "grids": ["config/grids/tiny.yaml"],
            "encoders": list(encoders),
            "models": list(models),
            "cache_dir": str(cache_dir),
            "batch_size": 4,
        }
        self.write_config()

    def add_image(self, name: str, file_name: str | None = None):
        file_name = file_name or f"{name}.png"
        tiny_photo(name).save(self.root / "data/imgs" / file_name)
        labels = {"chelsea": "n02123045", "coffee": "n07920052", "grace_hopper": "n03763968"}
        self.sheet_rows.append((name, file_name, labels.get(name, "")))
        self.write_sheet()

    def write_sheet(self):
        lines = ["image_id\tpath\tlabel_wnid"] + ["\t".join(r) for r in self.sheet_rows]
        (self.root / "config/t.tsv").write_text("\n".join(lines) + "\n")

    def write_config(self):
        (self.root / "config/config.yaml").write_text(yaml.safe_dump(self.config))

    def run(self, *args, check=True) -> dict:
        """Run Snakemake; return {stage: {computed, served, ...}} summed over the jobs that ran."""
        start = time.time()
        proc = subprocess.run(SNAKEMAKE + list(args), cwd=self.root, capture_output=True, text=True, env=self.env)
        if check and proc.returncode != 0:
            raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
        self.last = proc
        return self.stats_since(start)

    def start(self, *args) -> subprocess.Popen:
        return subprocess.Popen(
            SNAKEMAKE + list(args),
            env=self.env,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    @staticmethod
    def kill(proc: subprocess.Popen):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stats_since(self, start: float) -> dict:
        runstats = self.root / "results/runstats"
        files = (
            [str(p) for p in runstats.rglob("*.parquet") if p.stat().st_mtime >= start - 1] if runstats.exists() else []
        )
        out = {}
        for r in _rows(f"SELECT * FROM read_parquet({files})") if files else []:
            # "encode:jpeg", "measure:hevc", "classify:<model>:original", "classify:<model>:jpeg"
            original = "original" if r["stage"] == "classify" and r["encoder"] is None else None
            key = ":".join(x for x in (r["stage"], r["model"], r["encoder"] or original) if x)
            acc = out.setdefault(key, {"jobs": 0, "computed": 0, "served": 0, "corrupt": 0, "failed": 0})
            acc["jobs"] += 1
            for k in ("computed", "served", "corrupt", "failed"):
                acc[k] += r[k]
        return out

    def table(self, name: str, drop=("encode_ms",)) -> list[tuple]:
        """A results table as sorted tuples (measurement-only columns dropped)."""
        glob = "images/**/*.parquet" if name == "images" else f"{name}/**/*.parquet"
        rows = _rows(f"SELECT * FROM read_parquet('{self.root}/results/{glob}')")
        return sorted((tuple(v for k, v in r.items() if k not in drop) for r in rows), key=repr)


def _rows(sql: str) -> list[dict]:
    cur = duckdb.connect().execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def computed(stats: dict, prefix: str) -> int:
    return sum(v["computed"] for k, v in stats.items() if k.startswith(prefix))


def served(stats: dict, prefix: str) -> int:
    return sum(v["served"] for k, v in stats.items() if k.startswith(prefix))
