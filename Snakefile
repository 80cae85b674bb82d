# codecsweep: lossy image compression vs pretrained CNN classification.
# Stages (one .smk each): datasets -> sensitivity (for encoders that need a map) -> encode -> classify
# (originals; analyze = classify every variant with every model + measure it) -> report.
from snakemake.utils import min_version

from codecsweep.storage.records import remove_damaged
from codecsweep.study.config import check_inputs, load_study, validate_config
from codecsweep.study.datasets import DEFAULT_ROOT, manifest_path, manifests, write_if_changed

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


# Types and allowed values (and the defaults filled in); a ConfigError names the key, the value, what is allowed.
validate_config(config, f"{workflow.basedir}/config/schema.yaml")
STUDY = load_study(config)
DATASETS = list(STUDY.datasets)
# Before any job: roots, sheets and cache_dir exist and work (a ConfigError names the key).
check_inputs(STUDY, made_by_workflow={DEFAULT_ROOT})
SHARD_FILES = {}  # (dataset, shard) -> files listed: the jobs' priorities (rules/common.smk)
if workflow.is_main_process:  # cluster jobs re-read this file: only the main process scans
    for ds, spec in STUDY.datasets.items():
        # A shard's ingest depends on its manifest (rules/common.smk); it changes only when its files do.
        for shard, text in enumerate(manifests(spec, stat_files=spec["root"] != DEFAULT_ROOT)):
            write_if_changed(STUDY.out(manifest_path(ds, shard)), text)
            SHARD_FILES[ds, shard] = text.count("\n")
    # A results file cut short (disk trouble, an interrupted copy) is removed here, so its job
    # reruns (served by the cache, seconds) instead of failing every consumer or being kept.
    for _path, _reason in remove_damaged(STUDY.out("results")):
        logger.warning(
            f"codecsweep: results file {_path} is damaged ({_reason}): removed, it is rebuilt from the cache"
        )


wildcard_constraints:
    dataset="|".join(DATASETS),
    encoder="|".join(STUDY.encoders),
    model="|".join(STUDY.models),
    shard=r"\d+",


include: "rules/common.smk"
include: "rules/datasets.smk"
include: "rules/sensitivity.smk"
include: "rules/encode.smk"
include: "rules/classify.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        # The Parquet tables are products too: deleting results/ rebuilds them (from the cache).
        rules.report.input,
        rules.report.output,
