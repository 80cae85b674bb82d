"""Running a classifier: load it (weights_only), and one forward pass that gives the logits
and, from the same pass, the stage features the deep-feature distance compares."""

from __future__ import annotations

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


def logits(model: LoadedModel, batch: np.ndarray) -> np.ndarray:
    """Class scores (N x 1000, float32) for a preprocessed batch (N x 3 x H x W)."""
    return forward(model, batch)[0]


def forward(model: LoadedModel, batch: np.ndarray, with_taps: bool = False):
    """(logits as N x 1000 float32, per-stage feature maps or None) of one forward pass.

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
            out = model.module(torch.from_numpy(batch).to(model.device, dtype))
    finally:
        for h in hooks:
            h.remove()
    return out.float().cpu().numpy(), (taps if with_taps else None)
