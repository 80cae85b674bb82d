"""A variant's artifact from the cache, repairing a missing or damaged artifact."""

from __future__ import annotations

import logging
import pathlib

from ..codecs import get_encoder
from ..core.hashing import sha256_bytes
from ..storage.cache import Cache, CacheCorruptError
from ..storage.images import Limits, load_source, prepare

log = logging.getLogger("codecsweep")


def artifact_bytes(cache: Cache, row: dict, image: dict, limits: Limits = Limits(), encoder=None) -> tuple[bytes, bool]:
    """(bytes, repaired?) of a variant's artifact from the cache.

    A missing or damaged artifact is never recorded as a result of the variant: it is
    encoded again from its source (codecs are deterministic) and, when the bytes hash to the
    recorded sha256, put back in the cache and used, so the job repairs the cache itself. If
    they differ, the codec changed without its version string changing (or is not
    deterministic): the variants table is out of date, and the job fails saying how to
    re-encode. It never deletes its own input (Snakemake's bookkeeping stays true).
    ``encoder``: the encoder built with its workflow inputs (default: the shared instance)."""
    enc = encoder or get_encoder(row["encoder"])
    try:
        return cache.read_blob(row["artifact_sha256"]), False
    except CacheCorruptError as exc:
        source, _ = load_source(pathlib.Path(image["source_path"]), limits)
        prepared = prepare(source, row["scale"], row["color"])
        data = enc.encode(prepared, row["param"])
        if sha256_bytes(data) != row["artifact_sha256"]:
            raise CacheCorruptError(
                f"{exc}; encoding it again gives other bytes, so the variants table of {row['encoder']} is out of "
                f"date ({row['codec_version']} changed without a new version): re-encode it with "
                f"`snakemake --forcerun encode` (or delete results/variants/{row['dataset']}/{row['encoder']}/)"
            ) from None
        key = enc.artifact_key(row["source_sha256"], row["codec_version"], row["scale"], row["color"], row["param"])
        meta = {"encode_ms": row["encode_ms"], "width": prepared.width, "height": prepared.height}
        cache.put("artifact", key, data, meta)
        log.warning(
            "cache: artifact %s was damaged or missing: encoded again and repaired", row["artifact_sha256"][:12]
        )
        return data, True
