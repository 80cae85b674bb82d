"""Job bodies of the workflow stages, importable and testable without Snakemake.

Each stage works on one shard of one dataset (and one encoder / model), asks the cache
for every item first, computes only what is missing, and returns a ``JobStats`` with how
many items it computed and how many the cache served.
"""

from __future__ import annotations

import json
import logging
import pathlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cache

import numpy as np

from . import records
from .cache import Cache, CacheCorruptError, CacheWriteError, make_key
from .codecs import get_encoder
from .images import NORMALIZATION_VERSION, UPSCALE_FILTER, Limits, load_source, prepare, to_source_geometry

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
        self.corrupt = sum(n for (_, outcome), n in cache.counts.items() if outcome == "corrupt")
        for problem in cache.problems:
            log.warning("cache: corrupt entry recomputed: %s", problem)
        row = asdict(self)
        row["wall_s"] = round(time.perf_counter() - row.pop("started"), 3)
        records.write([row], records.RUNSTATS, path)
        log.info(
            "%s done: %d items, %d computed, %d served from cache, %d corrupt, %d failed, %.1f s",
            self.stage,
            self.items,
            self.computed,
            self.served,
            self.corrupt,
            self.failed,
            row["wall_s"],
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


def artifact_key(source_sha256: str, encoder: str, codec_version: str, scale: float, color: str, param: str) -> str:
    enc = get_encoder(encoder)
    return make_key(
        "artifact",
        source=source_sha256,
        normalization=NORMALIZATION_VERSION,
        downscale="lanczos",
        encoder=encoder,
        codec_version=codec_version,
        settings=enc.settings,
        scale=scale,
        color=color,
        param=param,
    )


@cache
def use_torch(threads: int) -> None:
    """Import torch and give it the job's threads; deferred so that jobs the cache serves
    entirely never pay torch's start-up."""
    import torch

    torch.set_num_threads(max(1, threads))


class _Progress:
    """A log line every ``every`` seconds, so long jobs show they are alive."""

    def __init__(self, total: int, what: str, every: float = 30.0):
        self.total, self.what, self.every, self.last = total, what, every, time.monotonic()

    def __call__(self, done: int) -> None:
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            log.info("%s: %d/%d", self.what, done, self.total)


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
    progress = _Progress(len(images), f"encode {dataset}/{name}/shard {shard} images")
    log.info("encode %s shard %d: %d images x %d variants with %s", dataset, shard, len(images), len(points), version)
    rows = []
    for n, img in enumerate(images):
        source, prepared = None, {}
        raw_bits = img["width"] * img["height"] * 3 * 8
        for scale, color, param, param_index in points:
            key = artifact_key(img["source_sha256"], name, version, scale, color, param)
            row = {
                "dataset": dataset,
                "image_id": img["image_id"],
                "source_sha256": img["source_sha256"],
                "encoder": name,
                "codec_version": version,
                "scale": scale,
                "color": color,
                "param": param,
                "param_index": param_index,
                "status": "ok",
                "error": None,
            }
            entry = cache.get("artifact", key)
            if entry is not None:
                stats.served += 1
                sha, size, meta = entry.blob, len(entry.data), entry.meta
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
                size = len(data)
                stats.computed += 1
            row.update(
                artifact_sha256=sha,
                bytes=size,
                width=meta["width"],
                height=meta["height"],
                encode_ms=meta["encode_ms"],
                bpp=size * 8 / (img["width"] * img["height"]),
                cr_raw=raw_bits / (size * 8),
                cr_source=img["source_bytes"] / size,
            )
            rows.append(row)
        progress(n + 1)
    stats.items = len(rows)
    cache.close()  # seal the job's pack before its output exists
    records.write(rows, records.VARIANTS, out)
    stats.finish(cache, stats_out)
    return stats


def _artifact_image(cache: Cache, row: dict):
    """Decode a variant's artifact from the cache."""
    return get_encoder(row["encoder"]).decode(cache.read_blob(row["artifact_sha256"]))


# -- classify ------------------------------------------------------------------------------


def prediction_key(input_sha256: str, spec, weights_sha256: str, is_original: bool) -> str:
    fields = dict(input=input_sha256, model=spec.name, weights=weights_sha256, preprocess=spec.preprocess_id)
    if is_original:
        fields["normalization"] = NORMALIZATION_VERSION
    return make_key("prediction", **fields)


def _scores(cache: Cache, spec, items: list[dict], load, batch_size: int, threads: int, stats: JobStats, what: str):
    """Class scores for every item, from the cache or computed in batches.

    ``load(item)`` returns the PIL image to classify. Decoding and preprocessing run in a
    thread pool (the codecs release the GIL), one batch ahead of the model. Yields
    (item, scores or None, error): cache hits first, then computed items. The model (and
    torch) is loaded only when something is missing: a job the cache serves starts fast.
    """
    from .models import preprocess

    def prep(item):
        try:
            return preprocess(spec, load(item)), None
        except CacheCorruptError:  # a damaged cache is not a result of the variant: fail the job
            raise
        except Exception as exc:  # an undecodable variant is recorded, not fatal
            return None, f"{type(exc).__name__}: {exc}"

    misses = []
    for item in items:
        entry = cache.get("prediction", item["_key"])
        if entry is None:
            misses.append(item)
        else:
            stats.served += 1
            yield item, np.frombuffer(entry.data, dtype="<f4"), None
    if not misses:
        return
    from .models import load_model

    use_torch(threads)
    model = load_model(spec.name)
    log.info("%s: %d to compute with %s on %s", what, len(misses), spec.name, model.device)
    batches = [misses[i : i + batch_size] for i in range(0, len(misses), batch_size)]
    progress = _Progress(len(misses), what)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        ahead = [pool.submit(prep, it) for it in batches[0]] if batches else []
        for k, batch in enumerate(batches):
            prepared = [f.result() for f in ahead]
            if k + 1 < len(batches):
                ahead = [pool.submit(prep, it) for it in batches[k + 1]]
            ok = [(it, x) for it, (x, err) in zip(batch, prepared) if err is None]
            scores = dict(zip((id(it) for it, _ in ok), _fixed_batch_logits(model, [x for _, x in ok], batch_size)))
            for it, (_, err) in zip(batch, prepared):
                if err is None:
                    s = scores[id(it)]
                    cache.put("prediction", it["_key"], s.astype("<f4").tobytes(), {"model": spec.name})
                    stats.computed += 1
                else:
                    stats.failed += 1
                yield it, scores.get(id(it)), err
            progress((k + 1) * batch_size)


def _fixed_batch_logits(model, xs: list, batch_size: int):
    """Logits of ``xs``, always run as a batch of exactly ``batch_size`` (zero-padded).

    A convolution library picks its kernels by batch shape, so the same image gives logits
    that differ in the 7th digit between a batch of 3 and one of 32; with one fixed shape an
    image's result does not depend on which images share its batch (checked bit for bit),
    so a run resumed after a kill, or one that finds half its work in the cache, writes the
    same Parquet as an uninterrupted one. The cost: at most one padded batch per job.
    """
    from .models import logits

    if not xs:
        return []
    batch = np.stack(xs)
    if len(batch) < batch_size:
        batch = np.concatenate([batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), batch.dtype)])
    return logits(model, batch)[: len(xs)]


def _prediction_row(base: dict, scores, true_class: int | None, original_rank: int | None) -> dict:
    from .models import rank_of, softmax, top_k

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
        row.update(original_rank=original_rank, rank_diff=original_rank - rank)
    return row


def classify_shard(
    images_path,
    dataset: str,
    shard: int,
    model_name: str,
    cache_dir,
    out,
    stats_out,
    variants_path=None,
    originals_path=None,
    batch_size: int = 32,
    threads: int = 1,
    limits: Limits = Limits(),
) -> JobStats:
    """Predictions for the originals of a shard (no ``variants_path``) or for its variants
    of one encoder (``variants_path`` and the originals' predictions ``originals_path``)."""
    from .models import get_spec, weights_sha256

    spec, weights = get_spec(model_name), weights_sha256(model_name)
    cache = Cache(cache_dir)
    images = {r["image_id"]: r for r in shard_images(images_path, shard)}
    rows = []
    if variants_path is None:
        stats = JobStats("classify", dataset, shard, model=model_name)
        items = [
            dict(img, _key=prediction_key(img["source_sha256"], spec, weights, True), _order=n)
            for n, img in enumerate(images.values())
        ]
        load = lambda it: load_source(pathlib.Path(it["source_path"]), limits)[0]  # noqa: E731
        for it, scores, err in _scores(cache, spec, items, load, batch_size, threads, stats, "classify originals"):
            base = {
                "dataset": dataset,
                "image_id": it["image_id"],
                "model": model_name,
                "encoder": None,
                "label_source": it["label_source"],
                "_order": it["_order"],
            }
            rows.append(
                _prediction_row(base, scores, it["label"], None)
                if err is None
                else dict(base, status="error", error=err)
            )
    else:
        all_variants = records.read(variants_path)
        variants = [v for v in all_variants if v["status"] == "ok" and v["image_id"] in images]
        stats = JobStats(
            "classify", dataset, shard, encoder=all_variants[0]["encoder"] if all_variants else None, model=model_name
        )
        originals = {r["image_id"]: r for r in records.read(originals_path) if r["status"] == "ok"}
        items = [
            dict(v, _key=prediction_key(v["artifact_sha256"], spec, weights, False), _order=n)
            for n, v in enumerate(variants)
            if v["image_id"] in originals
        ]
        for it, scores, err in _scores(
            cache,
            spec,
            items,
            lambda it: _artifact_image(cache, it),
            batch_size,
            threads,
            stats,
            f"classify {stats.encoder} variants",
        ):
            orig = originals[it["image_id"]]
            base = {k: it[k] for k in ("dataset", "image_id", "encoder", "scale", "color", "param", "artifact_sha256")}
            base.update(model=model_name, label_source=orig["label_source"], _order=it["_order"])
            row = (
                _prediction_row(base, scores, orig["true_class"], orig["true_rank"])
                if err is None
                else dict(base, status="error", error=err)
            )
            if err is None:
                row["top1_agrees"] = row["top1"] == orig["top1"]
            rows.append(row)
    rows.sort(key=lambda r: r["_order"])  # the input order, however the cache split the work
    for r in rows:
        del r["_order"]
    stats.items = len(rows)
    cache.close()  # seal the job's pack before its output exists
    records.write(rows, records.PREDICTIONS, out)
    stats.finish(cache, stats_out)
    return stats


# -- measure -------------------------------------------------------------------------------


def measure_shard(
    images_path,
    variants_path,
    dataset: str,
    shard: int,
    cache_dir,
    out,
    stats_out,
    dfd_model: str | None = "efficientnet_lite0",
    lpips_net: str | None = "alex",
    threads: int = 1,
    limits: Limits = Limits(),
) -> JobStats:
    from .metrics import METRICS_VERSION, DeepFeatureDistance, Lpips, Reference, pixel_metrics

    cache = Cache(cache_dir)
    images = {r["image_id"]: r for r in shard_images(images_path, shard)}
    all_variants = records.read(variants_path)
    variants = [v for v in all_variants if v["status"] == "ok" and v["image_id"] in images]
    stats = JobStats("measure", dataset, shard, encoder=all_variants[0]["encoder"] if all_variants else None)
    dfd = DeepFeatureDistance(dfd_model) if dfd_model else None
    lp = Lpips(lpips_net) if lpips_net else None
    if lp is not None and not lp.available:
        log.warning("LPIPS IS NOT COMPUTED (lpips column null): %s", lp.reason)
    groups = {"pixel": f"pixel-v{METRICS_VERSION}:upscale-{UPSCALE_FILTER.name.lower()}"}
    if dfd:
        groups["dfd"] = dfd.id
    if lp is not None and lp.available:
        groups["lpips"] = lp.id

    rows = []
    ref_cache: dict = {}
    progress = _Progress(len(variants), f"measure {stats.encoder} variants")

    def reference(img):
        use_torch(threads)  # only once something must be computed
        if img["image_id"] not in ref_cache:
            ref_cache.clear()  # variants come grouped by image: keep one reference at a time
            src, _ = load_source(pathlib.Path(img["source_path"]), limits)
            arr = np.asarray(src)
            ref_cache[img["image_id"]] = {
                "pil": src,
                "ref": Reference(arr),
                "dfd": dfd.features([src]) if dfd else None,
                "lpips": lp.tensor(arr) if "lpips" in groups else None,
            }
        return ref_cache[img["image_id"]]

    for n, v in enumerate(variants):
        img = images[v["image_id"]]
        row = {
            k: v[k]
            for k in ("dataset", "image_id", "encoder", "scale", "color", "param", "artifact_sha256", "source_sha256")
        }
        row.update(status="ok", error=None, lpips=None, dfd=None)
        values, computed = {}, False
        try:
            decoded = None
            for group, gid in groups.items():
                key = make_key(
                    "metric",
                    group=gid,
                    artifact=v["artifact_sha256"],
                    source=v["source_sha256"],
                    normalization=NORMALIZATION_VERSION,
                )
                entry = cache.get("metric", key)
                if entry is not None:
                    values.update(json.loads(entry.data))
                    continue
                if decoded is None:
                    decoded = to_source_geometry(_artifact_image(cache, v), (img["width"], img["height"]))
                ref = reference(img)
                if group == "pixel":
                    result = pixel_metrics(ref["ref"], np.asarray(decoded))
                elif group == "dfd":
                    result = {"dfd": dfd.distance(ref["dfd"], [decoded])[0]}
                else:
                    result = {"lpips": lp(ref["lpips"], np.asarray(decoded))}
                cache.put("metric", key, json.dumps(result, sort_keys=True).encode(), {"group": gid})
                values.update(result)
                computed = True
        except (CacheWriteError, CacheCorruptError):
            raise
        except Exception as exc:
            stats.failed += 1
            row.update(status="error", error=f"{type(exc).__name__}: {exc}")
            log.warning("measure %s %s: %s", v["image_id"], v["artifact_sha256"][:12], row["error"])
        row.update(values)
        rows.append(row)
        if row["status"] == "ok":
            stats.computed += computed
            stats.served += not computed
        progress(n + 1)
    stats.items = len(rows)
    cache.close()  # seal the job's pack before its output exists
    records.write(rows, records.METRICS, out)
    stats.finish(cache, stats_out)
    return stats


def setup_logging(path) -> None:
    """Send the package's log to a job's log file (and stderr), one format everywhere."""
    handlers = [logging.StreamHandler()]
    if path:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
