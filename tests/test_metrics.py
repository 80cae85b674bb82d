"""Metrics against reference implementations (scikit-image) and their defining properties."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from codecsweep import metrics
from codecsweep.metrics import pixel_numba
from tests.conftest import noisy


def test_luma_is_bt601():
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    assert metrics.luma(px)[0].tolist() == pytest.approx([76.245, 149.685, 29.07, 0.299 * 10 + 0.587 * 20 + 0.114 * 30])


def test_ms_ssim_properties(photo):
    a = np.asarray(photo)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    values = [metrics.ms_ssim(a, noisy(a, s)) for s in (5, 20, 60)]
    assert values[0] > values[1] > values[2] > 0
    assert metrics.ms_ssim(a[:160, :200], a[:160, :200]) is None  # too small for 5 scales


def test_pixel_metrics_record(photo):
    a = np.asarray(photo)
    m = metrics.pixel_metrics(metrics.Reference(a), noisy(a, 10))
    assert set(m) == {"psnr", "ssim", "ms_ssim", "psnr_y", "ssim_y"}
    assert 25 < m["psnr"] < 35 and m["psnr_y"] > m["psnr"]  # luma averages the channel noise


def test_dfd_zero_for_same_image_and_grows_with_noise(photo):
    from codecsweep import models

    dfd = metrics.DeepFeatureDistance("efficientnet_lite0")
    a = np.asarray(photo)
    d = [dfd.between(photo, im) for im in [photo] + [Image.fromarray(noisy(a, s)) for s in (5, 20, 60)]]
    assert d[0] == pytest.approx(0.0, abs=1e-6)
    assert d[1] < d[2] < d[3] <= 4
    model = models.load_model("efficientnet_lite0")
    _, taps = models.forward(model, np.stack([models.preprocess(model.spec, photo)]), with_taps=True)
    assert [t.shape[-1] for t in taps] == [112, 56, 28, 14, 7]  # one tap per resolution stage


def test_lpips_code_path_with_stand_in_backbone(tmp_path, monkeypatch, photo):
    """LPIPS through the lpips package, its backbone a real (randomly initialized) weight
    file under the exact name torchvision looks for in a temporary TORCH_HOME."""
    import torch
    import torchvision

    from codecsweep import models

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = models.weights_path(models.get_spec("squeezenet1_1"))
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)
    lp = metrics.Lpips("squeeze", device="cpu")
    assert lp.available and lp.id.startswith("lpips-0.1:squeeze:")
    a = np.asarray(photo.resize((128, 96)))
    ref = lp.tensor(a)
    assert lp(ref, a) == pytest.approx(0.0, abs=1e-7)
    b, c = noisy(a, 10), noisy(a, 50)
    assert lp(lp.tensor(b), a) == pytest.approx(lp(ref, b), rel=1e-5)  # symmetric
    assert 0 < lp(ref, b) < lp(ref, c)


def test_lpips_without_backbone_is_null_with_reason(tmp_path, monkeypatch, photo):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    lp = metrics.Lpips("alex")
    assert not lp.available and lp(None, np.asarray(photo)) is None
    assert "alexnet-owt-7be5be79.pth" in lp.reason and str(tmp_path) in lp.reason


def _skimage_ssim(a, b, **kw):
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, **kw
    )


def _torch_ms_ssim(a, b):
    import torch
    from pytorch_msssim import ms_ssim

    ta, tb = (torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None] for x in (a, b))
    return float(ms_ssim(ta, tb, data_range=255, win_size=11, win_sigma=1.5, K=(0.01, 0.03)))


# (width, height): odd sides at every MS-SSIM scale (321x161: 161, 81, 41, 21, 11), a last band
# of one row (43 - 10 = 33 valid rows with 32-row bands), exactly one band (42), too small.
SIZES = [(300, 241), (321, 161), (241, 300), (180, 43), (200, 42), (160, 200), (12, 11)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("sigma", [3, 25])
def test_pixel_metrics_equal_scikit_image_and_pytorch_msssim(photo, size, sigma):
    """Both kernels (the fused numba one, ``pixel_metrics``, and the numpy one it is checked
    against) and the one-metric functions: SSIM within 1e-6 of scikit-image here (measured
    3e-7; float32 variances of flat dark images can be off by a few 1e-6), MS-SSIM 1e-5 of
    pytorch_msssim (itself float32: measured 1e-6)."""
    a = np.asarray(photo.resize(size))
    b = noisy(a, sigma, seed=sigma)
    ref = metrics.Reference(a)
    ref_ssim, ref_ssim_y = _skimage_ssim(a, b, channel_axis=2), _skimage_ssim(metrics.luma(a), metrics.luma(b))
    for m in (metrics.pixel_metrics(ref, b), metrics.pixel.pixel_metrics_numpy(ref, b)):
        assert m["ssim"] == pytest.approx(ref_ssim, abs=1e-6)
        assert m["ssim_y"] == pytest.approx(ref_ssim_y, abs=1e-6)
        assert m["psnr"] == metrics.psnr(a, b)  # float64 MSE of integers is exact, so is the integer one
        assert m["psnr"] == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=1e-12)
        assert m["psnr_y"] == pytest.approx(peak_signal_noise_ratio(metrics.luma(a), metrics.luma(b), data_range=255))
        if min(size) >= 161:
            assert m["ms_ssim"] == pytest.approx(_torch_ms_ssim(a, b), abs=1e-5)
            assert metrics.ms_ssim(a, b) == pytest.approx(m["ms_ssim"], abs=1e-6)
        else:
            assert m["ms_ssim"] is None
    # The one-metric functions (RGB and a 2-D luma plane) against scikit-image too.
    assert metrics.ssim(a, b) == pytest.approx(ref_ssim, abs=1e-6)
    assert metrics.ssim(metrics.luma(a), metrics.luma(b)) == pytest.approx(ref_ssim_y, abs=1e-6)
    assert metrics.psnr(a, a) == float("inf")


def _jpeg(a: np.ndarray, quality: int, grey: bool) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a[:, :, 0] if grey else a).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.mark.parametrize("grey", [False, True], ids=["rgb", "grey"])
def test_numba_kernel_equals_the_numpy_kernel(photo, grey):
    """The fused numba kernel (``pixel_metrics``) against the numpy kernel it replaced
    (``pixel_metrics_numpy``): JPEG artifacts from heavy to none, noise at every test size,
    the source's moments kept and recomputed. Within 1e-6 (measured 1e-7; the float32 maps are
    the same, the sums not), PSNR identical."""
    src = np.asarray(photo.convert("L").convert("RGB") if grey else photo)
    cases = [(src, _jpeg(src, q, grey)) for q in (5, 30, 75, 95, 100)] + [(src, src)]
    for size in SIZES:
        a = np.asarray(Image.fromarray(src).resize(size))
        cases.append((a, noisy(a, 20, seed=size[0])))
    for a, b in cases:
        for ref in (metrics.Reference(a), metrics.Reference(a, moments_budget=0)):
            new, old = metrics.pixel_metrics(ref, b), metrics.pixel.pixel_metrics_numpy(ref, b)
            assert new["psnr"] == old["psnr"] and new["psnr_y"] == old["psnr_y"]
            for key in ("ssim", "ssim_y", "ms_ssim"):
                if old[key] is None:
                    assert new[key] is None, key
                else:
                    assert new[key] == pytest.approx(old[key], abs=1e-6), (key, a.shape)


def test_bands_and_cached_moments_do_not_change_values(photo, monkeypatch):
    """Band boundaries anywhere (bands of 5 rows) in the numpy kernel, and the source's moments
    recomputed instead of kept by Reference in both kernels: the same numbers (float32 rounding
    apart)."""
    a = np.asarray(photo.resize((300, 241)))
    b = noisy(a, 15)
    kept = metrics.pixel_metrics(metrics.Reference(a), b)
    monkeypatch.setattr(metrics.pixel, "BAND_ROWS", 5)
    recomputed = metrics.Reference(a, moments_budget=0)
    assert recomputed.moments is None
    for kernel in (metrics.pixel_metrics, metrics.pixel.pixel_metrics_numpy):
        for name, value in kernel(recomputed, b).items():
            assert value == pytest.approx(kept[name], abs=1e-6), name


def test_pyramid_is_pytorch_msssim_average_pooling_exactly():
    """The uint16 sums of the scales, divided by 4**level, are avg_pool2d's float32 values bit
    for bit, odd sides (padded, the zero counted in the mean) included."""
    import torch
    import torch.nn.functional as F

    a = np.random.default_rng(1).integers(0, 256, (161, 83, 3), dtype=np.uint8)
    level, t = metrics.pixel._Level(a), torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1)[None]
    fused = a  # the numba kernel's scales of the variant: the same uint16 sums
    for _ in range(4):
        level = level.half()
        fused = pixel_numba.kernels()["half"](fused)
        t = F.avg_pool2d(t, kernel_size=2, padding=[s % 2 for s in t.shape[2:]])
        assert level.samples.dtype == fused.dtype == np.uint16
        assert np.array_equal(level.samples, fused)
        assert np.array_equal(level.samples * np.float32(level.scale), t[0].permute(1, 2, 0).numpy())


def test_small_images_and_bad_input(photo):
    a = np.asarray(photo.resize((50, 10)))
    m = metrics.pixel_metrics(metrics.Reference(a), noisy(a, 5))
    assert m["ssim"] is m["ssim_y"] is m["ms_ssim"] is None  # under the 11x11 window
    assert m["psnr"] == metrics.psnr(a, noisy(a, 5))
    assert metrics.pixel_metrics(metrics.Reference(a), a)["psnr_y"] == float("inf")
    with pytest.raises(ValueError, match=r"source's shape \(10, 50, 3\), got uint8 \(10, 49, 3\)"):
        metrics.pixel_metrics(metrics.Reference(a), a[:, :49])
    with pytest.raises(ValueError, match="8-bit RGB"):
        metrics.Reference(a.astype(np.float32))
