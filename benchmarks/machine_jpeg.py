"""jpeg_mo against JPEG on the default photographs, held-out images only; prints numbers.

    python benchmarks/machine_jpeg.py [--buckets 4] [--scales 1 0.5] [--model efficientnet_lite0]

Calibrates on the images of bucket 0 (the workflow's split rule), times the sensitivity
computation, encodes the held-out images with jpeg, jpeg_opt, jpeg444 and jpeg_mo at the
study's JPEG qualities (RGB), classifies every variant, and prints per encoder the mean bpp,
top-1 agreement with the original, mean true-class probability (of the original's top-1) and
PSNR per quality, then the BD-rate of each against jpeg (codecsweep.report.sample.bd_rate_saving)
at equal agreement, at equal true-class probability, and at equal PSNR.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import time

import numpy as np
from PIL import Image

QUALITIES = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 25, 30, 40, 50]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buckets", type=int, default=4)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0])
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from codecsweep import sensitivity
    from codecsweep.codecs import get_encoder
    from codecsweep.metrics import Reference, pixel_metrics
    from codecsweep.models import load_model, logits, preprocess, softmax
    from codecsweep.report import sample as analysis
    from codecsweep.storage.images import prepare
    from codecsweep.study.datasets import DEFAULT_SOURCES

    torch.set_num_threads(args.threads)
    photos = {}
    for name, (package, rel) in DEFAULT_SOURCES.items():
        path = pathlib.Path(importlib.util.find_spec(package).origin).parent / rel
        photos[name] = Image.open(path).convert("RGB")
    calib = sorted(n for n in photos if sensitivity.is_calibration(n, args.buckets))
    held = sorted(n for n in photos if n not in calib)
    print(f"calibration (bucket 0 of {args.buckets}): {calib}; held out: {held}")
    model = load_model(args.model)
    t0 = time.perf_counter()
    sens = sensitivity.calibrate([np.asarray(photos[n]) for n in calib], [None] * len(calib), model)
    seconds = time.perf_counter() - t0
    print(f"sensitivity: {len(calib)} images on {model.device}, {args.threads} threads: {seconds:.1f} s")
    for c in sensitivity.CHANNELS:
        print(c, "\n", np.array2string(np.array(sens[c]) * 1000, precision=2, suppress_small=True))
    mo = get_encoder("jpeg_mo")
    mo.use_map({"key": "benchmark", "sensitivity": sens, "map_sha256": sensitivity.map_sha256(sens)})
    print("jpeg_mo tables at q=20:\n", np.array(mo.qtables(20, False)).reshape(3, 8, 8))

    def top(im):
        s = logits(model, preprocess(model.spec, im)[None])[0]
        return s

    curves = {}
    for enc_name in ("jpeg", "jpeg_opt", "jpeg444", "jpeg_mo"):
        enc = get_encoder(enc_name)
        rows = []
        for name in held:
            src = photos[name]
            ref_scores = top(src)
            label = int(np.argmax(ref_scores))
            ref = Reference(np.asarray(src))
            for scale in args.scales:
                im = prepare(src, scale, "rgb")
                for q in QUALITIES:
                    data = enc.encode(im, str(q))
                    dec = enc.decode(data).convert("RGB")
                    s = top(dec)
                    full = dec if dec.size == src.size else dec.resize(src.size, Image.Resampling.BICUBIC)
                    rows.append(
                        (
                            q,
                            len(data) * 8 / (src.width * src.height),
                            float(np.argmax(s) == label),
                            float(softmax(s)[label]),
                            pixel_metrics(ref, np.asarray(full))["psnr"],
                        )
                    )
        a = np.array(rows)
        per_q = np.array([a[a[:, 0] == q].mean(axis=0) for q in QUALITIES])
        curves[enc_name] = per_q
        print(f"\n{enc_name}: q, mean bpp, top-1 agreement, true-class prob, PSNR")
        for r in per_q:
            print(f"  {int(r[0]):3d} {r[1]:7.3f} {r[2]:6.3f} {r[3]:6.3f} {r[4]:6.2f}")
    ref = curves["jpeg"]
    print("\nBD-rate vs jpeg (negative: fewer bits), at equal: agreement, true-class prob, PSNR")
    for enc_name, c in curves.items():
        if enc_name == "jpeg":
            continue
        values = [analysis.bd_rate_saving(ref[:, 1], ref[:, k], c[:, 1], c[:, k]) for k in (2, 3, 4)]
        print(f"  {enc_name:9s}", "  ".join("n/a" if v is None else f"{100 * v:+.1f}%" for v in values))


if __name__ == "__main__":
    main()
