"""Encode one shard of one dataset with one encoder over its whole grid."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
from codecsweep.codecs import encoder_class
from codecsweep.pipeline import encode_shard, setup_logging

setup_logging(snakemake.log[0])
encode_shard(
    snakemake.input.images,
    snakemake.wildcards.dataset,
    int(snakemake.wildcards.shard),
    snakemake.params.grid,
    list(snakemake.params.scales),
    list(snakemake.params.colors),
    snakemake.params.cache_dir,
    snakemake.output.variants,
    snakemake.output.stats,
    limits=snakemake.params.limits,
    # what the encoder is built with (its ``needs``, e.g. jpeg_mo's sensitivity map)
    encoder_inputs={need: snakemake.input[need] for need in encoder_class(snakemake.wildcards.encoder).needs},
)
