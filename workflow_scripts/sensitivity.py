"""The calibration split of one dataset, or one classifier's DCT sensitivity map on it."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
from codecsweep.pipeline import setup_logging, use_torch
from codecsweep.pipeline.sensitivity import sensitivity_job, write_split

setup_logging(snakemake.log[0])
if snakemake.rule == "calibration_split":
    write_split(list(snakemake.input.images), snakemake.params.buckets, snakemake.output.split)
else:
    use_torch(snakemake.threads)
    sensitivity_job(
        list(snakemake.input.images),
        snakemake.input.split,
        snakemake.wildcards.dataset,
        snakemake.wildcards.sens_model,
        snakemake.params.cache_dir,
        snakemake.output.map,
        max_images=snakemake.params.max_images,
        limits=snakemake.params.limits,
    )
