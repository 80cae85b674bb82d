"""Speed, memory and accuracy of the pixel metrics (PSNR, SSIM, MS-SSIM, PSNR-Y, SSIM-Y), printed.

    python benchmarks/metrics_benchmark.py [--sizes 12 48] [--before-sizes 12] [--repeat 30]

On one core (the BLAS and torch thread pools are set to 1 before they load):
- ms per variant of ``pixel_metrics`` on a 0.25 MP photo (512x512), with the source's moments
  kept by ``Reference`` and recomputed per band, and the one-off cost of ``Reference``;
- the same work done the way it was before the banded kernel (pytorch_msssim's ``ms_ssim`` and
  ``ssim`` on float32 tensors, luma and PSNR in float64), the "before" number;
- the largest deviation from scikit-image (SSIM, SSIM-Y) and pytorch_msssim (MS-SSIM) over
  photos of several sizes and noise levels;
- per size in megapixels (``--sizes``): ms per variant and the peak RSS of a fresh process that
  holds the source and the variant (uint8) and measures one variant (``resource.getrusage``),
  with the RSS of the inputs alone; ``--before-sizes`` does the same with the old way.
The timings take the fastest of ``--repeat`` runs: on a shared machine the others are noise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402


def _best_ms(fn, repeat: int) -> float:
    """CPU time of this (single-threaded) process: waiting for a core on a busy machine is not counted."""
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return 1000 * min(times)


def before(a: np.ndarray, b: np.ndarray) -> dict:
    """The five metrics as computed before the banded kernel (pytorch_msssim, float32 conv2d)."""
    import torch
    from pytorch_msssim import ms_ssim, ssim

    from codecsweep import metrics

    kw = {"data_range": 255, "win_size": 11, "win_sigma": 1.5, "K": (0.01, 0.03)}

    def t(x):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]

    ya, yb = metrics.luma(a), metrics.luma(b)
    ta, tb = t(a), t(b)
    return {
        "psnr": metrics.psnr(a, b),
        "ssim": float(ssim(ta, tb, **kw)),
        "ms_ssim": float(ms_ssim(ta, tb, **kw)) if min(a.shape[:2]) >= 161 else None,
        "psnr_y": metrics.psnr(ya, yb),
        "ssim_y": float(ssim(t(ya), t(yb), **kw)),
    }


def photo(width: int, height: int) -> np.ndarray:
    """A real photo (scikit-image's coffee) tiled to the size: no full-size temporaries."""
    import skimage.data

    tile = skimage.data.coffee()
    out = np.empty((height, width, 3), np.uint8)
    for r in range(0, height, tile.shape[0]):
        for c in range(0, width, tile.shape[1]):
            out[r : r + tile.shape[0], c : c + tile.shape[1]] = tile[: height - r, : width - c]
    return out


def variant_of(a: np.ndarray, sigma: float = 8, seed: int = 0) -> np.ndarray:
    """Gaussian noise added band by band (a full-size float64 noise array would dominate RSS)."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(a)
    for r in range(0, a.shape[0], 64):
        band = a[r : r + 64]
        noise = rng.normal(0, sigma, band.shape).astype(np.float32)
        out[r : r + 64] = np.clip(band + noise, 0, 255)
    return out


def _size(megapixels: float) -> tuple[int, int]:
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))  # 4:3, a camera's shape
    return width, int(round(width * 3 / 4))


def child(megapixels: float, way: str) -> None:
    """In a fresh process: peak RSS of one measurement; prints one JSON line."""
    import resource

    import torch  # a measure job has it loaded: count it in both ways
    from pytorch_msssim import ms_ssim  # noqa: F401

    from codecsweep import metrics

    torch.set_num_threads(1)
    a = photo(*_size(megapixels))
    b = variant_of(a)
    inputs_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()
    ref = metrics.Reference(a) if way == "after" else None
    reference_s, start = time.process_time() - start, time.process_time()
    values = metrics.pixel_metrics(ref, b) if way == "after" else before(a, b)
    seconds = time.process_time() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"inputs_mb": inputs_kb / 1024, "peak_mb": peak_kb / 1024, "s": seconds, "reference_s": reference_s}
    print(json.dumps(result | {"values": values}))


def accuracy() -> dict:
    """Largest |difference| from scikit-image (SSIM, SSIM-Y) and pytorch_msssim (MS-SSIM)."""
    from skimage.metrics import structural_similarity

    from codecsweep import metrics

    def sk(a, b, **kw):
        return structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, **kw
        )

    worst = {"ssim": 0.0, "ssim_y": 0.0, "ms_ssim": 0.0}
    for size in [(512, 512), (600, 400), (300, 241), (321, 161), (180, 43)]:
        src = photo(600, 400)
        from PIL import Image

        a = np.asarray(Image.fromarray(src).resize(size))
        for sigma in (1, 5, 20, 60):
            b = variant_of(a, sigma, seed=sigma)
            m = metrics.pixel_metrics(metrics.Reference(a), b)
            worst["ssim"] = max(worst["ssim"], abs(m["ssim"] - sk(a, b, channel_axis=2)))
            worst["ssim_y"] = max(worst["ssim_y"], abs(m["ssim_y"] - sk(metrics.luma(a), metrics.luma(b))))
            if m["ms_ssim"] is not None:
                worst["ms_ssim"] = max(worst["ms_ssim"], abs(m["ms_ssim"] - before(a, b)["ms_ssim"]))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="*", type=float, default=[12, 48], help="megapixels")
    parser.add_argument("--before-sizes", nargs="*", type=float, default=[12], help="megapixels, the old way")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(float(args.child[0]), args.child[1])
        return

    # first, while this process is small: Linux keeps the parent's peak RSS in a child's ru_maxrss
    print("pixel metrics (psnr, ssim, ms-ssim, psnr-y, ssim-y), one core, CPU time, fastest of", args.repeat)
    runs = [(mp, "after") for mp in args.sizes] + [(mp, "before") for mp in args.before_sizes]
    for mp, way in runs:
        cmd = [sys.executable, __file__, "--child", str(mp), way]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print(
            f"  {mp:4g} MP  {way:6s} {1000 * r['s']:9.0f} ms/variant (+ {1000 * r['reference_s']:.0f} ms once per source), "
            f"peak RSS {r['peak_mb']:5.0f} MB (the uint8 source and variant alone: {r['inputs_mb']:.0f} MB; "
            f"{(r['peak_mb'] - r['inputs_mb']) / mp:.1f} MB/MP more)"
        )

    import torch

    torch.set_num_threads(1)
    from codecsweep import metrics

    a = photo(512, 512)
    b = variant_of(a)
    ref = metrics.Reference(a)
    per_band = metrics.Reference(a, moments_budget=0)
    print(
        f"  0.25 MP  after, source moments kept        {_best_ms(lambda: metrics.pixel_metrics(ref, b), args.repeat):8.1f} ms/variant"
    )
    print(
        f"  0.25 MP  after, source moments per band    {_best_ms(lambda: metrics.pixel_metrics(per_band, b), args.repeat):8.1f} ms/variant"
    )
    print(f"  0.25 MP  Reference(source), once per image {_best_ms(lambda: metrics.Reference(a), args.repeat):8.1f} ms")
    print(f"  0.25 MP  before (pytorch_msssim)           {_best_ms(lambda: before(a, b), args.repeat):8.1f} ms/variant")
    worst = accuracy()
    print(
        "  max |difference|: SSIM {ssim:.1e}, SSIM-Y {ssim_y:.1e} (scikit-image); MS-SSIM {ms_ssim:.1e} (pytorch_msssim)".format(
            **worst
        )
    )


if __name__ == "__main__":
    main()
