# Helpers of the rules: which files a step needs, per dataset and shard, and how much memory.
import os
import pathlib

from snakemake.exceptions import WorkflowError
from snakemake.io import expand

from codecsweep.codecs import encoder_class
from codecsweep.models import get_spec
from codecsweep.models.runtimes import cuda_device_count
from codecsweep.pipeline.feed import device_of
from codecsweep.study.config import ConfigError, priority
from codecsweep.study.datasets import DEFAULT_ROOT, DEFAULT_SOURCES, manifest_path

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


def ingest_mem_mb(wildcards, input):
    """A resources callable: a shard's ingest mem_mb from the largest image its manifest (input[0])
    lists, by the files' headers (codecsweep.config.Study.ingest_mem_mb: 400 + 24 MB/MP)."""
    return STUDY.ingest_mem_mb(input[0])


def shard_priority(stage):
    """A priority callable: which ready job Snakemake starts first (codecsweep.config.priority)."""
    return lambda w: priority(stage, SHARD_FILES.get((w.dataset, int(w.shard)), 0))


def all_shards(pattern):
    """An input function: the pattern for every shard of the job's dataset."""
    return lambda w: expand(pattern, dataset=w.dataset, shard=STUDY.shards(w.dataset))


# The sensitivity map (rules/sensitivity.smk) an encoder may need: which classifier, checked at load.
SENSITIVITY = config["sensitivity"]
SENSITIVITY_MODEL = SENSITIVITY.get("model") or STUDY.models[0]
try:
    get_spec(SENSITIVITY_MODEL)
except KeyError as exc:
    raise ConfigError(f"sensitivity.model: {exc.args[0]}") from None


#: What an encoder may be built with (its class's ``needs``): workflow product -> file, per dataset.
ENCODER_INPUTS = {
    "sensitivity_map": STUDY.out(f"results/sensitivity/{{dataset}}/{SENSITIVITY_MODEL}.json"),
}


def encoder_inputs(wildcards):
    """The files the job's encoder is built with (``unpack``-ed: one named input per need)."""
    needs = encoder_class(wildcards.encoder).needs
    return {need: ENCODER_INPUTS[need].format(dataset=wildcards.dataset) for need in needs}


def network_job_threads():
    """Threads of a job that runs the networks (classify_originals, analyze): 1 on a machine
    without CUDA (one single-threaded job per core beats fewer wide ones); with CUDA, the cores
    shared by gpu.jobs_per_device jobs per GPU, so that many run at once (config/schema.yaml: gpu)."""
    gpus = cuda_device_count() if device_of(STUDY.models, config["runtime"]) == "cuda" else 0
    if not gpus:
        return 1
    try:
        cores = workflow.cores
    except WorkflowError:  # no --cores (a dry run, a cluster executor: threads from the profile)
        cores = os.cpu_count() or 1
    return max(1, cores // (gpus * config["gpu"]["jobs_per_device"]))


NETWORK_THREADS = network_job_threads()
