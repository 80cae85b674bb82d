"""Running a classifier: load it (weights_only), and one forward pass that gives the logits
and, from the same pass, the stage features the deep-feature distance compares."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from .families import family_of
from .specs import ModelSpec, get_spec
from .weights import check_weights, weights_sha256


@dataclass
class LoadedModel:
    spec: ModelSpec
    module: object  # torch.nn.Module
    weights_sha256: str
    device: str


@cache
def load_model(name: str, device: str | None = None) -> LoadedModel:
    import torch  # the model's runtime: imported only when a network must run

    spec = get_spec(name)
    path = check_weights(spec)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[spec.precision]
    module = family_of(spec).build(spec)
    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    module = module.eval().to(device=device, dtype=dtype)
    return LoadedModel(spec, module, weights_sha256(name), device)


def preprocess_id(spec: ModelSpec) -> str:
    """What ``preprocess`` does for ``spec``, for the prediction key."""
    return family_of(spec).preprocess_id(spec)


def preprocess(spec: ModelSpec, image: Image.Image) -> np.ndarray:
    """The model's reference evaluation transform: a CHW float32 array."""
    return family_of(spec).preprocess(spec, image)


def pixels_tensor(rgb: np.ndarray, pin: bool = False):
    """8-bit RGB pixels (H x W x 3) as a CPU tensor, copied into pinned memory when ``pin``
    (so that the copy to a CUDA device runs asynchronously)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(rgb) if rgb.flags.writeable else rgb.copy())
    return t.pin_memory() if pin else t


def stack_padded(inputs: list, size: int):
    """Model inputs (3 x S x S tensors on one device) as a batch of ``size``, zero-padded."""
    import torch

    batch = torch.stack(inputs)
    if len(inputs) < size:
        batch = torch.cat([batch, batch.new_zeros((size - len(inputs), *batch.shape[1:]))])
    return batch


def empty_device_cache() -> None:
    """Give the CUDA caching allocator's unused blocks back (after an out-of-memory error)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def preprocess_on_device(spec: ModelSpec, pixels, device) -> object:
    """``preprocess`` in torch on ``device``: decoded 8-bit RGB pixels (an H x W x 3 uint8 tensor,
    pinned for an asynchronous copy) -> the model's input (3 x S x S float32 tensor on ``device``).
    For families with ``torch_preprocess`` (the transform equals ``preprocess``'s)."""
    x = pixels.to(device, non_blocking=True).permute(2, 0, 1)[None].float()
    return family_of(spec).model_input(spec, x)[0]


def logits(model: LoadedModel, batch: np.ndarray) -> np.ndarray:
    """Class scores (N x 1000, float32) for a preprocessed batch (N x 3 x H x W)."""
    return forward(model, batch)[0]


def forward(model: LoadedModel, batch: np.ndarray, with_taps: bool = False):
    """(logits as N x 1000 float32, per-stage feature maps or None) of one forward pass of
    ``batch`` (a numpy array, or a tensor already on the model's device).

    The features are read off the same pass that classifies (forward hooks on the stage
    blocks), so a deep-feature distance costs no second run of the network."""
    import torch

    dtype = next(model.module.parameters()).dtype
    taps, hooks = [], []
    if with_taps:
        hooks = [
            block.register_forward_hook(lambda _m, _in, out: taps.append(out.float()))
            for block in family_of(model.spec).stage_blocks(model.module)
        ]
    try:
        with torch.inference_mode():
            x = batch if isinstance(batch, torch.Tensor) else torch.from_numpy(batch)
            out = model.module(x.to(model.device, dtype))
    finally:
        for h in hooks:
            h.remove()
    return out.float().cpu().numpy(), (taps if with_taps else None)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the device running out of memory (CUDA's, or a backend's message)."""
    torch = sys.modules.get("torch")  # no torch imported: it cannot be torch's
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def batch_for_memory(free_bytes: float, per_image_bytes: float, jobs_per_device: int = 1, cap: int = 1024) -> int:
    """The batch size of a job on a GPU: the largest power of two of images whose memory fits
    in half the free memory, shared by ``jobs_per_device`` jobs, and at most ``cap`` (a larger
    batch gains nothing once the GPU is busy; half: room for the other tensors, fragmentation).

    >>> batch_for_memory(100e9, 40e6, jobs_per_device=2)  # an H200 with 100 GB free, Lite0
    512
    >>> batch_for_memory(2e9, 40e6), batch_for_memory(1e6, 40e6)
    (16, 1)
    """
    fits = int(free_bytes / 2 / max(1, jobs_per_device) // max(per_image_bytes, 1.0))
    return max(1, min(cap, 1 << (max(fits, 1).bit_length() - 1)))


def cuda_batch_size(model: LoadedModel, jobs_per_device: int = 1, probe: int = 8, with_taps: bool = True) -> int:
    """``batch_for_memory`` of the free memory of the model's CUDA device and what one image
    costs there, measured: the peak memory of a forward pass of ``probe`` images."""
    import torch

    device = torch.device(model.device)
    size = model.spec.input_size
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    forward(model, torch.zeros(probe, 3, size, size, device=device), with_taps)
    per_image = (torch.cuda.max_memory_allocated(device) - base) / probe
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(device)
    return batch_for_memory(free, per_image, jobs_per_device)
