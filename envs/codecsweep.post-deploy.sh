#!/usr/bin/env bash
# Run by Snakemake after it creates envs/codecsweep.yaml (--sdm conda): the learned codecs'
# packages, without dependency resolution (compressai's metadata asks for numpy<2; it works
# with the pinned numpy 2.4.6). Same line as the Makefile's.
set -euo pipefail
pip install --no-deps compressai==1.2.8 einops==0.8.2 torch-geometric==2.8.1
