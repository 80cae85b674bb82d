# Helpers of the rules: which files a step needs, per dataset and shard, and how much memory.
import pathlib

from snakemake.io import expand

from codecsweep.datasets import DEFAULT_ROOT, DEFAULT_SOURCES

DEFAULT_FILES = [f"{DEFAULT_ROOT}/{name}{pathlib.Path(rel).suffix}" for name, (_, rel) in DEFAULT_SOURCES.items()]


def per_shard(pattern, **extra):
    """One path per (dataset, shard[, extra...]) of the study."""
    return [path for ds in DATASETS for path in expand(pattern, dataset=ds, shard=STUDY.shards(ds), **extra)]


def dataset_inputs(wildcards):
    """What ingest depends on: the sheet / ground truth and the dataset's manifest (written at
    load by the Snakefile when the files' sizes/mtimes change). Image file names never become
    Snakemake paths, so braces, newlines or odd bytes in them cannot break the DAG."""
    spec = STUDY.datasets[wildcards.dataset]
    files = [manifest_path(wildcards.dataset)]
    files += [spec[k] for k in ("sheet", "ground_truth") if spec.get(k)]
    if spec["root"] == DEFAULT_ROOT:  # made by materialize_default
        files += DEFAULT_FILES
    return files


def manifest_path(dataset):
    return f"results/manifests/{dataset}.jsonl"


def shard_mem_mb(stage):
    """A resources callable: the job's mem_mb from the largest image of its shard (see
    codecsweep.config.MEM_MB); before ingest has run, the default of the stage."""

    def mem_mb(wildcards, input):
        return STUDY.mem_mb(stage, input.images, wildcards.dataset, int(wildcards.shard))

    return mem_mb
