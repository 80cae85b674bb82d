# Helpers of the rules: which files a step needs, per dataset and shard.
import pathlib

from snakemake.io import expand

from codecsweep.datasets import DEFAULT_SOURCES, IMAGE_SUFFIXES

DEFAULT_ROOT = "data/default"
DEFAULT_FILES = [f"{DEFAULT_ROOT}/{name}{pathlib.Path(rel).suffix}" for name, (_, rel) in DEFAULT_SOURCES.items()]


def per_shard(pattern, **extra):
    """One path per (dataset, shard[, extra...]) of the study."""
    return [path for ds in DATASETS for path in expand(pattern, dataset=ds, shard=STUDY.shards(ds), **extra)]


def dataset_inputs(wildcards):
    """What ingest depends on: the sample sheet / ground truth and the image files, so that
    adding an image reruns ingest (the cache then keeps the rest of the rerun cheap)."""
    spec = STUDY.datasets[wildcards.dataset]
    root = pathlib.Path(spec["root"])
    if spec["kind"] in ("folder", "imagefolder"):
        return sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    files = [spec.get("sheet") or spec["ground_truth"]]
    if spec["root"] == DEFAULT_ROOT:  # made by materialize_default
        files += DEFAULT_FILES
    return files
