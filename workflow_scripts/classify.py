"""Classify the originals of one shard, or its variants of one encoder, with one model."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
from codecsweep.stages import classify_shard, setup_logging

setup_logging(snakemake.log[0])
classify_shard(
    snakemake.input.images,
    snakemake.wildcards.dataset,
    int(snakemake.wildcards.shard),
    snakemake.wildcards.model,
    snakemake.params.cache_dir,
    snakemake.output.predictions,
    snakemake.output.stats,
    variants_path=snakemake.input.get("variants"),
    originals_path=snakemake.input.get("originals"),
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    limits=snakemake.params.limits,
)
