"""Encode one shard of one dataset with one encoder over its whole grid."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
from codecsweep.stages import encode_shard, setup_logging

setup_logging(snakemake.log[0])
if snakemake.input.get("sensitivity"):  # jpeg_mo: its tables (and settings) come from this map
    from codecsweep.codecs import get_encoder
    from codecsweep.sensitivity import read_map

    get_encoder(snakemake.wildcards.encoder).use_map(read_map(snakemake.input.sensitivity))
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
)
