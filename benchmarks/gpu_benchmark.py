"""Classification and pixel-metric throughput on the device found, the study's CPU and GPU cost
per variant, the projected time of the 21.6 M-variant study, and (``--study``) the default
study's cold wall time with and without CUDA. Numbers only, no assertions.

    python benchmarks/gpu_benchmark.py [--quick] [--study] [--json OUT] [--size 500x375]
                                       [--batch-sizes ...] [--metric-batch-sizes ...] [--cores N]

On the GPU machine (one H200, 16 cores), one command, about 5 minutes:

    PYTHONUNBUFFERED=1 python benchmarks/gpu_benchmark.py --study --json gpu_benchmark.json

The device: CUDA when torch sees one, else the CPU (the first line says which). Prints:
- classification in img/s, decode and preprocessing included (JPEG bytes of the photo at a few
  qualities in; host logits out), for EfficientNet-Lite0 (its weights) and ResNet-50
  (``resnet50(weights=None)``: stand-in weights, the same cost), at each batch size, by path:
  ``pil+numpy`` (PIL decode and the reference preprocessing, numpy for Lite0 and torchvision's
  PIL transforms for ResNet-50, in a pool of ``--workers`` threads, pinned batches),
  ``pil+torch`` (PIL decode in the pool, the same transform in torch on the device: the study's
  CUDA path for Lite0, ``pipeline.feed``), ``tvjpeg+torch`` (``torchvision.io.decode_jpeg`` on
  the device: nvjpeg on CUDA), and ``model only`` (input ready on the device); the study's
  path is marked; on CUDA also the GPU-ms per image (CUDA events) of the forward pass and of
  the transform, and extra lines with channels_last and autocast bf16/fp16 (flagged: not the
  study's precision), end to end and model only;
- pixel metrics in variants/s: the torch kernel (``metrics.pixel_torch``) batched, next to the
  CPU kernel (``metrics.pixel``, one variant at a time); on CUDA the GPU-ms per variant;
- the CPU side in core-ms per variant, per step (process CPU time): the study's JPEG decode,
  the resize back to the source, the pixel metrics (numpy on a CPU; the torch kernel one variant
  at a time on CUDA, as the study calls it), the model's preprocessing (numpy on a CPU; on CUDA,
  for Lite0, pinned pixels and the transform launched on the device, as ``pipeline.feed``),
  and on a CPU the forward pass (torch eager, one thread, batches of 4) too;
- the projection: hours for 21.6 M variants on one machine with ``--cores`` cores and one GPU,
  max(N x CPU-ms / cores, N x GPU-ms) / 3.6e6 (GPU-ms: Lite0's fp32 forward pass at the config's
  ``batch_size.cuda``, 128 when that is not a number, and its transform on the device, plus
  the pixel metrics at the largest batch), against 24 h, from the microbenchmarks and from
  each study run;
- ``--study`` (off by default): the default study cold, twice, each in a fresh temporary project
  (``study_benchmark.make_project``), with all cores: once with CUDA visible, once with
  ``CUDA_VISIBLE_DEVICES=`` (CPU only); both walls and their ratio (target <= 0.25), the CPU
  time of Snakemake and its jobs per variant (exact, from rusage; per stage from the jobs'
  benchmark files, sampled by Snakemake: a lower bound) and the projection from it;
- the targets (Lite0 >= 10,000 img/s, CPU side <= 40 core-ms per variant, <= 24 h, <= 0.25x),
  met or missed; without CUDA "measured on CPU only — the GPU figures are missing" and the
  targets (set for one H200 + 16 cores) are not judged.
``--json OUT`` writes every figure to OUT as well (rewritten after each section and study run,
so a run cut short keeps what it measured). ``--quick``: small images, few variants and batches,
one torch thread, no study (about 20 s on two CPU cores). A path that fails (nvjpeg missing, out
of memory) prints one line and the rest goes on.
"""

from __future__ import annotations

import os

_ENV = dict(os.environ)  # the environment the study's Snakemake runs get
if __name__ == "__main__":
    # Before numpy loads: one BLAS thread per decode/preprocess thread (as in the study's jobs).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import collections  # noqa: E402
import concurrent.futures  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from codecsweep import models  # noqa: E402
from codecsweep.codecs import get_encoder  # noqa: E402
from codecsweep.metrics.pixel import Reference, pixel_metrics  # noqa: E402
from codecsweep.metrics.pixel_torch import TorchReference, as_batch, pixel_metrics_torch  # noqa: E402
from codecsweep.models.families import family_of  # noqa: E402
from codecsweep.storage.images import prepare, to_source_geometry  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
STUDY_VARIANTS = 21.6e6  # ImageNet validation (50,000 images) x the 432 variants of the Rennes grid
TARGETS = {"lite0_img_s": 10_000, "cpu_core_ms": 40.0, "hours": 24.0, "study_ratio": 0.25}
#: Where the GPU-ms per image is read when the config's ``batch_size.cuda`` is not a number measured.
STUDY_CUDA_BATCH = 128
#: The stages whose jobs' CPU time grows with the variants (per image: classify's originals).
VARIANT_STAGES = ("encode", "analyze", "classify")
SCALES, COLORS, QUALITIES = (1, 0.5, 0.25, 0.125), ("rgb", "gray"), (5, 10, 20, 30, 50, 75, 90)


def say(line: str = "") -> None:
    print(line, flush=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best(fn, repeat: int, device: torch.device) -> float:
    """Best wall seconds of ``repeat`` runs of ``fn`` after one warm-up."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def _gpu_ms(fn, repeat: int) -> float:
    """Best GPU milliseconds (CUDA events on the current stream) of ``fn``, after one warm-up. A
    sync inside ``fn`` (``.tolist()``) leaves the GPU idle for a while: counted, an upper bound."""
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = float("inf")
    for _ in range(repeat):
        start.record()
        fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end))
    return best


# -- inputs -------------------------------------------------------------------------------
def photo(width: int, height: int) -> Image.Image:
    """scikit-image's coffee photo at width x height."""
    return Image.fromarray(skimage.data.coffee()).resize((width, height), Image.Resampling.LANCZOS)


def jpeg_variants(src: Image.Image, scales, colors, qualities) -> list[bytes]:
    """The study's JPEG variants of ``src`` (``prepare`` then the ``jpeg`` encoder): file bytes."""
    enc = get_encoder("jpeg")
    return [enc.encode(prepare(src, s, c), str(q)) for s in scales for c in colors for q in qualities]


def decoded_at_source(src: Image.Image, jpegs: list[bytes], n: int) -> list[np.ndarray]:
    """n decoded variants brought back to the source's size (cycling through ``jpegs``)."""
    enc = get_encoder("jpeg")
    distinct = [np.asarray(to_source_geometry(enc.decode(d), src.size)) for d in jpegs[:n]]
    return [distinct[i % len(distinct)] for i in range(n)]


# -- pixel metrics --------------------------------------------------------------------------
def metric_throughput(src: np.ndarray, variants, batch_sizes, repeat, device) -> dict:
    """variants/s of the torch kernel at each batch size and of the CPU kernel; on CUDA the
    GPU-ms per variant (the copy to the device included)."""
    out: dict = {"torch": {}, "gpu_ms_per_variant": {}}
    ref = TorchReference(src, device)
    for b in batch_sizes:
        chunk = variants[:b]

        def run(c=chunk):
            return pixel_metrics_torch(ref, as_batch(c, device))

        rate = len(chunk) / _best(run, repeat, device)
        out["torch"][str(b)] = rate
        line = f"  torch kernel on {device.type}, batch {b:4d}: {rate:9.1f} variants/s"
        if device.type == "cuda":
            ms = _gpu_ms(run, repeat) / len(chunk)
            out["gpu_ms_per_variant"][str(b)] = ms
            line += f"  {ms:7.3f} GPU-ms per variant"
        say(line)
    cpu_ref = Reference(src)
    few = variants[: max(1, min(4, len(variants)))]
    out["cpu_numpy"] = len(few) / _best(lambda: [pixel_metrics(cpu_ref, v) for v in few], repeat, torch.device("cpu"))
    say(f"  CPU kernel (numpy), one at a time : {out['cpu_numpy']:9.1f} variants/s (one core)")
    return out


# -- the CPU side of a variant -------------------------------------------------------------------
def torch_preprocess(spec) -> bool:
    """Whether the study runs this model's transform in torch on a GPU (``ModelFamily.torch_preprocess``;
    False for a family without the attribute)."""
    return bool(getattr(family_of(spec), "torch_preprocess", False))


def _device_input(spec, image: Image.Image, device: torch.device):
    """One decoded image as the study's CUDA path feeds it: its pixels pinned, copied without
    blocking, the model's transform on the device (``families.model_input``)."""
    pixels = torch.from_numpy(np.array(image.convert("RGB"))).pin_memory()
    x = pixels.to(device, non_blocking=True).permute(2, 0, 1)[None].float()
    return family_of(spec).model_input(spec, x)[0]


def cpu_side(src: Image.Image, jpegs: list[bytes], device: torch.device, loops: int) -> dict:
    """Core-ms per variant of each step the study's analyze job does on the CPU (process CPU
    time: all threads, spin-waits on the GPU included), over ``loops`` passes of ``jpegs``."""
    enc, lite = get_encoder("jpeg"), models.load_model("efficientnet_lite0", str(device))
    arr = np.asarray(src)
    if device.type == "cuda":
        tref = TorchReference(arr, device)
        measure, kernel = (lambda a: pixel_metrics_torch(tref, [a])), "torch kernel on CUDA, one at a time"
    else:
        ref = Reference(arr)
        measure, kernel = (lambda a: pixel_metrics(ref, a)), "numpy"
    on_device = device.type == "cuda" and torch_preprocess(lite.spec)
    if on_device:  # as pipeline.feed: the pixels pinned, the model's transform on the device
        prep, where = (lambda im: _device_input(lite.spec, im, device)), "torch on CUDA (pinned pixels)"
    else:
        prep, where = (lambda im: models.preprocess(lite.spec, im)), "numpy"
    steps: collections.Counter = collections.Counter()

    def timed(step, fn, *a):
        t0 = time.process_time()
        out = fn(*a)
        steps[step] += time.process_time() - t0
        return out

    xs = []
    for k in range(loops + 1):  # pass 0: warm-up, not counted
        for data in jpegs:
            im = timed("decode", enc.decode, data)
            at_source = timed("resize", lambda i=im: np.asarray(to_source_geometry(i, src.size)))
            timed("pixel", measure, at_source)
            xs.append(timed("preprocess", prep, im))
        if k == 0:
            steps.clear()
            xs.clear()
    if device.type == "cpu":  # no GPU: the forward pass (with the dfd taps) is CPU work too
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as the study's jobs: one thread each
        try:
            for i in range(0, len(xs), 4):
                timed("classify", models.forward, lite, np.stack(xs[i : i + 4]), True)
        finally:
            torch.set_num_threads(threads)
    n = loops * len(jpegs)
    per = {step: 1000 * s / n for step, s in steps.items()}
    total = sum(per.values())
    say(
        f"  {n} variants ({len(jpegs)} JPEG variants of the photo x {loops}); pixel metrics: {kernel}; preprocessing: {where}"
    )
    for step, ms in per.items():
        say(f"  {step:10s} {ms:7.2f} core-ms per variant")
    say(f"  {'total':10s} {total:7.2f} core-ms per variant (encoding, cache and Parquet not included)")
    return {
        "steps_core_ms": per,
        "core_ms_per_variant": total,
        "variants": n,
        "pixel_kernel": kernel,
        "preprocessing": where,
    }


# -- classification --------------------------------------------------------------------------
@dataclass
class Net:
    name: str
    label: str
    spec: models.ModelSpec
    module: torch.nn.Module

    def cpu_prep(self, image: Image.Image) -> np.ndarray:
        """The study's preprocessing (numpy for Lite0, torchvision transforms for ResNet-50)."""
        return family_of(self.spec).preprocess(self.spec, image)

    def dev_prep(self, x):
        """The same transform in torch on x's device: uint8 (N, 3, H, W) -> model input."""
        return family_of(self.spec).model_input(self.spec, x.float())


def load_nets(device: torch.device) -> list[Net]:
    import torchvision

    lite = models.load_model("efficientnet_lite0", str(device))
    resnet = torchvision.models.resnet50(weights=None).eval().to(device)
    return [
        Net("efficientnet_lite0", "Lite0 (its weights)", lite.spec, lite.module),
        Net("resnet50", "ResNet-50 (stand-in weights)", models.get_spec("resnet50"), resnet),
    ]


def _fill(fill, view: np.ndarray, items: list, lo: int, hi: int) -> None:
    for i in range(lo, hi):
        view[i] = fill(items[i])


class Feed:
    """Loads batches for the model: ``fill`` (one item -> one array) in the decode pool, into
    ``depth + 1`` reused (pinned on CUDA) buffers, or, without ``fill``, the items as they are."""

    def __init__(self, pool, workers: int, shape, dtype, batch: int, fill=None, depth: int = 2):
        self.pool, self.workers, self.fill, self.depth = pool, workers, fill, depth
        pin = torch.cuda.is_available()
        self.slots = [] if fill is None else [torch.empty((batch, *shape), dtype=dtype) for _ in range(depth + 1)]
        self.slots = [s.pin_memory() if pin else s for s in self.slots]

    def submit(self, k: int, items: list):
        if self.fill is None:
            return lambda: items
        buf = self.slots[k % len(self.slots)]
        view, n = buf.numpy(), len(items)
        step = math.ceil(n / self.workers)
        futures = [self.pool.submit(_fill, self.fill, view, items, lo, min(lo + step, n)) for lo in range(0, n, step)]

        def get():
            for f in futures:
                f.result()
            return buf[:n]

        return get

    def run(self, batches: list[list], infer) -> None:
        """Every batch through ``infer``, the next ``depth`` batches loading meanwhile."""
        pending = collections.deque(self.submit(k, batches[k]) for k in range(min(self.depth, len(batches))))
        for k in range(len(batches)):
            x = pending.popleft()()
            if k + self.depth < len(batches):  # its buffer held batch k - 1, already inferred
                pending.append(self.submit(k + self.depth, batches[k + self.depth]))
            infer(x)


def _infer(module, to_input, device: torch.device, amp=None):
    """batch -> host logits (float32): ``to_input`` (copy, device preprocessing) then the module."""

    def infer(x):
        ctx = torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext()
        with torch.inference_mode(), ctx:
            out = module(to_input(x))
        return out.float().cpu()

    return infer


def _paths(net: Net, device: torch.device, hw: tuple[int, int]) -> dict:
    """name -> (description, item kind, buffer shape and dtype, fill, to_input) of each way in."""
    enc = get_encoder("jpeg")
    s = net.spec.input_size

    def copy_in(x):
        return x.to(device, non_blocking=True)

    def decode_rgb(data):
        return np.asarray(enc.decode(data).convert("RGB"))

    def on_device(items):
        import torchvision.io as tio

        return torch.stack(tio.decode_jpeg(items, mode=tio.ImageReadMode.RGB, device=device))

    return {
        "pil+numpy": (
            "PIL decode + the reference preprocessing (numpy / PIL transforms) in the pool",
            "bytes",
            ((3, s, s), torch.float32),
            lambda data: net.cpu_prep(enc.decode(data)),
            copy_in,
        ),
        "pil+torch": (
            f"PIL decode in the pool, preprocessing in torch on {device.type}",
            "bytes",
            ((*hw, 3), torch.uint8),
            decode_rgb,
            lambda x: net.dev_prep(copy_in(x).permute(0, 3, 1, 2)),
        ),
        "tvjpeg+torch": (
            f"torchvision decode_jpeg on {device.type}{' (nvjpeg)' if device.type == 'cuda' else ''}, torch preprocessing",
            "tensor",
            None,
            None,
            lambda items: net.dev_prep(on_device(items)),
        ),
    }


def _batches(items: list, batch: int, n_images: int) -> list[list]:
    """At least two batches (the second loads while the first runs) and ``n_images`` images."""
    n = max(2, math.ceil(n_images / batch)) * batch
    flat = [items[i % len(items)] for i in range(n)]
    return [flat[i : i + batch] for i in range(0, n, batch)]


@dataclass
class Bench:
    """What every classification measurement shares: the device, the decode pool, the inputs."""

    device: torch.device
    pool: concurrent.futures.ThreadPoolExecutor
    workers: int
    repeat: int
    n_images: int
    jpegs: list[bytes]
    hw: tuple[int, int]

    def __post_init__(self):
        self.tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in self.jpegs]
        enc = get_encoder("jpeg")
        self.decoded = torch.stack([torch.from_numpy(np.array(enc.decode(d).convert("RGB"))) for d in self.jpegs])

    def end_to_end(self, net: Net, path: str, b: int, module=None, amp=None, channels_last=False) -> float:
        """img/s from JPEG bytes to host logits along ``path`` at batch b."""
        _desc, kind, buf, fill, to_input = _paths(net, self.device, self.hw)[path]
        feed = Feed(self.pool, self.workers, *(buf or (None, None)), batch=b, fill=fill)
        prep = (lambda x: to_input(x).contiguous(memory_format=torch.channels_last)) if channels_last else to_input
        infer = _infer(net.module if module is None else module, prep, self.device, amp)
        batches = _batches(self.jpegs if kind == "bytes" else self.tensors, b, self.n_images)
        return b * len(batches) / _best(lambda: feed.run(batches, infer), self.repeat, self.device)

    def model_only(self, net: Net, b: int, module=None, amp=None, channels_last=False) -> tuple[float, float | None]:
        """(img/s, GPU-ms per image or None) of the forward pass alone, its input ready on the device."""
        x = net.dev_prep(self.decoded[torch.arange(b) % len(self.decoded)].permute(0, 3, 1, 2).to(self.device))
        x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        module = net.module if module is None else module

        def forward():
            ctx = torch.autocast(self.device.type, dtype=amp) if amp else contextlib.nullcontext()
            with torch.inference_mode(), ctx:
                return module(x)

        rate = b / _best(forward, self.repeat, self.device)
        return rate, (_gpu_ms(forward, self.repeat) / b if self.device.type == "cuda" else None)

    def prep_gpu_ms(self, net: Net, b: int) -> float:
        """GPU-ms per image of the model's transform in torch on the device (pixels already there)."""
        pixels = self.decoded[torch.arange(b) % len(self.decoded)].permute(0, 3, 1, 2).to(self.device)

        def prep():
            with torch.inference_mode():
                return net.dev_prep(pixels)

        return _gpu_ms(prep, self.repeat) / b


def _attempt(what: str, errors: list, fn):
    """fn(), or None when it raises: one line saying why (recorded in ``errors``), and on."""
    try:
        return fn()
    except Exception as exc:
        errors.append(f"{what}: {type(exc).__name__}: {exc}")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # an out-of-memory batch leaves nothing behind for the next
        say(f"  {what}: failed ({type(exc).__name__}: {exc})")
        return None


def classify_net(bench: Bench, net: Net, batch_sizes) -> dict:
    """img/s of every path at every batch size, and of the model alone (on CUDA its GPU-ms per
    image). A path that fails (nvjpeg missing, out of memory) is one line, not the end."""
    out: dict = {"model_only": {}, "gpu_ms_per_image": {}, "errors": []}
    on_gpu = "pil+torch" if torch_preprocess(net.spec) else "pil+numpy"  # the study's path with CUDA
    for path, (desc, *_rest) in _paths(net, bench.device, bench.hw).items():
        if bench.device.type == "cuda" and path == on_gpu:
            desc += " <- the study's path on CUDA (pipeline.feed)"
        elif bench.device.type == "cpu" and path == "pil+numpy":
            desc += " <- the study's steps on a CPU (there inline, one thread per job)"
        out[path] = {}
        for b in batch_sizes:
            what = f"{net.label:28s} {path:12s} batch {b:4d}"
            rate = _attempt(what, out["errors"], lambda p=path, b=b: bench.end_to_end(net, p, b))
            if rate is not None:
                out[path][str(b)] = rate
                say(f"  {what}: {rate:9.1f} img/s  {desc}")
    for b in batch_sizes:
        what = f"{net.label:28s} {'model only':12s} batch {b:4d}"
        got = _attempt(what, out["errors"], lambda b=b: bench.model_only(net, b))
        if got is None:
            continue
        rate, ms = got
        out["model_only"][str(b)] = rate
        line = f"  {what}: {rate:9.1f} img/s  input ready on the {bench.device.type}"
        if ms is not None:
            out["gpu_ms_per_image"][str(b)] = ms
            line += f", {ms:.4f} GPU-ms per image (fp32)"
            prep = _attempt(f"{what} transform", out["errors"], lambda b=b: bench.prep_gpu_ms(net, b))
            if prep is not None:
                out.setdefault("gpu_ms_per_image_transform", {})[str(b)] = prep
                line += f"; the transform on the device {prep:.4f} GPU-ms per image"
        say(line)
    return out


def classify_extras(bench: Bench, net: Net, b: int, path: str, errors: list) -> dict:
    """channels_last and autocast bf16/fp16 at batch b (autocast: NOT the study's fp32): end to
    end along ``path``, and the model alone (img/s, GPU-ms per image)."""
    cl_module = copy.deepcopy(net.module).to(memory_format=torch.channels_last)
    variants = {
        "channels_last": (cl_module, None, True),
        "autocast_bf16": (net.module, torch.bfloat16, False),
        "autocast_fp16": (net.module, torch.float16, False),
        "channels_last+autocast_bf16": (cl_module, torch.bfloat16, True),
    }
    out = {}
    for name, (module, amp, cl) in variants.items():
        flag = "fp32, layout only" if amp is None else "NOT the study's precision"
        what = f"{net.label:28s} {name:27s} batch {b:4d}"
        got = _attempt(
            what,
            errors,
            lambda m=module, a=amp, c=cl: (bench.end_to_end(net, path, b, m, a, c), *bench.model_only(net, b, m, a, c)),
        )
        if got is None:
            continue
        rate, alone, ms = got
        out[name] = {"end_to_end": rate, "path": path, "model_only": alone, "gpu_ms_per_image": ms}
        gpu = "" if ms is None else f", {ms:.4f} GPU-ms per image"
        say(f"  {what}: {rate:9.1f} img/s end to end ({path}), model only {alone:9.1f} img/s{gpu} ({flag})")
    return out


def classification(src: Image.Image, batch_sizes, repeat, device, workers: int, n_images: int, extras: bool) -> dict:
    """Every net: ``classify_net``, and with ``extras`` the extra lines on its faster torch path."""
    jpegs = jpeg_variants(src, [1], ["rgb"], QUALITIES)
    out = {}
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        bench = Bench(device, pool, workers, repeat, n_images, jpegs, (src.height, src.width))
        for net in load_nets(device):
            out[net.name] = res = classify_net(bench, net, batch_sizes)
            if extras:
                b = max(batch_sizes)
                path = max(("pil+torch", "tvjpeg+torch"), key=lambda p: res[p].get(str(b), 0.0))
                short = dataclasses.replace(bench, repeat=min(repeat, 2), n_images=0)  # two batches each
                res["extras"] = classify_extras(short, net, b, path, res["errors"])
    return out


# -- projection -----------------------------------------------------------------------------
def study_cuda_batch(config_path: str) -> int:
    """The config's ``batch_size.cuda`` when it is a number, else ``STUDY_CUDA_BATCH``."""
    import yaml

    try:
        batch = yaml.safe_load(pathlib.Path(config_path).read_text())["batch_size"]["cuda"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return STUDY_CUDA_BATCH
    return batch if isinstance(batch, int) else STUDY_CUDA_BATCH


def gpu_ms_per_variant(results: dict, batch: int) -> dict | None:
    """GPU-ms per variant: Lite0's fp32 forward pass at ``batch`` (else the largest measured),
    its transform on the device when the study runs it there, plus the pixel metrics at the
    largest batch measured (the GPU kept busy: the study's one-at-a-time calls cost more);
    None without CUDA."""
    fwd = results.get("classification", {}).get("efficientnet_lite0", {}).get("gpu_ms_per_image", {})
    pix = results.get("metrics", {}).get("gpu_ms_per_variant", {})
    if not fwd or not pix:
        return None
    lite = results["classification"]["efficientnet_lite0"]
    b = str(batch) if str(batch) in fwd else max(fwd, key=int)
    parts = {"classify_fp32_batch" + b: fwd[b], "pixel_metrics_batch" + max(pix, key=int): pix[max(pix, key=int)]}
    transform = lite.get("gpu_ms_per_image_transform", {})
    if torch_preprocess(models.get_spec("efficientnet_lite0")) and b in transform:
        parts["transform_batch" + b] = transform[b]  # the study runs Lite0's transform on the device
    return {"parts": parts, "gpu_ms_per_variant": sum(parts.values())}


def projection(cpu_ms: float, gpu_ms: float | None, cores: int, label: str) -> dict:
    """Hours for the 21.6 M variants on one machine with ``cores`` cores and one GPU."""
    cpu_h = STUDY_VARIANTS * cpu_ms / cores / 3.6e6
    gpu_h = None if gpu_ms is None else STUDY_VARIANTS * gpu_ms / 3.6e6
    hours = max(cpu_h, gpu_h or 0.0)
    verdict = "meets" if hours <= TARGETS["hours"] else "misses"
    gpu_text = "GPU figures missing" if gpu_ms is None else f"GPU {gpu_ms:.3f} GPU-ms -> {gpu_h:.1f} h"
    say(
        f"  {label}: CPU {cpu_ms:.1f} core-ms / {cores} cores -> {cpu_h:.1f} h; {gpu_text}; "
        f"projected {hours:.1f} h for {STUDY_VARIANTS / 1e6:.1f} M variants ({verdict} {TARGETS['hours']:.0f} h)"
    )
    return {"cpu_ms": cpu_ms, "gpu_ms": gpu_ms, "cores": cores, "cpu_hours": cpu_h, "gpu_hours": gpu_h, "hours": hours}


# -- the default study, cold, with and without CUDA ---------------------------------------------
def _snakemake_runner():
    """study_benchmark.run_snakemake when it takes ``env``, else the same run with an env here."""
    from study_benchmark import run_snakemake

    if "env" in inspect.signature(run_snakemake).parameters:
        return lambda root, cores, env: run_snakemake(root, cores, env=env)

    def run(root: pathlib.Path, cores: int, env: dict) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "all"]
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode:
            raise RuntimeError(f"snakemake failed:\n{proc.stderr[-4000:]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    return run


def _stages(root: pathlib.Path) -> dict:
    """Per stage: jobs, job-s and CPU-s from Snakemake's benchmark files (``cpu_time``: sampled
    every 0.5 s, then every 30 s, so a lower bound; ``s`` where it is NA)."""
    stages: dict = {}
    for path in (root / "results/benchmarks").rglob("*.tsv"):
        head, values = path.read_text().splitlines()[:2]
        row = dict(zip(head.split("\t"), values.split("\t")))
        stage = path.relative_to(root / "results/benchmarks").with_suffix("").parts[0]
        st = stages.setdefault(stage, dict(jobs=0, s=0.0, cpu_s=0.0))
        st["jobs"] += 1
        st["s"] += float(row["s"])
        cpu = row.get("cpu_time", "NA")
        st["cpu_s"] += float(row["s"]) if cpu in ("NA", "-", "") else float(cpu)
    return stages


def _study_run(label: str, env: dict, cores: int, config: dict, run) -> dict:
    import duckdb
    from study_benchmark import make_project

    with tempfile.TemporaryDirectory(prefix="codecsweep-gpu-bench-") as tmp:
        root = pathlib.Path(tmp)
        make_project(root, config)
        wall, cpu = run(root, cores, env)
        q = f"SELECT count(*) FROM read_parquet('{root}/results/variants/**/*.parquet')"
        variants = duckdb.execute(q).fetchone()[0]
        stages = _stages(root)
    ms = 1000 * cpu / variants
    say(
        f"  {label:12s}: {wall:6.1f} s wall, {cpu:7.1f} CPU-s (Snakemake and jobs, rusage) = "
        f"{ms:6.1f} core-ms per variant ({variants} variants)"
    )
    for name, st in sorted(stages.items(), key=lambda kv: -kv[1]["cpu_s"]):
        say(
            f"    {name:22s} {st['jobs']:3d} jobs {st['s']:7.1f} job-s {st['cpu_s']:7.1f} CPU-s (sampled) = "
            f"{1000 * st['cpu_s'] / variants:6.1f} core-ms per variant"
        )
    per_variant = sum(st["cpu_s"] for name, st in stages.items() if name in VARIANT_STAGES) * 1000 / variants
    say(f"    {' + '.join(VARIANT_STAGES)}: {per_variant:.1f} core-ms per variant (sampled)")
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "variants": variants,
        "core_ms_per_variant": ms,
        "variant_stages_core_ms": per_variant,
        "stages": stages,
    }


def study(cores: int, config_path: str, cuda: bool, out: dict, save) -> dict:
    """The default study cold with CUDA visible (when there is one) and with CUDA_VISIBLE_DEVICES=;
    each run's figures go into ``out`` and ``save()`` is called after each."""
    import yaml

    if cuda:
        torch.cuda.empty_cache()  # what the microbenchmarks left cached: the study's jobs need the memory
    sys.path.insert(0, str(HERE))
    run = _snakemake_runner()
    config = yaml.safe_load(pathlib.Path(config_path).read_text())
    runs = [("with CUDA", dict(_ENV))] if cuda else []
    runs.append(("CPU only", dict(_ENV, CUDA_VISIBLE_DEVICES="")))
    if not cuda:
        say("  no CUDA device: the run with CUDA is skipped")
    out["cores"] = cores
    for label, env in runs:
        try:
            out[label] = _study_run(label, env, cores, config, run)
        except (Exception, SystemExit) as exc:  # run_snakemake raises SystemExit on a failed run
            say(f"  {label}: failed: {exc}")
            out[label] = {"error": str(exc)[-2000:]}
        save()
    gpu, cpu = out.get("with CUDA", {}), out.get("CPU only", {})
    if "wall_s" in gpu and "wall_s" in cpu:
        out["wall_ratio"] = ratio = gpu["wall_s"] / cpu["wall_s"]
        verdict = "meets" if ratio <= TARGETS["study_ratio"] else "misses"
        say(
            f"  cold wall with CUDA / CPU only: {gpu['wall_s']:.1f} / {cpu['wall_s']:.1f} = {ratio:.2f} ({verdict} <= 0.25)"
        )
    return out


# -- main -----------------------------------------------------------------------------------
def targets(results: dict, cuda: bool) -> dict:
    """Each target against its figure: name -> {value, target, meets}; ``meets`` is None (not
    judged) without CUDA, the targets being for one H200 + 16 cores."""
    lite = results.get("classification", {}).get("efficientnet_lite0", {})
    rates = {
        f"{p} batch {b}": r for p in ("pil+numpy", "pil+torch", "tvjpeg+torch") for b, r in lite.get(p, {}).items()
    }
    best = max(rates, key=rates.get) if rates else None
    proj, study_run = results.get("projection", {}), results.get("study", {}).get("with CUDA", {})
    micro, from_study = proj.get("microbenchmarks", {}), proj.get("study with CUDA", {})
    side = results.get("cpu_side", {}).get("core_ms_per_variant")
    checks = [  # (name, target key, value, higher is better, what)
        ("lite0_img_s", "lite0_img_s", rates.get(best), True, f"Lite0 img/s, decode and preprocessing in ({best})"),
        ("cpu_core_ms", "cpu_core_ms", side, False, "CPU side, core-ms per variant (microbenchmarks)"),
        (
            "cpu_core_ms_study",
            "cpu_core_ms",
            study_run.get("core_ms_per_variant"),
            False,
            "core-ms per variant (study)",
        ),
        (
            "hours",
            "hours",
            micro.get("hours"),
            False,
            f"hours for 21.6 M variants (microbenchmarks, {micro.get('cores')} cores)",
        ),
        ("hours_study", "hours", from_study.get("hours"), False, "hours for 21.6 M variants (study, every job)"),
        (
            "study_ratio",
            "study_ratio",
            results.get("study", {}).get("wall_ratio"),
            False,
            "study cold wall, CUDA / CPU only",
        ),
    ]
    if not cuda:
        say(
            "  measured on CPU only — the GPU figures are missing (the targets, for one H200 + 16 cores, are not judged)"
        )
    out = {}
    for name, key, value, higher, what in checks:
        if value is None:
            continue
        target = TARGETS[key]
        meets = None if not cuda else (value >= target if higher else value <= target)
        out[name] = {"value": value, "target": target, "meets": meets}
        verdict = {None: "not judged", True: "meets", False: "MISSES"}[meets]
        say(f"  {what}: {value:,.2f} ({'>=' if higher else '<='} {target:,}): {verdict}")
    return out


def parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, no study: under a minute on a CPU")
    p.add_argument("--study", action="store_true", help="the default study cold, with CUDA and CPU only")
    p.add_argument("--json", help="write every figure to this JSON file as well")
    p.add_argument("--size", default="500x375", help="WIDTHxHEIGHT of the photo (default: ImageNet-like)")
    p.add_argument("--variants", type=int, default=64, help="variants for the metric throughput")
    p.add_argument("--batch-sizes", type=int, nargs="+", help="classification (default 1 8 32; CUDA 128 256 512)")
    p.add_argument("--metric-batch-sizes", type=int, nargs="+", help="metrics (default 1 8 32; CUDA 1 16 64 256)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)), help="study and projection")
    p.add_argument("--workers", type=int, help="decode threads (default: --cores)")
    p.add_argument(
        "--threads", type=int, help="torch CPU threads (default: torch's; --quick: 1, steadier on a shared CPU)"
    )
    p.add_argument("--config", default=str(HERE.parent / "config/config.yaml"), help="the study's config")
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    args.batch_sizes = args.batch_sizes or ([128, 256, 512] if cuda else [1, 8, 32])
    args.metric_batch_sizes = args.metric_batch_sizes or ([1, 16, 64, 256] if cuda else [1, 8, 32])
    args.n_images, args.loops = (1536 if cuda else 32), 3
    if args.quick:
        args.size, args.variants, args.repeat, args.loops, args.n_images = "320x240", 8, 1, 1, 2
        args.batch_sizes, args.metric_batch_sizes, args.study = [1, 2], [1, 4, 8], False
        args.threads = args.threads or 1
    args.workers = args.workers or args.cores
    args.variants = max(args.variants, *args.metric_batch_sizes)
    return args


def projections(results: dict, cores: int, cuda: bool, batch: int) -> dict:
    """The 21.6 M-variant projection from the microbenchmarks and, after ``--study``, from each run."""
    gpu = gpu_ms_per_variant(results, batch)
    gpu_ms = gpu["gpu_ms_per_variant"] if gpu else None
    out: dict = {"gpu_ms": gpu}
    if not cuda:
        say("  measured on CPU only — the GPU figures are missing")
    elif gpu:
        say("  GPU-ms per variant: " + " + ".join(f"{k} {v:.4f}" for k, v in gpu["parts"].items()) + f" = {gpu_ms:.4f}")
    side = results.get("cpu_side", {}).get("core_ms_per_variant")
    if side is not None:
        out["microbenchmarks"] = projection(side, gpu_ms, cores, "microbenchmarks (analyze's CPU side, no encoding)")
    for label in ("with CUDA", "CPU only"):
        run = results.get("study", {}).get(label, {})
        if "core_ms_per_variant" in run:
            out[f"study {label}"] = projection(
                run["core_ms_per_variant"],
                gpu_ms if label == "with CUDA" else None,
                cores,
                f"default study {label} (every job, encoding included)",
            )
    return out


def _save(results: dict, path: str | None) -> None:
    if path:
        pathlib.Path(path).write_text(json.dumps(results, indent=1, sort_keys=True))


def _section(results: dict, key: str, title: str, fn, path: str | None) -> None:
    """One section: its title, its lines, its seconds; a failure is printed and recorded, not fatal."""
    say(title)
    t = time.perf_counter()
    try:
        results[key] = fn()
    except Exception as exc:
        traceback.print_exc()
        results.setdefault("errors", {})[key] = f"{type(exc).__name__}: {exc}"
    say(f"  ({time.perf_counter() - t:.1f} s)")
    _save(results, path)


def main(argv=None) -> dict:
    args = parse(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or threads)
    try:
        return run_all(args)
    finally:
        torch.set_num_threads(threads)


def run_all(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    width, height = (int(s) for s in args.size.split("x"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    where = torch.cuda.get_device_name(device) if cuda else "no CUDA device found"
    if cuda:
        tf32 = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
        where += f"; fp32 as torch's defaults: cudnn TF32 {tf32[0]}, matmul precision {tf32[1]}"
    say(
        f"device: {device.type} ({where}); torch {torch.__version__}, torch threads: {torch.get_num_threads()}, "
        f"{args.cores} cores, {args.workers} decode threads"
    )
    results: dict = {
        "device": {"type": device.type, "name": where, "torch": torch.__version__, "cuda": cuda},
        "cores": args.cores,
        "workers": args.workers,
        "size": [width, height],
        "targets": TARGETS,
    }
    src = photo(width, height)
    scales, qualities = (SCALES[:2], (10, 50)) if args.quick else (SCALES, QUALITIES)
    jpegs = jpeg_variants(src, scales, COLORS, qualities)
    _section(
        results,
        "metrics",
        f"pixel metrics, {width}x{height}, decoded JPEG variants:",
        lambda: metric_throughput(
            np.asarray(src), decoded_at_source(src, jpegs, args.variants), args.metric_batch_sizes, args.repeat, device
        ),
        args.json,
    )
    _section(results, "cpu_side", "CPU side of a variant:", lambda: cpu_side(src, jpegs, device, args.loops), args.json)
    _section(
        results,
        "classification",
        f"classification, {width}x{height} JPEGs in, host logits out, {args.workers} decode threads:",
        lambda: classification(src, args.batch_sizes, args.repeat, device, args.workers, args.n_images, cuda),
        args.json,
    )
    if args.study:
        title = f"default study, cold, {args.cores} cores, each in a fresh project:"
        partial = results["study"] = {}
        save = functools.partial(_save, results, args.json)
        _section(results, "study", title, lambda: study(args.cores, args.config, cuda, partial, save), args.json)
    _section(
        results,
        "projection",
        "projection:",
        lambda: projections(results, args.cores, cuda, study_cuda_batch(args.config)),
        args.json,
    )
    _section(results, "verdicts", "targets:", lambda: targets(results, cuda), args.json)
    say(f"total: {time.perf_counter() - start:.0f} s" + (f"; every figure in {args.json}" if args.json else ""))
    return results


if __name__ == "__main__":
    main()
