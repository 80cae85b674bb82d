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


def per_shard(pattern, **extra):
    """One path per (dataset, shard[, extra...]) of the study."""
    from snakemake.io import expand

    return [
        path
        for ds in DATASETS
        for path in expand(pattern, dataset=ds, shard=STUDY.shards(ds), **extra)
    ]


include: "rules/datasets.smk"
include: "rules/encode.smk"
include: "rules/classify.smk"
include: "rules/measure.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report.output,
