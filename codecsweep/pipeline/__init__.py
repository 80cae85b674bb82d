"""Job bodies of the workflow stages, importable and testable without Snakemake.

Each stage works on one shard of one dataset (and one encoder / model), asks the cache for
every item first, computes only what is missing, and returns ``JobStats`` with how many items
it computed and how many the cache served: ``encode``, ``classify`` (the originals),
``analyze`` (classify and measure the variants), ``sensitivity`` (jpeg_mo's map).
"""

from .analyze import analyze_shard
from .classify import classify_originals_shard
from .encode import encode_shard
from .jobs import JobStats, Progress, setup_logging, use_torch

__all__ = [
    "JobStats",
    "Progress",
    "analyze_shard",
    "classify_originals_shard",
    "encode_shard",
    "setup_logging",
    "use_torch",
]
