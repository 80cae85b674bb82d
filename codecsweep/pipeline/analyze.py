"""The analyze stage: everything about the variants of one shard and encoder, in one pass per
variant — decode once, classify with every model, measure every metric group.

The job runs as plan → references → batches → rows:

1. ``plan``: what the cache holds (no decode, no torch); what is left is the work;
2. ``References``: per source image, what each metric group prepares once (the source's
   pixels, its stage features), kept only while the image still has work in flight;
3. ``run``: each variant read from the cache and decoded once (on a GPU, the next batch is
   decoded in threads while the current one computes: ``feed``), measured by the pixel groups
   at once, queued for every network that must see it; full batches run, and the tap groups
   (``dfd``) are measured from the very forward pass that classifies;
4. ``rows``: predictions and metrics in the variants' order, however the cache split the work.
"""

from __future__ import annotations

import json
import logging
import pathlib

import numpy as np

from ..codecs import build_encoder
from ..core import schemas
from ..core.keys import metric_key
from ..metrics import MetricGroup, metric_groups
from ..storage import records
from ..storage.cache import Cache, CacheCorruptError, CacheWriteError
from ..storage.images import BadImage, Limits, load_source, to_source_geometry
from .classify import Classifier, prediction_row, put_scores
from .feed import CPU_FEED, Feed, device_of, prefetch_depth, prefetched
from .jobs import JobStats, Progress, shard_images
from .repair import artifact_bytes

log = logging.getLogger("codecsweep")

#: The config's ``metrics`` section when none is given (the schema's defaults).
DEFAULT_METRICS = {"dfd_model": "efficientnet_lite0", "lpips_net": "alex"}
#: Variants of one source measured in one call of a metric kernel on a device.
PIXEL_BATCH = 32
VARIANT_COLUMNS = ("dataset", "image_id", "encoder", "scale", "color", "param", "artifact_sha256")


def analyze_shard(
    images_path,
    variants_path,
    originals: dict,
    dataset: str,
    shard: int,
    models: list[str],
    cache_dir,
    prediction_outs: dict,
    metrics_out,
    stats_out,
    metric_options: dict | None = None,
    batch_size: dict | int = 4,
    threads: int = 1,
    limits: Limits = Limits(),
    encoder_inputs: dict[str, str] | None = None,
    runtime: str = "torch",
    feed: Feed | None = None,
    jobs_per_device: int = 1,
) -> list[JobStats]:
    """Predictions of every model and every metric group for the variants of one shard and
    encoder. ``originals``: model -> the originals' predictions (their ranks are the
    reference); ``metric_options``: the config's ``metrics``; ``encoder_inputs``: the files
    of the encoder's ``needs`` (to encode a damaged artifact again); ``runtime``: the
    config's (``Classifier``; the dfd group's taps come from the same runtime); ``feed``:
    where the steps run (default: ``Feed.for_device`` of where the models run, the device
    shared by ``jobs_per_device`` jobs)."""
    job = AnalyzeJob(images_path, variants_path, originals, dataset, shard, models, cache_dir, limits)
    feed = feed or Feed.for_device(device_of(models, runtime), threads, jobs_per_device)
    job.setup(metric_options or DEFAULT_METRICS, batch_size, threads, encoder_inputs or {}, runtime, feed)
    job.plan()
    job.run()
    job.cache.close()  # seal the job's pack before its outputs exist
    for name in models:
        records.write(job.prediction_rows(name), schemas.PREDICTIONS, prediction_outs[name])
    records.write(job.metric_rows(), schemas.METRICS, metrics_out)
    JobStats.finish_all(list(job.stats.values()), job.cache, stats_out)
    return list(job.stats.values())


class References:
    """Per source image, what the metric groups prepared from it; an image is dropped once
    its last variant is done, so memory stays flat however long the shard."""

    def __init__(self, images: dict, limits: Limits):
        self.images, self.limits = images, limits
        self._sources: dict[str, tuple] = {}  # image_id -> (PIL image, its uint8 array)
        self._prepared: dict[tuple[str, str], object] = {}

    def source(self, image_id: str) -> tuple:
        if image_id not in self._sources:
            path = pathlib.Path(self.images[image_id]["source_path"])
            try:
                src, _ = load_source(path, self.limits)
            except BadImage as exc:  # it was fine at ingest: it changed or went away since
                raise BadImage(
                    f"source {path} of image {image_id}: {exc}; it was readable at ingest: restore it, "
                    "or run ingest again (snakemake --forcerun ingest) to drop it from the study"
                ) from exc
            self._sources[image_id] = (src, np.asarray(src))
        return self._sources[image_id]

    def of(self, image_id: str, group: MetricGroup, net: Classifier | None = None):
        """``group``'s reference of the image (a tap group's from ``net``'s forward pass)."""
        if (image_id, group.name) not in self._prepared:
            src, pixels = self.source(image_id)
            if group.tap_model is None:
                ref = group.prepare(pixels)
            else:
                ref = group.prepare(None, net.run([net.preprocess(src)])[1][0])
            self._prepared[image_id, group.name] = ref
        return self._prepared[image_id, group.name]

    def drop(self, image_id: str) -> None:
        self._sources.pop(image_id, None)
        for key in [k for k in self._prepared if k[0] == image_id]:
            del self._prepared[key]


class AnalyzeJob:
    def __init__(self, images_path, variants_path, originals, dataset, shard, models, cache_dir, limits):
        self.cache = Cache(cache_dir)
        self.images = {r["image_id"]: r for r in shard_images(images_path, shard)}
        all_variants = records.read(variants_path)
        self.variants = [v for v in all_variants if v["status"] == "ok" and v["image_id"] in self.images]
        self.encoder = all_variants[0]["encoder"] if all_variants else None
        self.dataset, self.shard, self.models, self.limits = dataset, shard, list(models), limits
        self.originals = {
            name: {r["image_id"]: r for r in records.read(path) if r["status"] == "ok"}
            for name, path in originals.items()
        }
        self.scores: dict[tuple[int, str], np.ndarray] = {}  # (variant index, model) -> logits
        self.values: list[dict] = [{} for _ in self.variants]
        self.missing: list[set[str]] = [set() for _ in self.variants]  # metric groups to compute
        self.errors: dict[int, str] = {}

    def setup(
        self, metric_options: dict, batch_size, threads: int, encoder_inputs: dict, runtime="torch", feed=CPU_FEED
    ) -> None:
        self.feed = feed
        self.groups = metric_groups({**metric_options, "runtime": runtime, "device": feed.device})
        self.tap_groups = [g for g in self.groups if g.tap_model]
        self.pixel_groups = [g for g in self.groups if g.tap_model is None]
        tap_models = {g.tap_model for g in self.tap_groups}
        self.nets = {
            name: Classifier(name, batch_size, threads, name in tap_models, runtime, self.cache, feed)
            for name in self.models
        }
        for name in sorted(tap_models - set(self.models)):  # features only: not this study's predictions
            self.nets[name] = Classifier(name, batch_size, threads, True, runtime, self.cache, feed)
        self.stats = {
            name: JobStats("classify", self.dataset, self.shard, encoder=self.encoder, model=name)
            for name in self.models
        }
        self.stats["measure"] = JobStats("measure", self.dataset, self.shard, encoder=self.encoder)
        self.encoder_inputs = encoder_inputs
        self._encoder = None

    # -- 1. plan -----------------------------------------------------------------------
    def plan(self) -> None:
        """What the cache holds: served predictions and metric values; the rest is ``todo``."""
        measure = self.stats["measure"]
        for i, v in enumerate(self.variants):
            for name in self.models:
                if v["image_id"] in self.originals[name]:
                    entry = self.stats[name].lookup(
                        self.cache, "prediction", self.nets[name].key(v["artifact_sha256"], False)
                    )
                    if entry is not None:
                        self.scores[i, name] = np.frombuffer(entry.data, dtype="<f4")
                        self.stats[name].served += 1
            for group in self.groups:
                entry = measure.lookup(self.cache, "metric", self._metric_key(i, group))
                if entry is None:
                    self.missing[i].add(group.name)
                else:
                    self.values[i].update(json.loads(entry.data))
        self.todo = [
            i for i in range(len(self.variants)) if self.missing[i] or any(self.needs_scores(i, n) for n in self.models)
        ]
        log.info(
            "%s %s shard %d: %d variants, %d served entirely by the cache, %d to compute (models: %s)",
            *(self.dataset, self.encoder, self.shard, len(self.variants)),
            *(len(self.variants) - len(self.todo), len(self.todo), ", ".join(self.models)),
        )

    def needs_scores(self, i: int, name: str) -> bool:
        """A prediction of a study model that the cache did not hold (and whose original exists)."""
        return (
            name in self.models
            and (i, name) not in self.scores
            and self.variants[i]["image_id"] in self.originals[name]
        )

    def needs_pass(self, i: int, name: str) -> bool:
        """Whether network ``name`` must see variant ``i``: for its prediction or for a tap group's features."""
        return self.needs_scores(i, name) or any(
            g.tap_model == name and g.name in self.missing[i] for g in self.tap_groups
        )

    def _metric_key(self, i: int, group: MetricGroup) -> str:
        v = self.variants[i]
        return metric_key(group.id, v["artifact_sha256"], v["source_sha256"])

    def store(self, i: int, group: MetricGroup, result: dict) -> None:
        self.cache.put(
            "metric", self._metric_key(i, group), json.dumps(result, sort_keys=True).encode(), {"group": group.id}
        )
        self.values[i].update(result)

    # -- 2.-3. references and batches ------------------------------------------------------
    def run(self) -> None:
        self.refs = References(self.images, self.limits)
        self.pending: dict[str, list] = {name: [] for name in self.nets}
        self.pixel_pending: dict[str, list] = {}  # image_id -> (variant, group, pixels) to measure at once
        remaining: dict[str, int] = {}
        for i in self.todo:
            remaining[self.variants[i]["image_id"]] = remaining.get(self.variants[i]["image_id"], 0) + 1
        progress = Progress.for_job(self.stats["measure"], len(self.todo), "variants")
        stream = prefetched(self.todo, self.read, self.decode, *self._prefetch())
        for done, (i, decoded, exc) in enumerate(stream):
            v = self.variants[i]
            try:
                if exc is not None:
                    raise exc
                self.consume(i, *decoded)
            except (CacheWriteError, CacheCorruptError):
                raise
            except Exception as exc:  # a variant the codec cannot decode is recorded, not fatal
                self.fail(i, exc)
            remaining[v["image_id"]] -= 1
            if remaining[v["image_id"]] == 0:
                self.flush_pixels(v["image_id"])  # its last variant: measure what waits for it
            waiting = {self.variants[j]["image_id"] for queue in self.pending.values() for j, _ in queue}
            for image_id in [k for k, n in remaining.items() if n == 0 and k not in waiting]:
                self.refs.drop(image_id)  # keep only the images still in work
                del remaining[image_id]
            progress(done + 1)
        for name in self.nets:
            self.flush(name)

    def _prefetch(self) -> tuple[int, int]:
        """(depth, threads) of the decoding ahead (``feed.prefetch_depth``; 0: inline)."""
        if self.feed.prefetch == 0 or not self.todo:
            return 0, 1
        used = [net for name, net in self.nets.items() if any(self.needs_pass(i, name) for i in self.todo)]
        batch = max((net.loaded_batch() for net in used), default=1)
        largest = max(img["width"] * img["height"] for img in self.images.values())
        return prefetch_depth(self.feed, batch, largest), self.feed.workers

    def read(self, i: int) -> tuple[bytes, list, list]:
        """(artifact, the pixel groups to measure, the networks that must see it) of variant
        ``i``, in the job's thread (the cache is not shared between threads)."""
        v = self.variants[i]
        if self._encoder is None:
            self._encoder = build_encoder(v["encoder"], self.encoder_inputs)
        data, repaired = artifact_bytes(self.cache, v, self.images[v["image_id"]], self.limits, self._encoder)
        self.stats["measure"].corrupt += repaired  # a damaged artifact, encoded again
        groups = [g for g in self.pixel_groups if g.name in self.missing[i]]
        return data, groups, [name for name in self.nets if self.needs_pass(i, name)]

    def decode(self, i: int, read: tuple) -> tuple[list, np.ndarray | None, dict]:
        """(pixel groups, the variant at the source's geometry or None, each network's input)
        of a variant ``read`` gave: the CPU work that may run ahead, in a decode thread."""
        data, groups, nets = read
        img = self.images[self.variants[i]["image_id"]]
        decoded = self._encoder.decode(data)
        at_source = np.asarray(to_source_geometry(decoded, (img["width"], img["height"]))) if groups else None
        return groups, at_source, {name: self.nets[name].preprocess(decoded) for name in nets}

    def consume(self, i: int, groups: list, at_source, inputs: dict) -> None:
        """Measure variant ``i``'s pixel groups (on a device: queued per source, measured in
        batches), queue it for the networks (a full queue runs)."""
        image_id = self.variants[i]["image_id"]
        for group in groups:
            if self.feed.batch_metrics:
                self.pixel_pending.setdefault(image_id, []).append((i, group, at_source))
            else:
                self.store(i, group, group.measure(self.refs.of(image_id, group), at_source))
        if len(self.pixel_pending.get(image_id, ())) >= PIXEL_BATCH:
            self.flush_pixels(image_id)
        for name, x in inputs.items():
            self.pending[name].append((i, x))
            if len(self.pending[name]) >= self.nets[name].loaded_batch():
                self.flush(name)

    def flush_pixels(self, image_id: str) -> None:
        """Measure the queued variants of one source, per group in one call (one round trip to
        the device, not one per variant); should a batch fail, each variant alone (its own error)."""
        queue = self.pixel_pending.pop(image_id, [])
        for group in dict.fromkeys(g for _, g, _ in queue):
            mine = [(i, pixels) for i, g, pixels in queue if g is group]
            ref = results = None
            try:
                ref = self.refs.of(image_id, group)
                results = group.measure_batch(ref, [pixels for _, pixels in mine])
            except Exception as exc:
                log.warning("%s %s: measured one at a time (%s: %s)", image_id, group.name, type(exc).__name__, exc)
            for n, (i, pixels) in enumerate(mine):
                try:
                    if results is None:  # the source or the batch failed: each variant gets its own answer
                        ref = ref if ref is not None else self.refs.of(image_id, group)
                    self.store(i, group, results[n] if results is not None else group.measure(ref, pixels))
                except (CacheWriteError, CacheCorruptError):
                    raise
                except Exception as exc:
                    self.fail(i, exc)

    def fail(self, i: int, exc: BaseException) -> None:
        """Record variant ``i``'s failure (its rows say it; the job goes on)."""
        v = self.variants[i]
        self.errors.setdefault(i, f"{type(exc).__name__}: {exc}")
        log.warning("%s %s %s: %s", v["image_id"], v["artifact_sha256"][:12], self.encoder, self.errors[i])

    def flush(self, name: str) -> None:
        """Run network ``name`` on its queue: predictions, and the tap groups of its features."""
        net, queue = self.nets[name], self.pending[name]
        if not queue:
            return
        logits, taps = net.run([x for _, x in queue])
        for n, (i, _) in enumerate(queue):
            v = self.variants[i]
            if self.needs_scores(i, name):
                put_scores(self.cache, net.key(v["artifact_sha256"], False), logits[n], name)
                self.scores[i, name] = logits[n]
                self.stats[name].computed += 1
            for group in self.tap_groups:
                if group.tap_model == name and group.name in self.missing[i]:
                    try:
                        self.store(i, group, group.measure(self.refs.of(v["image_id"], group, net), None, taps[n]))
                    except (CacheWriteError, CacheCorruptError):
                        raise
                    except Exception as exc:  # this variant's (its source's) failure, not its batch-mates'
                        self.fail(i, exc)
        queue.clear()

    # -- 4. rows -----------------------------------------------------------------------
    def prediction_rows(self, name: str) -> list[dict]:
        rows, stats = [], self.stats[name]
        for i, v in enumerate(self.variants):
            orig = self.originals[name].get(v["image_id"])
            if orig is None:
                continue
            base = records.new_row(
                schemas.PREDICTIONS,
                **{k: v[k] for k in VARIANT_COLUMNS},
                model=name,
                runtime=self.nets[name].runtime_label,
                label_source=orig["label_source"],
            )
            if (i, name) in self.scores:
                row = prediction_row(base, self.scores[i, name], orig["true_class"], orig["true_rank"])
                row["top1_agrees"] = row["top1"] == orig["top1"]
            else:
                row = dict(base, status="error", error=self.errors.get(i, "not computed"))
                stats.failed += 1
            rows.append(row)
        stats.items = len(rows)
        return rows

    def metric_rows(self) -> list[dict]:
        rows, m = [], self.stats["measure"]
        for i, v in enumerate(self.variants):
            row = records.new_row(
                schemas.METRICS, **{k: v[k] for k in (*VARIANT_COLUMNS, "source_sha256")}, status="ok"
            )
            if i in self.errors:
                row.update(status="error", error=self.errors[i])
                m.failed += 1
            else:
                row.update(self.values[i])
                m.computed += bool(self.missing[i])
                m.served += not self.missing[i]
            rows.append(row)
        m.items = len(rows)
        return rows
