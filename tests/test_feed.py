"""The GPU feed on the CPU, through the same code: decoding ahead in threads changes no result,
a variant that fails to decode is that variant's error only, the model's transform in torch is
the reference transform, and a device out of memory halves the batch instead of failing."""

import shutil
import threading
import time

import numpy as np
import pytest
import test_stages
import torch
from PIL import Image

from codecsweep.codecs import ENCODERS
from codecsweep.models import get_spec, preprocess, preprocess_on_device
from codecsweep.models.families import FAMILIES
from codecsweep.pipeline import analyze_shard, classify_originals_shard
from codecsweep.pipeline import classify as classify_module
from codecsweep.pipeline.classify import Classifier
from codecsweep.pipeline.feed import Feed, device_of, prefetched
from codecsweep.storage import records

LITE = "efficientnet_lite0"
study, encode = test_stages.study, test_stages.encode  # the fixture: two images, their table
#: What the GPU path does, on the CPU: decode ahead in 2 threads, transform in torch, metrics in batches.
CPU_FEED = Feed("cpu", prefetch=3, workers=2, torch_preprocess=True, batch_metrics=True)


# -- prefetched ------------------------------------------------------------------------------
def test_prefetched_keeps_order_reads_in_the_callers_thread_and_fails_items_alone():
    main, reads, ahead = threading.get_ident(), [], []
    consumed = []

    def read(n):
        assert threading.get_ident() == main  # the cache is only used from the job's thread
        if n == 3:
            raise OSError("unreadable")
        reads.append(n)
        ahead.append(len(reads) - len(consumed))
        return n * 10

    def decode(n, data):
        time.sleep(0.002 * (n % 3))  # out of order in the threads
        if n == 5:
            raise ValueError("broken stream")
        return data + 1

    out = []
    for item, value, exc in prefetched(range(8), read, decode, depth=3, workers=2):
        consumed.append(item)
        out.append((item, value, type(exc).__name__ if exc else None))
    assert out == [
        (0, 1, None),
        (1, 11, None),
        (2, 21, None),
        (3, None, "OSError"),
        (4, 41, None),
        (5, None, "ValueError"),
        (6, 61, None),
        (7, 71, None),
    ]
    assert max(ahead) <= 3  # never more than depth items taken up ahead of the caller


def test_prefetched_inline_is_the_same_stream():
    inline = list(prefetched(range(5), lambda n: n, lambda n, d: d * d))
    ahead = list(prefetched(range(5), lambda n: n, lambda n, d: d * d, depth=2, workers=2))
    assert inline == ahead == [(n, n * n, None) for n in range(5)]


# -- the analyze job with the feed --------------------------------------------------------------
def _analyze(study, tag, feed, runtime="torch", metric_options=None):
    images = study / "images.parquet"
    originals = {LITE: study / f"po{tag}.parquet"}
    cache = study / f"cache-{tag}"  # the encode job's cache (its artifacts), nothing else yet
    shutil.copytree(study / "cache", cache)
    classify_originals_shard(images, "d", 0, [LITE], cache, originals, study / f"so{tag}.parquet", batch_size=4)
    stats = analyze_shard(
        images,
        study / "v-jpeg.parquet",
        originals,
        "d",
        0,
        [LITE],
        cache,
        {LITE: study / f"pv{tag}.parquet"},
        study / f"m{tag}.parquet",
        study / f"sv{tag}.parquet",
        metric_options=metric_options or {"dfd_model": LITE, "lpips_net": None},
        batch_size=4,
        runtime=runtime,
        feed=feed,
    )
    rows = records.read(study / f"pv{tag}.parquet"), records.read(study / f"m{tag}.parquet")
    return rows, {(s.stage, s.model): s for s in stats}


def test_decoding_ahead_in_threads_changes_no_result(study):
    encode(study, "jpeg", ["10", "60"], scales=(1.0, 0.5, 0.125))
    (inline_p, inline_m), _ = _analyze(study, "a", Feed())
    (ahead_p, ahead_m), stats = _analyze(study, "b", Feed(prefetch=3, workers=2))
    assert stats["classify", LITE].computed == len(ahead_p) > 8  # computed again, not served
    assert ahead_p == inline_p and ahead_m == inline_m  # bit for bit
    assert {r["runtime"] for r in ahead_p} == {"torch"}


def test_a_variant_that_fails_to_decode_loses_nothing_else(study, monkeypatch):
    encode(study, "jpeg", ["10", "60"], scales=(1.0, 0.5, 0.125))
    (good_p, good_m), _ = _analyze(study, "a", Feed())
    bad = sorted(r["artifact_sha256"] for r in good_m)[2]
    real = ENCODERS["jpeg"].decode

    def decode(self, data):
        from codecsweep.core.hashing import sha256_bytes

        if sha256_bytes(data) == bad:
            raise OSError("image file is truncated")
        return real(self, data)

    monkeypatch.setattr(ENCODERS["jpeg"], "decode", decode)
    (pred, metrics), stats = _analyze(study, "b", CPU_FEED)
    failed = [r for r in metrics if r["status"] == "error"]
    assert [r["artifact_sha256"] for r in failed] == [bad] and "truncated" in failed[0]["error"]
    assert [r["artifact_sha256"] for r in pred if r["status"] == "error"] == [bad]
    assert stats["measure", None].failed == 1 and stats["classify", LITE].failed == 1
    ok = {r["artifact_sha256"]: r for r in pred if r["status"] == "ok"}
    assert len(ok) == len(good_p) - 1
    for ref in good_p:  # the rest as without the failure (the transform in torch: within 1e-4)
        if ref["artifact_sha256"] != bad:
            row = ok[ref["artifact_sha256"]]
            assert (row["top1"], row["true_rank"]) == (ref["top1"], ref["true_rank"])
            assert row["true_prob"] == pytest.approx(ref["true_prob"], abs=1e-4)


def test_the_gpu_feed_on_the_cpu_agrees_with_the_cpu_path(study):
    """The whole GPU path (decode ahead, transform in torch, torch pixel kernel) run on the
    CPU: the same predictions and metrics within the kernels' tolerances, under its own metric id."""
    encode(study, "jpeg", ["10", "60"], scales=(1.0, 0.5, 0.125))
    (ref_p, ref_m), _ = _analyze(study, "a", Feed())
    (gpu_p, gpu_m), stats = _analyze(study, "b", CPU_FEED, metric_options={"dfd_model": LITE, "pixel_kernel": "torch"})
    assert stats["measure", None].computed == len(gpu_m)  # the torch kernel's id: not served from numpy's
    for a, b in zip(ref_p, gpu_p, strict=True):
        assert (a["artifact_sha256"], a["top1"], a["true_rank"]) == (b["artifact_sha256"], b["top1"], b["true_rank"])
        assert a["true_prob"] == pytest.approx(b["true_prob"], abs=1e-4)
    for a, b in zip(ref_m, gpu_m, strict=True):
        for col in ("psnr", "ssim", "ms_ssim", "psnr_y", "ssim_y"):
            assert (a[col] is None) == (b[col] is None)
            if a[col] is not None:
                assert b[col] == pytest.approx(a[col], rel=1e-5, abs=3e-6), col
        assert b["dfd"] == pytest.approx(a["dfd"], rel=1e-4, abs=1e-6)


def test_a_metric_batch_that_fails_is_measured_one_variant_at_a_time(study, monkeypatch, caplog):
    from codecsweep.metrics.groups import PixelGroup

    encode(study, "jpeg", ["10", "60"], scales=(1.0, 0.5, 0.125))
    (_, inline), _ = _analyze(study, "a", Feed())
    monkeypatch.setattr(PixelGroup, "measure_batch", lambda *a: (_ for _ in ()).throw(MemoryError("device full")))
    (_, batched), stats = _analyze(study, "b", Feed(batch_metrics=True))
    assert batched == inline and stats["measure", None].failed == 0
    assert "measured one at a time (MemoryError: device full)" in caplog.text


def test_a_source_gone_since_ingest_fails_its_variants_only(study):
    encode(study, "jpeg", ["10", "60"], scales=(1.0, 0.5, 0.125))
    (study / "a.png").unlink()
    (_, metrics), stats = _analyze(study, "b", Feed(batch_metrics=True))
    status = {(r["image_id"], r["status"]) for r in metrics}
    assert status == {("a", "error"), ("tiny", "ok")}
    assert all("a.png" in r["error"] for r in metrics if r["image_id"] == "a")


# -- the transform in torch ----------------------------------------------------------------
@pytest.mark.parametrize("size", [(192, 128), (97, 61), (300, 301), (7, 7)])
def test_the_transform_in_torch_is_the_reference_transform(photo, size):
    spec = get_spec(LITE)
    image = photo.resize(size, Image.Resampling.BICUBIC)
    reference = preprocess(spec, image)
    on_device = preprocess_on_device(spec, torch.from_numpy(np.asarray(image).copy()), "cpu").numpy()
    assert on_device.shape == reference.shape == (3, spec.input_size, spec.input_size)
    assert np.abs(on_device - reference).max() < 1e-5


def test_only_families_whose_torch_transform_is_the_reference_run_it_on_the_device():
    assert FAMILIES["efficientnet_lite"].torch_preprocess and not FAMILIES["torchvision"].torch_preprocess
    assert Classifier(LITE, 4, 1, feed=CPU_FEED).on_device
    assert not Classifier(LITE, 4, 1, runtime="onnxruntime", feed=CPU_FEED).on_device  # ORT takes arrays


# -- out of memory ---------------------------------------------------------------------------
def test_out_of_memory_halves_the_batch_and_loses_nothing(photo, monkeypatch, caplog):
    inputs = [preprocess(get_spec(LITE), photo.rotate(angle)) for angle in range(0, 50, 10)]
    expected, _ = Classifier(LITE, 2, 1).run(inputs)
    real, shapes = classify_module.run_model, []

    def run_model(model, chunk, with_taps=False):
        shapes.append(len(chunk))
        if len(chunk) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, chunk, with_taps)

    monkeypatch.setattr(classify_module, "run_model", run_model)
    net = Classifier(LITE, 8, 1)
    logits, _ = net.run(inputs)
    assert shapes == [8, 4, 2, 2, 2] and net.batch == 2
    assert all(np.array_equal(a, b) for a, b in zip(logits, expected, strict=True))
    assert "batches of 4 from now on" in caplog.text and "batches of 2 from now on" in caplog.text


def test_other_errors_are_not_retried(photo, monkeypatch):
    monkeypatch.setattr(classify_module, "run_model", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad input")))
    with pytest.raises(ValueError, match="bad input"):
        Classifier(LITE, 8, 1).run([preprocess(get_spec(LITE), photo)])


# -- where a job runs ------------------------------------------------------------------------
def test_a_job_runs_on_cuda_only_with_a_torch_model_and_a_device(monkeypatch):
    from codecsweep.models import runtimes

    monkeypatch.setattr(runtimes, "cuda_available", lambda: True)
    assert device_of([LITE], "auto") == device_of([LITE], "torch") == "cuda"
    assert device_of([LITE], "onnxruntime") == "cpu"
    monkeypatch.setattr(runtimes, "cuda_available", lambda: False)
    assert device_of([LITE], "torch") == "cpu"
    assert Feed.for_device("cpu", 8) == Feed()  # the CPU path: inline, no threads
    gpu = Feed.for_device("cuda", 8, jobs_per_device=2)
    assert (gpu.prefetch, gpu.workers, gpu.pin_memory, gpu.torch_preprocess) == (None, 7, True, True)
