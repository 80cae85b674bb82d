"""The encode stage: every grid variant of one encoder for the images of one shard."""

from __future__ import annotations

import logging
import pathlib
import time

from ..codecs import build_encoder
from ..core import schemas
from ..storage import records
from ..storage.cache import Cache, CacheWriteError
from ..storage.images import Limits, load_source, prepare
from .jobs import JobStats, Progress, grid_points, shard_images

log = logging.getLogger("codecsweep")


class PreparedSource:
    """A source image loaded on first need, and each (scale, color) prepared once."""

    def __init__(self, image: dict, limits: Limits):
        self.image, self.limits, self._source, self._prepared = image, limits, None, {}

    def prepared(self, scale: float, color: str):
        if self._source is None:
            self._source, _ = load_source(pathlib.Path(self.image["source_path"]), self.limits)
        if (scale, color) not in self._prepared:
            self._prepared[scale, color] = prepare(self._source, scale, color)
        return self._prepared[scale, color]


def encode_shard(
    images_path,
    dataset: str,
    shard: int,
    encoder_grid: dict,
    scales: list,
    colors: list,
    cache_dir,
    out,
    stats_out,
    limits: Limits = Limits(),
    encoder_inputs: dict[str, str] | None = None,
) -> JobStats:
    """Every grid variant of one encoder for the images of a shard: served from the cache,
    else encoded and stored. ``encoder_inputs``: the files of the encoder's ``needs``."""
    enc = build_encoder(encoder_grid["encoder"], encoder_inputs or {})
    version = enc.version()
    cache = Cache(cache_dir)
    stats = JobStats("encode", dataset, shard, encoder=enc.name)
    points = grid_points(encoder_grid, scales, colors)
    images = shard_images(images_path, shard)
    progress = Progress.for_job(stats, len(images), "images")
    log.info("encode %s shard %d: %d images x %d variants with %s", dataset, shard, len(images), len(points), version)
    rows = []
    for n, img in enumerate(images):
        source = PreparedSource(img, limits)
        image_rows = [_variant_row(enc, version, cache, stats, img, source, point) for point in points]
        _flag_duplicates(image_rows)
        rows += image_rows
        progress(n + 1)
    stats.items = len(rows)
    cache.close()  # seal the job's pack before its output exists
    records.write(rows, schemas.VARIANTS, out)
    stats.finish(cache, stats_out)
    return stats


def _variant_row(enc, version: str, cache: Cache, stats: JobStats, img: dict, source: PreparedSource, point) -> dict:
    """One variant of one image: its artifact from the cache, else encoded (a codec's refusal
    is a row with the error, not a failure of the job)."""
    scale, color, param, param_index = point
    row = records.new_row(
        schemas.VARIANTS,
        **{k: img[k] for k in ("dataset", "image_id", "source_sha256")},
        encoder=enc.name,
        codec_version=version,
        scale=scale,
        color=color,
        param=param,
        param_index=param_index,
        status="ok",
    )
    key = enc.artifact_key(img["source_sha256"], version, scale, color, param)
    entry = stats.lookup(cache, "artifact", key)
    if entry is not None:
        stats.served += 1
        sha, data, meta = entry.blob, entry.data, entry.meta
    else:
        try:
            im = source.prepared(scale, color)
            t0 = time.perf_counter()
            data = enc.encode(im, param)
            meta = {"encode_ms": round((time.perf_counter() - t0) * 1000, 3), "width": im.width, "height": im.height}
        except CacheWriteError:
            raise
        except Exception as exc:  # a codec's refusal is a result, recorded per variant
            stats.failed += 1
            row.update(status="error", error=f"{type(exc).__name__}: {exc}")
            log.warning("%s %s %s scale %g %s: %s", img["image_id"], enc.name, param, scale, color, row["error"])
            return row
        sha = cache.put("artifact", key, data, meta)
        stats.computed += 1
    size = len(data)
    row.update(
        artifact_sha256=sha,
        bytes=size,
        payload_bytes=enc.payload_bytes(data),
        width=meta["width"],
        height=meta["height"],
        encode_ms=meta["encode_ms"],
        bpp=size * 8 / (img["width"] * img["height"]),
        cr_raw=img["width"] * img["height"] * 3 * 8 / (size * 8),
        cr_source=img["source_bytes"] / size,
    )
    return row


def _flag_duplicates(image_rows: list[dict]) -> None:
    """``duplicate_of``: the first parameter (grid order) of the same image, scale and color
    whose file is byte-identical (e.g. JPEG 2000 layer lists that reach the same rate)."""
    first: dict = {}
    for row in image_rows:
        if row["status"] == "ok":
            same = first.setdefault((row["scale"], row["color"], row["artifact_sha256"]), row["param"])
            row["duplicate_of"] = same if same != row["param"] else None
