"""Throughput of the expensive parts, printed as numbers (no assertions).

    python benchmarks/benchmark.py [--models efficientnet_lite0 ...] [--batch 32] [--device cpu|cuda]

Prints, on this machine: images/s of each classifier (preprocessed batches, fp32 and the
reduced-precision variants), of dfd and LPIPS (when its backbone is in the torch cache),
milliseconds per variant of each encoder at full scale on a 512x512 photo (the learned
codecs at every quality level, on --learned-device; --learned-only times just those), and
milliseconds per variant of the pixel metrics (one core, peak memory, before/after and accuracy:
benchmarks/metrics_benchmark.py). torch uses all cores unless --threads.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _rate(fn, n_items: int, min_seconds: float = 2.0) -> float:
    fn()  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        done += n_items
    return done / (time.perf_counter() - start)


def _stand_in_lpips(device: str):
    """LPIPS-alex whose backbone file is a randomly initialized AlexNet, in a temporary TORCH_HOME."""
    import os
    import tempfile

    import torch
    import torchvision

    from codecsweep import metrics, models

    os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="codecsweep-bench-")
    path = models.weights_path(models.get_spec("alexnet"))
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return metrics.Lpips("alex", device=device)


def main() -> None:
    import skimage.data
    import torch
    from PIL import Image

    from codecsweep import metrics, models
    from codecsweep.codecs import ENCODERS

    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--models",
        nargs="*",
        default=["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "efficientnet_lite0_bf16"],
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--learned",
        nargs="*",
        default=["cai_bmshj2018_factorized_mse", "cai_mbt2018_mean_mse"],
        help="learned codecs to time (encode on --learned-device)",
    )
    parser.add_argument("--learned-device", default="cpu", help="cpu (the default of the workflow) or cuda")
    parser.add_argument("--learned-only", action="store_true", help="time only the learned codecs")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    photo = Image.fromarray(skimage.data.astronaut())
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device_name}; torch {torch.__version__}")
    if args.learned_only:
        return _learned(photo, args.learned, args.learned_device)

    for name in args.models:
        try:
            model = models.load_model(name, args.device)
        except models.MissingWeights as exc:
            print(f"classify {name:28s} skipped: {exc}")
            continue
        for size in sorted({1, 4, 8, 32, args.batch}):
            batch = np.stack([models.preprocess(model.spec, photo)] * size)
            rate = _rate(lambda m=model, b=batch: models.logits(m, b), size)
            print(f"classify {name:28s} {rate:8.1f} images/s = {1000 / rate:6.1f} ms/image (batch {size})")

    model = models.load_model("efficientnet_lite0", args.device)
    batch = np.stack([models.preprocess(model.spec, photo)] * 4)
    plain = _rate(lambda: models.forward(model, batch), 4)
    tapped = _rate(lambda: models.forward(model, batch, with_taps=True), 4)
    print(f"dfd      features from the classifying pass: {1000 / tapped - 1000 / plain:+6.2f} ms/image over classify")
    lp = metrics.Lpips("alex", device=args.device)
    note = ""
    if not lp.available:  # time it anyway: same network, random weights (speed does not depend on them)
        note = "  [no AlexNet weights here: timed with a randomly initialized stand-in]"
        lp = _stand_in_lpips(args.device)
    a = np.asarray(photo)
    t = lp.tensor(a)
    print(f"lpips    alex                         {_rate(lambda: lp(t, a), 1):8.1f} pairs/s (512x512){note}")

    arr = np.asarray(photo)
    noisy = np.clip(arr + np.random.default_rng(0).normal(0, 8, arr.shape), 0, 255).astype(np.uint8)
    ref_px = metrics.Reference(arr)
    print(
        f"pixel metrics (psnr, ssim, ms-ssim, y)   {1000 / _rate(lambda: metrics.pixel_metrics(ref_px, noisy), 1):8.1f} ms/variant (512x512)"
    )
    params = {"jpeg": "20", "jpeg2000": "50,40", "hevc": "40", "webp": "30", "avif": "30", "jpegxl": "30"}
    for enc_name, enc in ENCODERS.items():
        if enc_name not in params:
            continue
        data = enc.encode(photo, params[enc_name])
        enc_ms = 1000 / _rate(lambda e=enc, p=params[enc_name]: e.encode(photo, p), 1, 1.0)
        dec_ms = 1000 / _rate(lambda e=enc, d=data: e.decode(d), 1, 1.0)
        print(
            f"encode   {enc_name:10s} q={params[enc_name]:6s}          {enc_ms:8.1f} ms, decode {dec_ms:6.1f} ms "
            f"(512x512 RGB, {len(data)} bytes)"
        )
    _learned(photo, args.learned, args.learned_device)


def _learned(photo, names: list[str], device: str) -> None:
    """ms per variant of the learned codecs (512x512 RGB), one line per quality level.

    Without the real weights in the torch cache, a temporary TORCH_HOME gets randomly
    initialized stand-ins under CompressAI's file names: the same networks, so the same
    time (the byte counts are meaningless then)."""
    import os
    import tempfile

    import torch

    from codecsweep import models
    from codecsweep.codecs import get_encoder, learned

    os.environ[learned.DEVICE_ENV] = device
    for name in names:
        enc = get_encoder(name)
        note = ""
        try:
            enc.check_weights()
        except models.MissingWeights:
            from compressai.zoo.image import cfgs, model_architectures

            note = "  [stand-in weights]"
            os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="codecsweep-bench-")
            for q, path in enc.weight_paths().items():
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save(model_architectures[enc.architecture](*cfgs[enc.architecture][q]).state_dict(), path)
        for q in enc.qualities():
            data = enc.encode(photo, str(q))
            enc_ms = 1000 / _rate(lambda e=enc, p=str(q): e.encode(photo, p), 1, 1.0)
            dec_ms = 1000 / _rate(lambda e=enc, d=data: e.decode(d), 1, 1.0)
            print(
                f"encode   {name:32s} q={q}  {enc_ms:8.1f} ms, decode {dec_ms:8.1f} ms "
                f"(512x512 RGB, {len(data)} bytes, {device}){note}"
            )


if __name__ == "__main__":
    main()
