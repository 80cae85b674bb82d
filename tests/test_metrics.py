"""Metrics against reference implementations (scikit-image) and their defining properties."""
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from codecsweep import metrics
from tests.conftest import noisy


@pytest.mark.parametrize("sigma", [2, 10, 40])
def test_ssim_matches_scikit_image(photo, sigma):
    a = np.asarray(photo)
    b = noisy(a, sigma)
    ref = structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255)
    assert metrics.ssim(a, b) == pytest.approx(ref, abs=1e-4)
    ya, yb = metrics.luma(a), metrics.luma(b)
    ref_y = structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, data_range=255)
    assert metrics.ssim(ya, yb) == pytest.approx(ref_y, abs=1e-4)


def test_psnr_matches_scikit_image(photo):
    a = np.asarray(photo)
    b = noisy(a, 8)
    assert metrics.psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    assert metrics.psnr(a, a) == float("inf")


def test_luma_is_bt601():
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    assert metrics.luma(px).tolist() == pytest.approx([[76.245, 149.685, 29.07, 0.299 * 10 + 0.587 * 20 + 0.114 * 30]])


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
    from PIL import Image

    dfd = metrics.DeepFeatureDistance("efficientnet_lite0")
    ref = dfd.features([photo])
    a = np.asarray(photo)
    d = dfd.distance(ref, [photo] + [Image.fromarray(noisy(a, s)) for s in (5, 20, 60)])
    assert d[0] == pytest.approx(0.0, abs=1e-6)
    assert d[1] < d[2] < d[3] <= 4
    assert len(dfd._taps) == 5  # one tap per resolution stage (112, 56, 28, 14, 7)
