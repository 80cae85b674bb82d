"""Throughput of the torch pixel kernel and of the classifier on the device found, printed.

    python benchmarks/gpu_benchmark.py [--quick] [--size 1024x768] [--variants 64]
                                       [--batch-sizes 1 8 32] [--model efficientnet_lite0]

The device: CUDA when torch sees one, else the CPU (the output says which). Prints:
- pixel metrics (PSNR, SSIM, MS-SSIM, PSNR-Y, SSIM-Y) in variants/s: the torch kernel
  (``metrics.pixel_torch``, the source prepared once with ``TorchReference``, the variants
  copied to the device inside the timing) at each batch size, next to the CPU kernel
  (``metrics.pixel``, one variant at a time, the source prepared once);
- classification in img/s: ``models.load_model`` and ``forward`` with the model's
  preprocessing (``models.preprocess`` of each PIL image) included, at each batch size.
Each figure is the best of ``--repeat`` timed runs after one warm-up. ``--quick``: a small
image, few variants and small batches (well under a minute on two CPU cores).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import skimage.data
import torch
from PIL import Image

from codecsweep import models
from codecsweep.metrics.pixel import Reference, pixel_metrics
from codecsweep.metrics.pixel_torch import TorchReference, as_batch, pixel_metrics_torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best(fn, repeat: int, device: torch.device) -> float:
    fn()  # warm-up
    _sync(device)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def images(width: int, height: int, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A photo (scikit-image's coffee at width x height) and n noisy variants of it."""
    src = np.asarray(Image.fromarray(skimage.data.coffee()).resize((width, height), Image.Resampling.LANCZOS))
    rng = np.random.default_rng(0)
    noise = [np.clip(src + rng.normal(0, 2 + i % 20, src.shape), 0, 255).astype(np.uint8) for i in range(n)]
    return src, noise


def metric_throughput(src, variants, batch_sizes, repeat, device) -> None:
    ref = TorchReference(src, device)
    for b in batch_sizes:
        chunk = variants[:b]
        sec = _best(lambda c=chunk: pixel_metrics_torch(ref, as_batch(c, device)), repeat, device)
        print(f"  torch kernel on {device.type}, batch {b:4d}: {len(chunk) / sec:9.1f} variants/s")
    cpu_ref = Reference(src)
    few = variants[: max(1, min(4, len(variants)))]
    sec = _best(lambda: [pixel_metrics(cpu_ref, v) for v in few], repeat, torch.device("cpu"))
    print(f"  CPU kernel (numpy), one at a time : {len(few) / sec:9.1f} variants/s")


def classify_throughput(name, variants, batch_sizes, repeat, device) -> None:
    model = models.load_model(name, device.type if device.type == "cpu" else str(device))
    pil = [Image.fromarray(v) for v in variants]

    def run(batch):
        x = np.stack([models.preprocess(model.spec, im) for im in batch])
        return models.forward(model, x)[0]

    for b in batch_sizes:
        batch = (pil * (b // len(pil) + 1))[:b]
        sec = _best(lambda bb=batch: run(bb), repeat, device)
        print(f"  {name} on {device.type}, batch {b:4d} (preprocessing included): {b / sec:8.1f} img/s")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: under a minute on a CPU")
    p.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT of the images")
    p.add_argument("--variants", type=int, default=64)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.variants, args.batch_sizes, args.repeat = "320x240", 8, [1, 4, 8], 1
    width, height = (int(s) for s in args.size.split("x"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "no CUDA device found"
    print(f"device: {device.type} ({where}); torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    src, variants = images(width, height, args.variants)
    print(f"pixel metrics, {width}x{height}:")
    metric_throughput(src, variants, [b for b in args.batch_sizes if b <= len(variants)], args.repeat, device)
    print(f"classification, {width}x{height} sources:")
    classify_throughput(args.model, variants, args.batch_sizes, args.repeat, device)


if __name__ == "__main__":
    main()
