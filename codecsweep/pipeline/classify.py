"""Classifying: one classifier of a job (``Classifier``), its prediction rows, and the
classify stage of the originals (every model, one job per shard)."""

from __future__ import annotations

import logging
import pathlib

import numpy as np

from ..core import schemas
from ..core.keys import prediction_key
from ..models import (
    cuda_batch_size,
    empty_device_cache,
    family_of,
    get_spec,
    is_out_of_memory,
    load_model,
    load_runtime,
    pixels_tensor,
    preprocess,
    preprocess_id,
    preprocess_on_device,
    rank_difference,
    rank_of,
    resolve_runtime,
    run_model,
    runtime_id,
    softmax,
    stack_padded,
    top_k,
    weights_sha256,
)
from ..storage import records
from ..storage.cache import Cache
from ..storage.images import Limits, load_source
from .feed import CPU_FEED, Feed, device_of
from .jobs import JobStats, shard_images, use_torch

log = logging.getLogger("codecsweep")


class Classifier:
    """One classifier of a job: its prediction key recipe now, the network only once something
    must be computed (a job the cache serves entirely never imports torch). ``taps``: its
    forward passes also return the stage features (for a metric group with ``tap_model``).

    ``runtime``: the config's choice (``models.resolve_runtime``: ``auto``, ``torch``,
    ``onnxruntime``); a non-PyTorch runtime is part of the prediction key. ONNX Runtime loads
    the model's export from ``cache`` (exporting it there on first use), so a job whose export
    is cached never imports torch. ``feed``: where the job's steps run (``pipeline.feed``);
    ``batch_size`` per device, ``auto`` on CUDA: from the device's free memory, shared by
    ``feed.jobs_per_device`` jobs."""

    def __init__(
        self,
        name: str,
        batch_size: dict | int,
        threads: int,
        taps: bool = False,
        runtime: str = "torch",
        cache=None,
        feed: Feed = CPU_FEED,
    ):
        self.name, self.spec = name, get_spec(name)
        self.weights, self.preprocessing = weights_sha256(name), preprocess_id(self.spec)
        self.batch_size, self.threads, self.want_taps = batch_size, threads, taps
        self.runtime = resolve_runtime(runtime, self.spec)
        self.runtime_id, self.cache, self.feed = runtime_id(self.runtime), cache, feed
        #: The predictions' ``runtime`` column: what the key names (PyTorch's keys name no version).
        self.runtime_label = self.runtime_id or "torch"
        # the reference transform in torch on the device (a family whose torch transform is the reference's)
        self.on_device = feed.torch_preprocess and self.runtime == "torch" and family_of(self.spec).torch_preprocess
        self._model = None

    def key(self, input_sha256: str, is_original: bool) -> str:
        return prediction_key(input_sha256, self.name, self.weights, self.preprocessing, is_original, self.runtime_id)

    @property
    def model(self):
        if self._model is None:
            if self.runtime == "torch":
                use_torch(self.threads)
                self._model = load_model(self.name, self.feed.device)
            else:
                self._model = load_runtime(self.name, self.runtime, self.cache, self.threads)
            self.batch = self._batch_size(self._model.device.split(":")[0])
            log.info(
                "%s in %s on %s, batches of %d, %d thread(s)",
                *(self.name, self.runtime_id or "torch", self._model.device, self.batch, self.threads),
            )
        return self._model

    def _batch_size(self, device_type: str) -> int:
        size = self.batch_size
        if isinstance(size, int):
            return size
        size = size.get(device_type, size["cpu"])
        if size == "auto":  # only CUDA's may be auto (config/schema.yaml)
            return cuda_batch_size(self._model, self.feed.jobs_per_device, with_taps=self.want_taps)
        return size

    def loaded_batch(self) -> int:
        """The batch size of the device the model runs on (loads the model)."""
        self.model  # noqa: B018
        return self.batch

    def preprocess(self, image):
        """The network's input of a decoded image (any thread): the reference transform's
        array, or, when it runs on the device, the image's pixels (pinned when the feed says)."""
        if not self.on_device:
            return preprocess(self.spec, image)
        return pixels_tensor(np.asarray(image.convert("RGB")), pin=self.feed.pin_memory)

    def _inputs(self, xs: list):
        """One batch of exactly ``self.batch`` inputs (zero-padded; see ``run``): numpy, or a
        tensor on the device when the transform runs there."""
        n = len(xs)
        if self.on_device:
            device = self.model.device
            return stack_padded([preprocess_on_device(self.spec, x, device) for x in xs], self.batch), n
        chunk = np.stack(xs)
        if n < self.batch:
            chunk = np.concatenate([chunk, np.zeros((self.batch - n, *chunk.shape[1:]), chunk.dtype)])
        return chunk, n

    def run(self, xs: list):
        """(logits, per-stage features or None) of ``xs``, always as a batch of exactly
        ``self.batch`` (zero-padded).

        A convolution library picks its kernels by batch shape, so the same image gives logits
        that differ in the 7th digit between a batch of 3 and one of 32; with one fixed shape an
        image's result does not depend on which images share its batch (checked bit for bit),
        so a run resumed after a kill, or one that finds half its work in the cache, writes the
        same Parquet as an uninterrupted one. The cost: at most one padded batch per job.

        A device that runs out of memory halves the job's batch and runs the batch again (the
        log says so: from there on the job's shape is the smaller one)."""
        model = self.model
        out_logits, out_taps, start = [], [], 0
        while start < len(xs):
            chunk, n = self._inputs(xs[start : start + self.batch])
            try:
                logits, taps = run_model(model, chunk, with_taps=self.want_taps)
            except Exception as exc:
                if not is_out_of_memory(exc) or self.batch == 1:
                    raise
                self._halve_batch(exc)
                continue
            out_logits.extend(logits[:n])
            if taps is not None:
                out_taps.extend([[t[i : i + 1] for t in taps] for i in range(n)])
            start += n
        return out_logits, (out_taps if self.want_taps else None)

    def _halve_batch(self, exc: BaseException) -> None:
        log.warning("%s: %s; batches of %d from now on", self.name, str(exc).splitlines()[0], self.batch // 2)
        self.batch //= 2
        empty_device_cache()


def prediction_row(base: dict, scores, true_class: int | None, original_rank: int | None) -> dict:
    """A predictions row: the true class's rank and probability, top-1 and top-5 (and the rank
    difference against the original's rank, for a variant)."""
    top5 = top_k(scores, 5)
    probs = softmax(scores)
    if true_class is None:  # pseudo label of an original: its own top-1
        true_class = top5[0]
    rank = rank_of(scores, true_class)
    row = dict(
        base,
        true_class=true_class,
        true_rank=rank,
        true_prob=float(probs[true_class]),
        top1=top5[0],
        top1_prob=float(probs[top5[0]]),
        top5=top5,
        status="ok",
        error=None,
    )
    if original_rank is not None:
        row.update(original_rank=original_rank, rank_diff=rank_difference(original_rank, rank))
    return row


def put_scores(cache: Cache, key: str, scores, model: str) -> None:
    cache.put("prediction", key, np.asarray(scores, dtype="<f4").tobytes(), {"model": model})


def classify_originals_shard(
    images_path,
    dataset: str,
    shard: int,
    models: list[str],
    cache_dir,
    outs: dict,
    stats_out,
    batch_size: dict | int = 4,
    threads: int = 1,
    limits: Limits = Limits(),
    runtime: str = "torch",
) -> list[JobStats]:
    """Predictions of every model for the originals of a shard (one job for all models);
    ``runtime``: the config's (``Classifier``)."""
    cache = Cache(cache_dir)
    images = shard_images(images_path, shard)
    all_stats, sources = [], {}
    feed = Feed.for_device(device_of(models, runtime), threads)
    for name in models:
        net = Classifier(name, batch_size, threads, runtime=runtime, cache=cache, feed=feed)
        stats = JobStats("classify", dataset, shard, model=name)
        keys = [net.key(img["source_sha256"], True) for img in images]
        scores = {}
        for img, key in zip(images, keys):
            entry = stats.lookup(cache, "prediction", key)
            if entry is not None:
                scores[img["image_id"]] = np.frombuffer(entry.data, dtype="<f4")
                stats.served += 1
        missing = [(img, key) for img, key in zip(images, keys) if img["image_id"] not in scores]
        errors, ready = {}, []
        for img, key in missing:
            try:
                if img["image_id"] not in sources:
                    sources[img["image_id"]] = load_source(pathlib.Path(img["source_path"]), limits)[0]
                ready.append((img, key, net.preprocess(sources[img["image_id"]])))
            except Exception as exc:  # a source unreadable since ingest: recorded, not fatal
                errors[img["image_id"]] = f"{type(exc).__name__}: {exc}"
                stats.failed += 1
        if ready:
            logits, _ = net.run([x for _, _, x in ready])
            for (img, key, _), s in zip(ready, logits):
                put_scores(cache, key, s, name)
                scores[img["image_id"]] = s
                stats.computed += 1
        rows = []
        for img in images:
            base = records.new_row(
                schemas.PREDICTIONS,
                dataset=dataset,
                image_id=img["image_id"],
                model=name,
                runtime=net.runtime_label,
                label_source=img["label_source"],
            )
            if img["image_id"] in scores:
                rows.append(prediction_row(base, scores[img["image_id"]], img["label"], None))
            else:
                rows.append(dict(base, status="error", error=errors[img["image_id"]]))
        stats.items = len(rows)
        cache.close()  # seal the job's pack before its outputs exist
        records.write(rows, schemas.PREDICTIONS, outs[name])
        all_stats.append(stats)
    JobStats.finish_all(all_stats, cache, stats_out)
    return all_stats
