"""Classify (every model) and measure the variants of one shard and encoder, one pass per variant."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
from codecsweep.codecs import encoder_class
from codecsweep.pipeline import analyze_shard, setup_logging

setup_logging(snakemake.log[0])
models = snakemake.params.models
analyze_shard(
    snakemake.input.images,
    snakemake.input.variants,
    dict(zip(models, snakemake.input.originals)),
    snakemake.wildcards.dataset,
    int(snakemake.wildcards.shard),
    models,
    snakemake.params.cache_dir,
    dict(zip(models, snakemake.output.predictions)),
    snakemake.output.metrics,
    snakemake.output.stats,
    metric_options=snakemake.params.metric_options,
    batch_size=snakemake.params.batch_size,
    runtime=snakemake.params.runtime,
    jobs_per_device=snakemake.params.jobs_per_device,
    threads=snakemake.threads,
    limits=snakemake.params.limits,
    # to encode a damaged artifact again, the encoder is built as the encode job built it
    encoder_inputs={need: snakemake.input[need] for need in encoder_class(snakemake.wildcards.encoder).needs},
)
