"""On a machine with CUDA only (skipped elsewhere): the GPU path against the CPU path on real
artifacts. The same checks run on the CPU through the same torch code in tests/test_feed.py
and tests/test_pixel_torch.py; these say whether the device itself agrees."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from codecsweep.metrics.pixel import Reference, pixel_metrics
from codecsweep.metrics.pixel_torch import TorchReference, pixel_metrics_torch
from codecsweep.models import cuda_batch_size, get_spec, load_model, preprocess, preprocess_on_device
from codecsweep.pipeline.classify import Classifier
from codecsweep.pipeline.feed import Feed

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
LITE = "efficientnet_lite0"


def _jpegs(photo, qualities=(10, 50, 95), subsampling=(0, 2)):
    out = []
    for q in qualities:
        for sub in subsampling:
            buf = io.BytesIO()
            photo.save(buf, "JPEG", quality=q, subsampling=sub)
            out.append(buf.getvalue())
    return out


def test_nvjpeg_decodes_to_libjpeg_turbos_pixels(photo):
    """Whether torchvision's nvJPEG decode gives Pillow's (libjpeg-turbo's) pixels: the analyze
    stage decodes on the CPU unless this holds (it is not wired in while it does not)."""
    from torchvision.io import decode_jpeg

    for data in _jpegs(photo):
        cpu = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        gpu = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), device="cuda")
        diff = np.abs(gpu.permute(1, 2, 0).cpu().numpy().astype(int) - cpu.astype(int))
        assert diff.max() == 0, f"nvJPEG differs from libjpeg-turbo by up to {diff.max()} (mean {diff.mean():.3f})"


def test_pixel_kernel_on_cuda_equals_the_cpu_kernel(photo):
    src = np.asarray(photo)
    variants = [np.asarray(Image.open(io.BytesIO(d)).convert("RGB")) for d in _jpegs(photo)]
    on_gpu = pixel_metrics_torch(TorchReference(src, "cuda"), variants)
    ref = Reference(src)
    for got, v in zip(on_gpu, variants, strict=True):
        want = pixel_metrics(ref, v)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=3e-6), key


def test_transform_and_logits_on_cuda_agree_with_the_cpu(photo):
    spec = get_spec(LITE)
    images = [photo.rotate(a) for a in (0, 10, 20)]
    gpu_inputs = [preprocess_on_device(spec, torch.from_numpy(np.asarray(im).copy()), "cuda") for im in images]
    cpu_inputs = [preprocess(spec, im) for im in images]
    for g, c in zip(gpu_inputs, cpu_inputs, strict=True):
        assert np.abs(g.cpu().numpy() - c).max() < 1e-4
    feed = Feed.for_device("cuda", 4)
    on_gpu, _ = Classifier(LITE, {"cpu": 4, "cuda": 8}, 1, feed=feed).run(
        [Classifier(LITE, 4, 1, feed=feed).preprocess(im) for im in images]
    )
    on_cpu, _ = Classifier(LITE, 4, 1).run(cpu_inputs)
    for g, c in zip(on_gpu, on_cpu, strict=True):
        assert np.abs(g - c).max() < 1e-3 and g.argmax() == c.argmax()


def test_the_auto_batch_size_fits_the_device():
    batch = cuda_batch_size(load_model(LITE, "cuda"), jobs_per_device=2)
    assert batch >= 64 and batch & (batch - 1) == 0
