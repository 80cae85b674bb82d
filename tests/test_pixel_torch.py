"""The torch pixel kernel (``metrics.pixel_torch``) against the CPU kernel, scikit-image and
pytorch_msssim, on the CPU (and on CUDA against the CPU when a GPU is present)."""

import math

import numpy as np
import pytest

from codecsweep.metrics.groups import PixelGroup
from codecsweep.metrics.pixel import Reference, luma, pixel_metrics
from codecsweep.metrics.pixel_torch import KEYS, TorchReference, as_batch, pixel_metrics_torch
from tests.conftest import noisy

torch = pytest.importorskip("torch")
TOL = 1e-5
MAX_DIFF: dict[str, float] = {}  # reference -> largest difference seen (printed with -s)


def _random(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def cases(photo):
    """(name, source, variants): random and photo-like, odd sides, under 161 and under 11 px."""
    coffee = np.asarray(photo)
    out = []
    for name, src in [
        ("random-200x171", _random(200, 171)),
        ("random-64x33", _random(64, 33, 1)),
        ("random-9x20", _random(9, 20, 2)),
        ("photo-181x163", coffee[100:281, 200:363]),
        ("photo-128x192", np.asarray(photo.resize((192, 128)))),
        ("photo-10x40", coffee[:10, :40]),
    ]:
        src = np.ascontiguousarray(src)
        out.append((name, src, [noisy(src, 4, 1), noisy(src, 25, 2), src // 2 + 64, src.copy()]))
    return out


def _close(got, want, what, tol=TOL):
    if want is None or got is None:
        assert got is None and want is None, what
        return
    if math.isinf(want):
        assert got == want, what
        return
    d = abs(got - want)
    ref = what.split(":")[0]
    MAX_DIFF[ref] = max(MAX_DIFF.get(ref, 0.0), d)
    assert d <= tol, (what, got, want)


def test_equals_the_cpu_kernel(cases):
    for name, src, variants in cases:
        ref = Reference(src)
        for i, (got, v) in enumerate(zip(pixel_metrics_torch(src, variants, "cpu"), variants, strict=True)):
            want = pixel_metrics(ref, v)
            assert set(got) == set(want) == set(KEYS)
            for k in KEYS:
                _close(got[k], want[k], f"cpu-kernel:{name}:{i}:{k}")
            assert got["psnr"] == want["psnr"] and got["psnr_y"] == want["psnr_y"]  # both exact


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_equals_scikit_image(cases):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    kw = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}
    for name, src, variants in cases:
        got = pixel_metrics_torch(src, variants, "cpu")
        for i, (g, v) in enumerate(zip(got, variants, strict=True)):
            _close(g["psnr"], peak_signal_noise_ratio(src, v, data_range=255), f"skimage:{name}:{i}:psnr")
            ya, yb = luma(src), luma(v)
            _close(g["psnr_y"], peak_signal_noise_ratio(ya, yb, data_range=255), f"skimage:{name}:{i}:psnr_y")
            if min(src.shape[:2]) < 11:
                assert g["ssim"] is None and g["ssim_y"] is None
                continue
            _close(g["ssim"], structural_similarity(src, v, channel_axis=2, **kw), f"skimage:{name}:{i}:ssim")
            _close(g["ssim_y"], structural_similarity(ya, yb, **kw), f"skimage:{name}:{i}:ssim_y")


def test_equals_pytorch_msssim(cases):
    from pytorch_msssim import ms_ssim

    for name, src, variants in cases:
        got = pixel_metrics_torch(src, variants, "cpu")
        if min(src.shape[:2]) < 161:
            assert all(g["ms_ssim"] is None for g in got)
            continue
        x = as_batch(src).float().expand(len(variants), -1, -1, -1)
        want = ms_ssim(x, as_batch(variants).float(), data_range=255, size_average=False).tolist()
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g["ms_ssim"], w, f"pytorch_msssim:{name}:{i}:ms_ssim")


def test_identical_images():
    a = _random(170, 180, 5)
    (got,) = pixel_metrics_torch(a, [a], "cpu")
    assert got["psnr"] == got["psnr_y"] == math.inf
    for k in ("ssim", "ssim_y", "ms_ssim"):
        assert got[k] == pytest.approx(1.0, abs=1e-6)


def test_one_source_per_variant_chunks_and_no_moments():
    """N sources (one per variant), the variants split in chunks of one, and a reference that
    keeps no moments: the same values as one source broadcast."""
    srcs = [_random(165, 163, s) for s in range(3)]
    variants = [noisy(s, 10, i) for i, s in enumerate(srcs)]
    each = [pixel_metrics_torch(s, [v], "cpu")[0] for s, v in zip(srcs, variants, strict=True)]
    batched = pixel_metrics_torch(srcs, variants, "cpu", budget_bytes=1)
    plain = pixel_metrics_torch(TorchReference(srcs, "cpu", moments=False), variants)
    for a, b, c in zip(each, batched, plain, strict=True):
        for k in KEYS:
            assert b[k] == pytest.approx(a[k], abs=1e-6) and c[k] == pytest.approx(a[k], abs=1e-6)


def test_rejects_mismatched_shapes_and_non_uint8():
    a = _random(20, 20)
    with pytest.raises(ValueError):
        pixel_metrics_torch(a, [_random(20, 21)], "cpu")
    with pytest.raises(ValueError):
        pixel_metrics_torch([a, a], [a, a, a], "cpu")
    with pytest.raises(ValueError):
        as_batch(a.astype(np.float32))


def test_pixel_group_kernels():
    """The default group is the CPU kernel with the pinned id; a CUDA job's group is the torch
    kernel with its own id; the torch group (forced, on the CPU) gives the CPU group's values."""
    default = PixelGroup({})
    assert default.device is None and default.id == "pixel-v3:upscale-bicubic"
    assert PixelGroup({"device": "cpu"}).id == default.id
    assert PixelGroup({"device": "cuda:0"}).id == "pixel-v3:upscale-bicubic:torch-cuda"
    assert PixelGroup({"device": "cuda", "pixel_kernel": "cpu"}).id == default.id
    forced = PixelGroup({"pixel_kernel": "torch"})
    assert forced.id == "pixel-v3:upscale-bicubic:torch-cpu"
    with pytest.raises(ValueError):
        PixelGroup({"pixel_kernel": "jax"})
    src = _random(170, 175, 7)
    variants = [noisy(src, 6, 3), noisy(src, 30, 4)]
    want = default.measure_batch(default.prepare(src), variants)
    ref = forced.prepare(src)
    got = [forced.measure(ref, v) for v in variants]
    assert got == forced.measure_batch(ref, variants)
    for g, w in zip(got, want, strict=True):
        for k in KEYS:
            _close(g[k], w[k], f"cpu-kernel:group:{k}")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_the_cpu_kernel():
    src = _random(300, 257, 9)
    variants = [noisy(src, s, s) for s in (2, 8, 30)] + [src.copy()]
    ref = Reference(src)
    for i, (got, v) in enumerate(zip(pixel_metrics_torch(src, variants, "cuda"), variants, strict=True)):
        want = pixel_metrics(ref, v)
        for k in KEYS:
            _close(got[k], want[k], f"cuda:{i}:{k}")


def test_report_max_differences():
    """Not a check: prints the largest difference against each reference (pytest -s)."""
    print("\nmax differences:", {k: f"{v:.2e}" for k, v in sorted(MAX_DIFF.items())})
