"""Classify the originals of one shard with every model of the study."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
from codecsweep.pipeline import classify_originals_shard, setup_logging

setup_logging(snakemake.log[0])
classify_originals_shard(
    snakemake.input.images,
    snakemake.wildcards.dataset,
    int(snakemake.wildcards.shard),
    snakemake.params.models,
    snakemake.params.cache_dir,
    dict(zip(snakemake.params.models, snakemake.output.predictions)),
    snakemake.output.stats,
    batch_size=snakemake.params.batch_size,
    runtime=snakemake.params.runtime,
    threads=snakemake.threads,
    limits=snakemake.params.limits,
)
