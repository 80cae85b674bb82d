"""Quality metrics of one shard's variants of one encoder against their sources."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
from codecsweep.stages import measure_shard, setup_logging

setup_logging(snakemake.log[0])
measure_shard(
    snakemake.input.images,
    snakemake.input.variants,
    snakemake.wildcards.dataset,
    int(snakemake.wildcards.shard),
    snakemake.params.cache_dir,
    snakemake.output.metrics,
    snakemake.output.stats,
    dfd_model=snakemake.params.dfd_model,
    lpips_net=snakemake.params.lpips_net,
    threads=snakemake.threads,
    limits=snakemake.params.limits,
)
