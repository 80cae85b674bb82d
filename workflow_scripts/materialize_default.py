"""Copy the embedded default photographs out of installed packages into data/default."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
from codecsweep.pipeline import setup_logging
from codecsweep.study.datasets import materialize_default

setup_logging(snakemake.log[0])
written = materialize_default(snakemake.output[0].rsplit("/", 1)[0])
assert sorted(map(str, written)) == sorted(snakemake.output), (written, snakemake.output)
