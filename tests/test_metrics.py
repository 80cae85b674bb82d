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
    ref = structural_similarity(
        a, b, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert metrics.ssim(a, b) == pytest.approx(ref, abs=1e-4)
    ya, yb = metrics.luma(a), metrics.luma(b)
    ref_y = structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert metrics.ssim(ya, yb) == pytest.approx(ref_y, abs=1e-4)


def test_psnr_matches_scikit_image(photo):
    a = np.asarray(photo)
    b = noisy(a, 8)
    assert metrics.psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    assert metrics.psnr(a, a) == float("inf")


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
    from PIL import Image

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


@pytest.mark.parametrize("size", [(512, 512), (300, 241), (160, 200), (12, 11)])
def test_one_pass_ssim_and_ms_ssim_equal_pytorch_msssim_exactly(size):
    """The shared pass must give the library's own numbers bit for bit (cached metrics stay valid)."""
    import skimage.data
    import torch
    from PIL import Image
    from pytorch_msssim import ms_ssim, ssim

    a = np.asarray(Image.fromarray(skimage.data.astronaut()).resize(size))
    b = noisy(a, 12)
    ta, tb = (torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None] for x in (a, b))
    kw = dict(data_range=255, win_size=11, win_sigma=1.5, K=(0.01, 0.03))
    s, m = metrics.ssim_and_ms_ssim(a, b)
    assert s == float(ssim(ta, tb, **kw))
    assert m == (float(ms_ssim(ta, tb, **kw)) if min(size) >= 161 else None)
