"""The sensitivity stage: the calibration split of a dataset, and a classifier's DCT
sensitivity map over it (what the machine-oriented JPEG's tables are made from)."""

from __future__ import annotations

import json
import logging
import pathlib
import time

import numpy as np

from ..codecs.ijg import map_sha256, write_map
from ..core import schemas
from ..core.keys import SENSITIVITY_VERSION, sensitivity_key
from ..models import get_spec, load_model, preprocess_id, weights_sha256
from ..sensitivity import calibrate, is_calibration
from ..storage import records
from ..storage.cache import Cache
from ..storage.images import Limits, load_source

log = logging.getLogger("codecsweep")


def split_rows(images: list[dict], buckets: int) -> list[dict]:
    """One row per usable image: ``calibration`` true for bucket 0 (see ``is_calibration``)."""
    rows = [
        {"dataset": r["dataset"], "image_id": r["image_id"], "calibration": is_calibration(r["image_id"], buckets)}
        for r in images
        if r["status"] == "ok"
    ]
    return sorted(rows, key=lambda r: r["image_id"])


def write_split(images_path, buckets: int, out) -> list[dict]:
    """``results/splits/<dataset>.parquet``: which images calibrate jpeg_mo (the rest are held out)."""
    rows = split_rows(records.read(images_path), buckets)
    records.write(rows, schemas.SPLITS, out)
    log.info(
        "split: %d calibration, %d held-out images",
        sum(r["calibration"] for r in rows),
        len(rows) - sum(r["calibration"] for r in rows),
    )
    return rows


def calibration_images(images: list[dict], split: list[dict], max_images: int) -> list[dict]:
    """The calibration images used: at most ``max_images`` of the calibration split, the
    first by source sha256 (content order, not path order)."""
    chosen = {r["image_id"] for r in split if r["calibration"]}
    rows = [r for r in images if r["status"] == "ok" and r["image_id"] in chosen]
    return sorted(rows, key=lambda r: (r["source_sha256"], r["image_id"]))[:max_images]


def sensitivity_job(
    images_path, split_path, dataset: str, model_name: str, cache_dir, out, max_images: int = 16, limits=None
) -> dict:
    """Compute (or read from the cache) the map of ``model_name`` on the calibration split of
    ``dataset`` and write it to ``out`` (JSON, with its key and what it was made from)."""
    images = records.read(images_path)
    chosen = calibration_images(images, records.read(split_path), max_images)
    if not chosen:
        raise ValueError(
            f"sensitivity: dataset {dataset!r} has no calibration image ({split_path} marks none): "
            "lower sensitivity.calibration_buckets or add images"
        )
    weights = weights_sha256(model_name)
    calibration = [(r["source_sha256"], r["label"]) for r in chosen]
    key = sensitivity_key(model_name, weights, preprocess_id(get_spec(model_name)), calibration)
    cache = Cache(cache_dir)
    entry = cache.get("sensitivity", key)
    if entry is not None:
        doc = json.loads(entry.data)
        log.info("sensitivity %s/%s: served from the cache (%s)", dataset, model_name, key[:12])
    else:
        import torch  # the network's runtime: only when the map is not in the cache

        t0 = time.perf_counter()
        model = load_model(model_name)
        arrays = [np.asarray(load_source(pathlib.Path(r["source_path"]), limits or Limits())[0]) for r in chosen]
        sens = calibrate(arrays, [r["label"] for r in chosen], model)
        seconds = time.perf_counter() - t0
        doc = {
            "key": key,
            "method_version": SENSITIVITY_VERSION,
            "model": model_name,
            "weights_sha256": weights,
            "calibration": [
                {"image_id": r["image_id"], "source_sha256": r["source_sha256"], "label": r["label"]} for r in chosen
            ],
            "sensitivity": sens,
            "map_sha256": map_sha256(sens),
        }
        cache.put("sensitivity", key, json.dumps(doc, sort_keys=True).encode(), {"model": model_name})
        log.info(
            "sensitivity %s/%s: %d images on %s (torch %d threads) in %.1f s",
            dataset,
            model_name,
            len(chosen),
            model.device,
            torch.get_num_threads(),
            seconds,
        )
    write_map(doc, out)
    return doc
