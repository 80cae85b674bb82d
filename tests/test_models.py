"""Ranking by hand, the shipped classifier on real photos, and weight loading paths."""

import numpy as np
import pytest

from codecsweep import models
from codecsweep.core.hashing import sha256_file
from codecsweep.core.labels import imagenet_classes, wnid_index


def test_rank_and_rank_difference_by_hand():
    scores = np.array([0.1, 3.0, -1.0, 2.5, 3.0, 0.0], dtype=np.float32)
    # order: 1 and 4 (3.0, tie), 3 (2.5), 0 (0.1), 5 (0.0), 2 (-1.0)
    assert models.rank_of(scores, 1) == 0 and models.rank_of(scores, 4) == 0
    assert models.rank_of(scores, 3) == 2
    assert models.rank_of(scores, 0) == 3
    assert models.rank_of(scores, 2) == 5
    assert models.top_k(scores, 3) == [1, 4, 3]  # ties: lower index first
    assert models.rank_difference(original_rank=0, variant_rank=3) == -3  # compression hurt
    assert models.rank_difference(original_rank=221, variant_rank=21) == 200  # "JPEG over-fitting"
    p = models.softmax(np.array([0.0, np.log(3.0)]))
    assert p.tolist() == pytest.approx([0.25, 0.75])


def test_imagenet_classes():
    wnids, names = imagenet_classes()
    assert len(wnids) == 1000 and wnids == sorted(wnids)
    assert (wnids[0], names[0]) == ("n01440764", "tench")
    assert names[wnid_index("n07920052")] == "espresso"
    with pytest.raises(KeyError, match="not one of the 1000"):
        wnid_index("n99999999")


def _keys_cubic(t: float, a: float = -0.5) -> float:
    t = abs(t)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a if t < 2 else 0.0


def test_efficientnet_lite_preprocessing_is_the_tensorflow_reference(photo):
    """Hand-written per pixel from the TF reference (tensorflow/tpu efficientnet preprocessing.py):
    crop 224/256 of the shorter side at ((h - crop + 1) // 2, (w - crop + 1) // 2), bicubic to 224
    (Keys a=-0.5, half-pixel centers, out-of-image taps dropped and weights renormalized),
    then (x - 127) / 128, unclipped."""
    spec = models.get_spec("efficientnet_lite0")
    x = models.preprocess(spec, photo)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    arr = np.asarray(photo, dtype=np.float64)  # 400 x 600
    crop = int(224 / 256 * 400)
    assert crop == 350
    top, left = (400 - crop + 1) // 2, (600 - crop + 1) // 2
    region = arr[top : top + crop, left : left + crop]
    scale = crop / 224

    def taps(o):
        c = (o + 0.5) * scale - 0.5
        ws = [(i, _keys_cubic(c - i)) for i in range(int(np.floor(c)) - 1, int(np.floor(c)) + 3) if 0 <= i < crop]
        total = sum(w for _, w in ws)
        return [(i, w / total) for i, w in ws]

    rng = np.random.default_rng(0)
    for oy, ox in [(0, 0), (223, 223), (0, 223), (111, 112)] + [tuple(p) for p in rng.integers(0, 224, (60, 2))]:
        ref = sum(wy * wx * region[iy, ix] for iy, wy in taps(oy) for ix, wx in taps(ox))
        np.testing.assert_allclose(x[:, oy, ox], (ref - 127) / 128, atol=2e-5)
    assert models.preprocess(models.get_spec("efficientnet_lite2"), photo).shape == (3, 260, 260)


def test_torchvision_preprocessing_is_the_weights_own_transform(photo):
    """IMAGENET1K_V1's documented evaluation: resize shorter side to 256 (bilinear, antialias),
    center crop 224, ImageNet mean/std; written out by hand with torchvision.transforms."""
    from torchvision import transforms as T

    reference = T.Compose(
        [
            T.Resize(256, interpolation=T.InterpolationMode.BILINEAR, antialias=True),
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    for name in ("resnet50", "alexnet"):
        x = models.preprocess(models.get_spec(name), photo)
        np.testing.assert_allclose(x, reference(photo).numpy(), atol=1e-6)
    assert "v2:torchvision:" in models.preprocess_id(models.get_spec("resnet50"))


@pytest.fixture(scope="module")
def default_photos():
    import importlib.util
    import pathlib

    from PIL import Image

    from codecsweep.study.datasets import DEFAULT_SOURCES

    out = {}
    for image_id, (package, rel) in DEFAULT_SOURCES.items():
        path = pathlib.Path(importlib.util.find_spec(package).origin).parent / rel
        out[image_id] = Image.open(path).convert("RGB")
    return out


ANNOTATED = {"chelsea": "n02123045", "coffee": "n07920052", "grace_hopper": "n03763968"}


@pytest.mark.parametrize(
    "name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "efficientnet_lite0_bf16"]
)
def test_shipped_models_recognize_the_default_photos(default_photos, name):
    """Observed: every shipped model has the annotated class in its top-5 for all 3
    annotated photos, and espresso as top-1 for the coffee photo."""
    model = models.load_model(name, "cpu")
    batch = np.stack([models.preprocess(model.spec, im) for im in default_photos.values()])
    scores = dict(zip(default_photos, models.logits(model, batch)))
    wnids, _ = imagenet_classes()
    hits = [i for i, wnid in ANNOTATED.items() if wnid in [wnids[k] for k in models.top_k(scores[i], 5)]]
    assert sorted(hits) == sorted(ANNOTATED)
    assert wnids[models.top_k(scores["coffee"], 1)[0]] == "n07920052"  # espresso, top-1


def test_bf16_is_a_separate_model_close_to_fp32(default_photos):
    fp32, bf16 = models.load_model("efficientnet_lite0", "cpu"), models.load_model("efficientnet_lite0_bf16", "cpu")
    assert bf16.spec.precision == "bf16" and bf16.weights_sha256 == fp32.weights_sha256
    batch = np.stack([models.preprocess(fp32.spec, im) for im in default_photos.values()])
    a, b = models.logits(fp32, batch), models.logits(bf16, batch)
    # Same top-1 wherever fp32 is not a near tie (grace_hopper: mortarboard vs academic gown).
    for x, y in zip(a, b):
        first, second = np.sort(x)[-2:][::-1]
        if first - second > 0.5:
            assert models.top_k(x, 1) == models.top_k(y, 1)
        assert models.top_k(x, 1)[0] in models.top_k(y, 3)
    assert np.abs(a - b).max() < 1.0 and not np.array_equal(a, b)


def test_predictions_do_not_depend_on_batch_size(default_photos):
    model = models.load_model("efficientnet_lite0", "cpu")
    batch = np.stack([models.preprocess(model.spec, im) for im in default_photos.values()])
    together = models.logits(model, batch)
    alone = np.concatenate([models.logits(model, batch[i : i + 1]) for i in range(len(batch))])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_missing_torchvision_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(models.MissingWeights) as err:
        models.check_weights(models.get_spec("alexnet"))
    msg = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in msg and str(tmp_path) in msg
    assert "python -m codecsweep fetch-weights alexnet" in msg


def test_torchvision_loading_path_with_stand_in_weights(tmp_path, monkeypatch, photo):
    """The real loader on a real (randomly initialized) weight file under the exact name."""
    import torch
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = models.get_spec("squeezenet1_1")
    path = models.weights_path(spec)
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)
    models.load_model.cache_clear()
    model = models.load_model("squeezenet1_1", "cpu")
    assert model.weights_sha256 == sha256_file(path)
    out = models.logits(model, models.preprocess(spec, photo)[None])
    assert out.shape == (1, 1000) and np.isfinite(out).all()
