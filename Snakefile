# codecsweep: lossy image compression vs pretrained CNN classification.
# Stages (one .smk each): datasets -> encode -> classify + measure -> report.
from snakemake.utils import min_version, validate

from codecsweep.config import load_study

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")
STUDY = load_study(config)
DATASETS = list(STUDY.datasets)


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
include: "rules/measure.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        # The Parquet tables are products too: deleting results/ rebuilds them (from the cache).
        rules.report.input,
        rules.report.output,
