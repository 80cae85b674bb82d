"""Job bodies of the workflow stages, importable and testable without Snakemake.

Each stage works on one shard of one dataset (and one encoder / model), asks the cache
for every item first, computes only what is missing, and returns a ``JobStats`` with how
many items it computed and how many the cache served.
"""

from __future__ import annotations

import json
import logging
import pathlib
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import cache

import numpy as np

from . import records
from .cache import Cache, CacheCorruptError, CacheWriteError, sha256_bytes
from .codecs import get_encoder
from .images import Limits, load_source, prepare, to_source_geometry
from .keys import artifact_key, metric_key, pixel_metrics_id, prediction_key

log = logging.getLogger("codecsweep")


@dataclass
class JobStats:
    stage: str
    dataset: str
    shard: int
    encoder: str | None = None
    model: str | None = None
    items: int = 0
    computed: int = 0
    served: int = 0
    corrupt: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter, repr=False)

    def finish(self, cache: Cache, path) -> None:
        JobStats.finish_all([self], cache, path)

    @staticmethod
    def finish_all(all_stats: list[JobStats], cache: Cache, path) -> None:
        """Write the job's runstats (one row per stage/model it ran) and log each."""
        for problem in cache.problems:
            log.warning("cache: corrupt entry recomputed: %s", problem)
        rows = []
        for stats in all_stats:
            kind = {"encode": "artifact", "classify": "prediction", "measure": "metric"}[stats.stage]
            stats.corrupt = cache.counts[kind, "corrupt"]
            row = asdict(stats)
            row["wall_s"] = round(time.perf_counter() - row.pop("started"), 3)
            rows.append(row)
            stats._log(row["wall_s"])
        records.write(rows, records.RUNSTATS, path)

    def _log(self, wall_s: float) -> None:
        log.info(
            "%s done: %d items, %d computed, %d served from cache, %d corrupt, %d failed, %.1f s",
            self.stage,
            self.items,
            self.computed,
            self.served,
            self.corrupt,
            self.failed,
            wall_s,
        )


def shard_images(images_path, shard: int) -> list[dict]:
    """The usable images of one shard, sorted by id."""
    return sorted(
        (r for r in records.read(images_path) if r["shard"] == shard and r["status"] == "ok"),
        key=lambda r: r["image_id"],
    )


def grid_points(encoder_grid: dict, scales: list, colors: list) -> list[tuple[float, str, str, int]]:
    """(scale, color, canonical param, param index) in a fixed order."""
    enc = get_encoder(encoder_grid["encoder"])
    params = [enc.canonical_param(p) for p in encoder_grid["params"]]
    return [(float(s), c, p, i) for s in scales for c in colors for i, p in enumerate(params)]


@cache
def use_torch(threads: int) -> None:
    """Import torch and give it the job's threads; deferred so that jobs the cache serves
    entirely never pay torch's start-up."""
    import torch

    torch.set_num_threads(max(1, threads))


class _Progress:
    """A progress line at most every ``every`` seconds (to the job's log and the terminal), so a
    long job shows it is alive without flooding either: it names the job (lines of parallel jobs
    interleave) and gives done/total, the rate and the time left, e.g.
    ``measure default/shard 1/jpeg: 120/432 variants (28%), 4.0/s, 0:00:30 elapsed, ETA 0:01:18``."""

    def __init__(self, total: int, what: str, unit: str = "items", every: float = 30.0, clock=time.monotonic):
        self.total, self.what, self.unit, self.every, self.clock = total, what, unit, every, clock
        self.start = self.last = clock()

    @classmethod
    def for_job(cls, stats: JobStats, total: int, unit: str, **kw) -> _Progress:
        """Named after the job: stage, dataset, shard, then model and encoder (``original``: the originals)."""
        parts = [stats.model] if stats.model else []
        parts += [stats.encoder or "original"] if stats.model or stats.encoder else []
        return cls(total, f"{stats.stage} {stats.dataset}/shard {stats.shard}/{'/'.join(parts)}", unit, **kw)

    def __call__(self, done: int) -> None:
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        done, elapsed = min(done, self.total), now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = _hms((self.total - done) / rate) if rate > 0 else "?"
        pct = 100 * done // self.total if self.total else 100
        log.info(
            "%s: %d/%d %s (%d%%), %.2g/s, %s elapsed, ETA %s",
            *(self.what, done, self.total, self.unit, pct, rate, _hms(elapsed), eta),
        )


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# -- encode --------------------------------------------------------------------------------


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
) -> JobStats:
    name = encoder_grid["encoder"]
    enc = get_encoder(name)
    version = enc.version()
    cache = Cache(cache_dir)
    stats = JobStats("encode", dataset, shard, encoder=name)
    points = grid_points(encoder_grid, scales, colors)
    images = shard_images(images_path, shard)
    progress = _Progress.for_job(stats, len(images), "images")
    log.info("encode %s shard %d: %d images x %d variants with %s", dataset, shard, len(images), len(points), version)
    rows = []
    for n, img in enumerate(images):
        source, prepared = None, {}
        raw_bits = img["width"] * img["height"] * 3 * 8
        for scale, color, param, param_index in points:
            key = artifact_key(img["source_sha256"], name, version, scale, color, param)
            row = records.new_row(
                records.VARIANTS,
                dataset=dataset,
                image_id=img["image_id"],
                source_sha256=img["source_sha256"],
                encoder=name,
                codec_version=version,
                scale=scale,
                color=color,
                param=param,
                param_index=param_index,
                status="ok",
            )
            entry = cache.get("artifact", key)
            if entry is not None:
                stats.served += 1
                sha, data, meta = entry.blob, entry.data, entry.meta
            else:
                try:
                    if source is None:
                        source, _ = load_source(pathlib.Path(img["source_path"]), limits)
                    if (scale, color) not in prepared:
                        prepared[scale, color] = prepare(source, scale, color)
                    im = prepared[scale, color]
                    t0 = time.perf_counter()
                    data = enc.encode(im, param)
                    meta = {
                        "encode_ms": round((time.perf_counter() - t0) * 1000, 3),
                        "width": im.width,
                        "height": im.height,
                    }
                except CacheWriteError:
                    raise
                except Exception as exc:  # a codec's refusal is a result, recorded per variant
                    stats.failed += 1
                    row.update(status="error", error=f"{type(exc).__name__}: {exc}")
                    log.warning("%s %s %s scale %g %s: %s", img["image_id"], name, param, scale, color, row["error"])
                    rows.append(row)
                    continue
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
                cr_raw=raw_bits / (size * 8),
                cr_source=img["source_bytes"] / size,
            )
            rows.append(row)
        _flag_duplicates(rows[-len(points) :])
        progress(n + 1)
    stats.items = len(rows)
    cache.close()  # seal the job's pack before its output exists
    records.write(rows, records.VARIANTS, out)
    stats.finish(cache, stats_out)
    return stats


def _flag_duplicates(image_rows: list[dict]) -> None:
    """``duplicate_of``: the first parameter (grid order) of the same image, scale and color
    whose file is byte-identical (e.g. JPEG 2000 layer lists that reach the same rate)."""
    first: dict = {}
    for row in image_rows:
        if row["status"] == "ok":
            same = first.setdefault((row["scale"], row["color"], row["artifact_sha256"]), row["param"])
            row["duplicate_of"] = same if same != row["param"] else None


def _artifact_image(cache: Cache, row: dict, image: dict | None = None, limits: Limits = Limits(), variants_path=None):
    """Decode a variant's artifact from the cache.

    A missing or damaged artifact is never recorded as a result of the variant: it is
    encoded again from its source (codecs are deterministic) and, when the bytes hash to the
    recorded sha256, put back in the cache and used, so the job repairs the cache itself. If
    they differ (the codec or the source changed under the variants table), the variants file
    is removed so the next run encodes afresh, and the job fails saying so."""
    enc = get_encoder(row["encoder"])
    try:
        return enc.decode(cache.read_blob(row["artifact_sha256"]))
    except CacheCorruptError as exc:
        if image is None:
            raise
        source, _ = load_source(pathlib.Path(image["source_path"]), limits)
        prepared = prepare(source, row["scale"], row["color"])
        data = enc.encode(prepared, row["param"])
        if sha256_bytes(data) != row["artifact_sha256"]:
            if variants_path is not None:
                pathlib.Path(variants_path).unlink(missing_ok=True)
            raise CacheCorruptError(
                f"{exc}; encoding it again gives other bytes, so {variants_path} is out of date: it was removed, "
                "rerun the workflow to encode afresh"
            ) from None
        key = artifact_key(
            row["source_sha256"], row["encoder"], row["codec_version"], row["scale"], row["color"], row["param"]
        )
        cache.put(
            "artifact", key, data, {"encode_ms": row["encode_ms"], "width": prepared.width, "height": prepared.height}
        )
        log.warning(
            "cache: artifact %s was damaged or missing: encoded again and repaired", row["artifact_sha256"][:12]
        )
        return enc.decode(data)


# -- classify and measure: one decode and one forward pass per variant ---------------------


class _Net:
    """One classifier of a job: its prediction key recipe now, the model only once something
    must be computed (a job the cache serves entirely never imports torch)."""

    def __init__(self, name: str, batch_size: dict | int, threads: int, taps: bool = False):
        from .models import get_spec, preprocess_id, weights_sha256

        self.name, self.spec = name, get_spec(name)
        self.weights, self.preprocessing = weights_sha256(name), preprocess_id(self.spec)
        self.batch_size, self.threads, self.want_taps = batch_size, threads, taps
        self._model = None

    def key(self, input_sha256: str, is_original: bool) -> str:
        return prediction_key(input_sha256, self.name, self.weights, self.preprocessing, is_original)

    @property
    def model(self):
        if self._model is None:
            from .models import load_model

            use_torch(self.threads)
            self._model = load_model(self.name)
            size = self.batch_size
            self.batch = size if isinstance(size, int) else size.get(self._model.device.split(":")[0], size["cpu"])
            log.info("%s on %s, batches of %d, %d thread(s)", self.name, self._model.device, self.batch, self.threads)
        return self._model

    def loaded_batch(self) -> int:
        """The batch size of the device the model runs on (loads the model)."""
        self.model  # noqa: B018
        return self.batch

    def preprocess(self, image):
        from .models import preprocess

        return preprocess(self.spec, image)

    def run(self, xs: list):
        """(logits, per-stage features or None) of ``xs``, always as a batch of exactly
        ``self.batch`` (zero-padded).

        A convolution library picks its kernels by batch shape, so the same image gives logits
        that differ in the 7th digit between a batch of 3 and one of 32; with one fixed shape an
        image's result does not depend on which images share its batch (checked bit for bit),
        so a run resumed after a kill, or one that finds half its work in the cache, writes the
        same Parquet as an uninterrupted one. The cost: at most one padded batch per job.
        """
        from .models import forward

        model = self.model
        out_logits, out_taps = [], []
        for start in range(0, len(xs), self.batch):
            chunk = np.stack(xs[start : start + self.batch])
            n = len(chunk)
            if n < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - n, *chunk.shape[1:]), chunk.dtype)])
            logits, taps = forward(model, chunk, with_taps=self.want_taps)
            out_logits.extend(logits[:n])
            if taps is not None:
                out_taps.extend([[t[i : i + 1] for t in taps] for i in range(n)])
        return out_logits, (out_taps if self.want_taps else None)


def _prediction_row(base: dict, scores, true_class: int | None, original_rank: int | None) -> dict:
    from .models import rank_difference, rank_of, softmax, top_k

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


def _put_scores(cache: Cache, key: str, scores, model: str) -> None:
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
) -> list[JobStats]:
    """Predictions of every model for the originals of a shard (one job for all models)."""
    cache = Cache(cache_dir)
    images = shard_images(images_path, shard)
    all_stats, sources = [], {}
    for name in models:
        net, stats = _Net(name, batch_size, threads), JobStats("classify", dataset, shard, model=name)
        keys = [net.key(img["source_sha256"], True) for img in images]
        scores = {}
        for img, key in zip(images, keys):
            entry = cache.get("prediction", key)
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
                _put_scores(cache, key, s, name)
                scores[img["image_id"]] = s
                stats.computed += 1
        rows = []
        for img in images:
            base = records.new_row(
                records.PREDICTIONS,
                dataset=dataset,
                image_id=img["image_id"],
                model=name,
                label_source=img["label_source"],
            )
            if img["image_id"] in scores:
                rows.append(_prediction_row(base, scores[img["image_id"]], img["label"], None))
            else:
                rows.append(dict(base, status="error", error=errors[img["image_id"]]))
        stats.items = len(rows)
        cache.close()  # seal the job's pack before its outputs exist
        records.write(rows, records.PREDICTIONS, outs[name])
        all_stats.append(stats)
    JobStats.finish_all(all_stats, cache, stats_out)
    return all_stats


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
    dfd_model: str | None = "efficientnet_lite0",
    lpips_net: str | None = "alex",
    batch_size: dict | int = 4,
    threads: int = 1,
    limits: Limits = Limits(),
) -> list[JobStats]:
    """Everything about the variants of one shard and encoder, in one pass per variant:
    decode once, classify with every model (the dfd model's forward pass also yields the
    features ``dfd`` compares), and measure against the source. What the cache holds is
    served; only what is missing is decoded and computed.

    ``originals``: model -> the originals' predictions (their ranks are the reference).
    """
    from .metrics import DeepFeatureDistance, Lpips, Reference, pixel_metrics

    cache = Cache(cache_dir)
    images = {r["image_id"]: r for r in shard_images(images_path, shard)}
    all_variants = records.read(variants_path)
    variants = [v for v in all_variants if v["status"] == "ok" and v["image_id"] in images]
    encoder = all_variants[0]["encoder"] if all_variants else None
    dfd = DeepFeatureDistance(dfd_model) if dfd_model else None
    lp = Lpips(lpips_net) if lpips_net else None
    if lp is not None and not lp.available:
        log.warning("LPIPS IS NOT COMPUTED (lpips column null): %s", lp.reason)
    nets = {name: _Net(name, batch_size, threads, taps=(name == dfd_model)) for name in models}
    if dfd and dfd_model not in nets:  # features only: its predictions are not part of this study
        nets[dfd_model] = _Net(dfd_model, batch_size, threads, taps=True)
    groups = {"pixel": pixel_metrics_id()}
    if dfd:
        groups["dfd"] = dfd.id
    if lp is not None and lp.available:
        groups["lpips"] = lp.id
    stats = {name: JobStats("classify", dataset, shard, encoder=encoder, model=name) for name in models}
    stats["measure"] = JobStats("measure", dataset, shard, encoder=encoder)  # names the job's progress lines
    orig_rows = {
        name: {r["image_id"]: r for r in records.read(path) if r["status"] == "ok"} for name, path in originals.items()
    }

    # 1. What the cache holds (cheap: no decode, no torch).
    scores: dict = {}  # (variant index, model) -> logits
    values: list[dict] = [{} for _ in variants]
    missing_metrics: list[set] = [set() for _ in variants]
    for i, v in enumerate(variants):
        for name, net in nets.items():
            if name in models and v["image_id"] in orig_rows[name]:
                entry = cache.get("prediction", net.key(v["artifact_sha256"], False))
                if entry is not None:
                    scores[i, name] = np.frombuffer(entry.data, dtype="<f4")
                    stats[name].served += 1
        for group, gid in groups.items():
            entry = cache.get("metric", metric_key(gid, v["artifact_sha256"], v["source_sha256"]))
            if entry is None:
                missing_metrics[i].add(group)
            else:
                values[i].update(json.loads(entry.data))

    def needs_scores(i: int, name: str) -> bool:
        """A prediction of a study model that the cache did not hold (and whose original exists)."""
        return name in models and (i, name) not in scores and variants[i]["image_id"] in orig_rows[name]

    todo = [i for i in range(len(variants)) if missing_metrics[i] or any(needs_scores(i, n) for n in models)]
    log.info(
        "%s %s shard %d: %d variants, %d served entirely by the cache, %d to compute (models: %s)",
        dataset,
        encoder,
        shard,
        len(variants),
        len(variants) - len(todo),
        len(todo),
        ", ".join(models),
    )

    # 2. The rest: decode once, measure, queue for the networks; run full batches.
    errors: dict[int, str] = {}
    reference: dict = {}  # image_id -> {"ref", "lpips", "taps"}: the current image(s) only
    pending: dict[str, list] = {name: [] for name in nets}
    remaining = {}
    for i in todo:
        remaining[variants[i]["image_id"]] = remaining.get(variants[i]["image_id"], 0) + 1

    def ref_of(img) -> dict:
        if img["image_id"] not in reference:
            src, _ = load_source(pathlib.Path(img["source_path"]), limits)
            arr = np.asarray(src)
            reference[img["image_id"]] = {"src": src, "ref": Reference(arr), "taps": None}
            if "lpips" in groups:
                reference[img["image_id"]]["lpips"] = lp.tensor(arr)
        return reference[img["image_id"]]

    def store(i: int, group: str, result: dict) -> None:
        v = variants[i]
        key = metric_key(groups[group], v["artifact_sha256"], v["source_sha256"])
        cache.put("metric", key, json.dumps(result, sort_keys=True).encode(), {"group": groups[group]})
        values[i].update(result)

    def flush(name: str) -> None:
        net, queue = nets[name], pending[name]
        if not queue:
            return
        logits, taps = net.run([x for _, x in queue])
        for n, (i, _) in enumerate(queue):
            v = variants[i]
            if name in models and (i, name) not in scores:
                _put_scores(cache, net.key(v["artifact_sha256"], False), logits[n], name)
                scores[i, name] = logits[n]
                stats[name].computed += 1
            if taps is not None and "dfd" in missing_metrics[i]:
                ref = reference[v["image_id"]]
                if ref["taps"] is None:
                    ref["taps"] = dfd.reference(net.run([net.preprocess(ref["src"])])[1][0])
                store(i, "dfd", {"dfd": dfd.distance(ref["taps"], taps[n])})
        queue.clear()

    progress = _Progress.for_job(stats["measure"], len(todo), "variants")
    for done, i in enumerate(todo):
        v = variants[i]
        img = images[v["image_id"]]
        try:
            decoded = _artifact_image(cache, v, img, limits, variants_path)
            ref = ref_of(img)
            if missing_metrics[i] & {"pixel", "lpips"}:
                at_source = np.asarray(to_source_geometry(decoded, (img["width"], img["height"])))
                if "pixel" in missing_metrics[i]:
                    store(i, "pixel", pixel_metrics(ref["ref"], at_source))
                if "lpips" in missing_metrics[i]:
                    store(i, "lpips", {"lpips": lp(ref["lpips"], at_source)})
            for name, net in nets.items():
                if needs_scores(i, name) or (net.want_taps and "dfd" in missing_metrics[i]):
                    pending[name].append((i, net.preprocess(decoded)))
                    if len(pending[name]) >= net.loaded_batch():
                        flush(name)
        except (CacheWriteError, CacheCorruptError):
            raise
        except Exception as exc:  # a variant the codec cannot decode is recorded, not fatal
            errors[i] = f"{type(exc).__name__}: {exc}"
            log.warning("%s %s %s: %s", v["image_id"], v["artifact_sha256"][:12], encoder, errors[i])
        remaining[v["image_id"]] -= 1
        waiting = {variants[j]["image_id"] for q in pending.values() for j, _ in q}
        for image_id in [k for k in reference if remaining[k] == 0 and k not in waiting]:
            del reference[image_id]  # keep only the images still in work: memory stays flat
        progress(done + 1)
    for name in nets:
        flush(name)

    cache.close()  # seal the job's pack before its outputs exist
    # 3. Rows, in the variants' order however the cache split the work.
    for name in models:
        rows = []
        for i, v in enumerate(variants):
            orig = orig_rows[name].get(v["image_id"])
            if orig is None:
                continue
            base = records.new_row(
                records.PREDICTIONS,
                **{k: v[k] for k in ("dataset", "image_id", "encoder", "scale", "color", "param", "artifact_sha256")},
                model=name,
                label_source=orig["label_source"],
            )
            if (i, name) in scores:
                row = _prediction_row(base, scores[i, name], orig["true_class"], orig["true_rank"])
                row["top1_agrees"] = row["top1"] == orig["top1"]
            else:
                row = dict(base, status="error", error=errors.get(i, "not computed"))
                stats[name].failed += 1
            rows.append(row)
        stats[name].items = len(rows)
        records.write(rows, records.PREDICTIONS, prediction_outs[name])
    metric_rows = []
    m = stats["measure"]
    for i, v in enumerate(variants):
        row = records.new_row(
            records.METRICS,
            **{
                k: v[k]
                for k in (
                    "dataset",
                    "image_id",
                    "encoder",
                    "scale",
                    "color",
                    "param",
                    "artifact_sha256",
                    "source_sha256",
                )
            },
            status="ok",
        )
        if i in errors:
            row.update(status="error", error=errors[i])
            m.failed += 1
        else:
            row.update(values[i])
            m.computed += bool(missing_metrics[i])
            m.served += not missing_metrics[i]
        metric_rows.append(row)
    m.items = len(metric_rows)
    records.write(metric_rows, records.METRICS, metrics_out)
    JobStats.finish_all(list(stats.values()), cache, stats_out)
    return list(stats.values())


def setup_logging(path) -> None:
    """Send the package's log to a job's log file (and stderr), one format everywhere."""
    handlers = [logging.StreamHandler()]
    if path:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.excepthook = _log_uncaught


def _log_uncaught(exc_type, exc, tb) -> None:
    """A crashing job's traceback goes to its log file too (through the handlers above),
    not only to the terminal, so `logs/...` explains every failed job."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.critical("job failed: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
