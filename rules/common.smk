# Helpers of the rules: which files a step needs, per dataset and shard, and how much memory.
import pathlib

from snakemake.io import expand

from codecsweep.config import ConfigError
from codecsweep.config import priority
from codecsweep.datasets import DEFAULT_ROOT, DEFAULT_SOURCES, manifest_path
from codecsweep.models import get_spec

DEFAULT_FILES = [f"{DEFAULT_ROOT}/{name}{pathlib.Path(rel).suffix}" for name, (_, rel) in DEFAULT_SOURCES.items()]


def per_shard(pattern, **extra):
    """One path per (dataset, shard[, extra...]) of the study."""
    return [path for ds in DATASETS for path in expand(pattern, dataset=ds, shard=STUDY.shards(ds), **extra)]


def dataset_inputs(wildcards):
    """What a shard's ingest depends on: its manifest (ids, paths, labels, sizes, mtimes of
    its files; written at load by the Snakefile when they change). Image file names never
    become Snakemake paths, so braces, newlines or odd bytes in them cannot break the DAG."""
    files = [STUDY.out(manifest_path(wildcards.dataset, wildcards.shard))]
    if STUDY.datasets[wildcards.dataset]["root"] == DEFAULT_ROOT:  # made by materialize_default
        files += DEFAULT_FILES
    return files


def shard_mem_mb(stage):
    """A resources callable: the job's mem_mb from the largest image of its shard (see
    codecsweep.config.MEM_MB); before ingest has run, the default of the stage."""

    def mem_mb(wildcards, input):
        return STUDY.mem_mb(stage, input.images, wildcards.dataset, int(wildcards.shard))

    return mem_mb


def shard_priority(stage):
    """A priority callable: which ready job Snakemake starts first (codecsweep.config.priority)."""
    return lambda w: priority(stage, SHARD_FILES.get((w.dataset, int(w.shard)), 0))


def all_shards(pattern):
    """An input function: the pattern for every shard of the job's dataset."""
    return lambda w: expand(pattern, dataset=w.dataset, shard=STUDY.shards(w.dataset))


# jpeg_mo's sensitivity map (rules/sensitivity.smk): which classifier, checked at load.
SENSITIVITY = config["sensitivity"]
SENSITIVITY_MODEL = SENSITIVITY.get("model") or STUDY.models[0]
try:
    get_spec(SENSITIVITY_MODEL)
except KeyError as exc:
    raise ConfigError(f"sensitivity.model: {exc.args[0]}") from None


def sensitivity_input(wildcards):
    """The map jpeg_mo's encode job tunes its tables to (nothing for the other encoders)."""
    if wildcards.encoder != "jpeg_mo":
        return []
    return STUDY.out(f"results/sensitivity/{wildcards.dataset}/{SENSITIVITY_MODEL}.json")
