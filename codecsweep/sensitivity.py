"""How much a classifier's loss reacts to each JPEG DCT frequency, and quantization tables from it.

Method (after the offline sensitivity estimation of L. Ye, "JPEG Compliant Compression for Both
Human and Machine", and Patwa, Ahuja et al., "Semantic Preserving Image Compression", ICIP 2020;
docs/machine_jpeg.md):

1. An image is split as the JPEG encoder codes it: JFIF YCbCr, chroma averaged 2x2 (4:2:0).
   These planes are the leaves; the decoder's path back to RGB (bilinear "fancy" chroma
   upsampling, YCbCr -> RGB) and the model's own preprocessing are differentiable, so one
   backward pass gives the gradient of the cross-entropy (the true label, else the original's
   top-1) with respect to every sample of Y, Cb and Cr.
2. The 8x8 block DCT is orthonormal, so the gradient with respect to a block's DCT
   coefficients is the block DCT of the gradient. Its square, averaged over the blocks of a
   plane, is that image's sensitivity per frequency (3 x 8 x 8).
3. Each image's map is normalized to sum 1 (every calibration image weighs the same, however
   confident the model is on it) and the maps are averaged over the calibration images.

Tables (``tables_for``): to second order the loss grows by ``sum_k S_k E[e_k^2]`` and a uniform
quantizer of step ``q_k`` makes ``E[e_k^2] = q_k^2 / 12``, while each coefficient costs about
``h_k - log2 q_k`` bits. Minimizing the loss at a fixed rate (Lagrange) gives ``S_k q_k^2`` equal
for all k, i.e. ``q_k ∝ S_k^(-1/2)``: the step grows where the classifier is insensitive. The
constant is set so that the sum of ``log q_k`` weighted by the number of blocks per channel (4
luma blocks per chroma block in 4:2:0) equals that of the IJG standard tables: at the same
quality parameter the base tables cost about the same bits (high-rate approximation). The
quality parameter then scales them exactly as IJG quality scales the standard tables
(``5000 / q`` below 50, ``200 - 2 q`` above), so a grid of JPEG qualities spans a similar rate.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import numpy as np

from .codecs.ijg import CHANNELS
from .models import family_of

log = logging.getLogger("codecsweep")

#: Calibration split: an image is a calibration image when this bucket is 0.
SPLIT_SALT = "calibration:"

# -- the calibration split -----------------------------------------------------------------


def calibration_bucket(image_id: str, buckets: int) -> int:
    """Stable bucket of an image (salted, so it is independent of the job shard)."""
    return int(hashlib.sha256((SPLIT_SALT + image_id).encode()).hexdigest()[:8], 16) % buckets


def is_calibration(image_id: str, buckets: int) -> bool:
    """Calibration images are bucket 0 of ``buckets``: adding images never moves existing ones."""
    return calibration_bucket(image_id, buckets) == 0


# -- DCT -----------------------------------------------------------------------------------


def dct_matrix(n: int = 8) -> np.ndarray:
    """Orthonormal DCT-II: ``C[k, i] = a_k cos(pi (2i + 1) k / 2n)``, a_0 = sqrt(1/n), else sqrt(2/n)."""
    k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    c = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    c[0] /= np.sqrt(2.0)
    return c


def block_dct(plane: np.ndarray) -> np.ndarray:
    """8x8 block DCT of a (H, W) plane, H and W multiples of 8 -> (H/8, W/8, 8, 8)."""
    h, w = plane.shape
    if h % 8 or w % 8:
        raise ValueError(f"block_dct: plane of {h}x{w} is not a whole number of 8x8 blocks")
    c = dct_matrix()
    blocks = plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    return np.einsum("ki,abij,lj->abkl", c, blocks, c, optimize=True)


def frequency_energy(gradient: np.ndarray) -> np.ndarray:
    """Mean over blocks of the squared DCT-domain gradient: (8, 8)."""
    return (block_dct(np.asarray(gradient, dtype=np.float64)) ** 2).mean(axis=(0, 1))


# -- gradients in the coded planes ---------------------------------------------------------


def _ycbcr(rgb):
    """JFIF full-range RGB -> YCbCr (torch, (3, H, W), 0..255)."""
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b + 128
    return y, cb, cr


def _rgb(y, cb, cr):
    import torch

    cb, cr = cb - 128, cr - 128
    return torch.stack([y + 1.402 * cr, y - 0.344136286 * cb - 0.714136286 * cr, y + 1.772 * cb])


def plane_gradients(rgb: np.ndarray, loss: Callable, device: str = "cpu") -> dict[str, np.ndarray]:
    """Gradient of ``loss`` with respect to the planes the JPEG encoder codes.

    ``rgb``: (H, W, 3) uint8, cropped here to whole 16x16 macroblocks. ``loss`` maps the
    decoded RGB (torch, (1, 3, H, W), float 0..255) to a scalar. Returns {"Y": (H, W),
    "Cb": (H/2, W/2), "Cr": (H/2, W/2)} float64.
    """
    import torch
    import torch.nn.functional as F

    h, w = (rgb.shape[0] // 16) * 16, (rgb.shape[1] // 16) * 16
    if h == 0 or w == 0:
        raise ValueError(f"image of {rgb.shape[1]}x{rgb.shape[0]} is smaller than one 16x16 macroblock")
    x = torch.from_numpy(np.ascontiguousarray(rgb[:h, :w].transpose(2, 0, 1))).to(device, torch.float64)
    y, cb, cr = _ycbcr(x)
    # The encoder's 4:2:0 chroma: the mean of each 2x2 (libjpeg-turbo's h2v2 downsampling).
    sub = F.avg_pool2d(torch.stack([cb, cr])[None], 2)[0]
    leaves = [y.clone().requires_grad_(True), sub[0].clone().requires_grad_(True), sub[1].clone().requires_grad_(True)]
    # The decoder's fancy upsampling is the 3/4-1/4 triangle filter: bilinear at half-pixel centers.
    up = F.interpolate(torch.stack(leaves[1:])[None], scale_factor=2, mode="bilinear", align_corners=False)[0]
    out = loss(_rgb(leaves[0], up[0], up[1])[None])
    grads = torch.autograd.grad(out, leaves)
    return {name: g.detach().cpu().numpy() for name, g in zip(CHANNELS, grads)}


def image_sensitivity(rgb: np.ndarray, loss: Callable, device: str = "cpu") -> np.ndarray:
    """Mean squared DCT-domain gradient per channel and frequency, (3, 8, 8), not normalized."""
    grads = plane_gradients(rgb, loss, device)
    return np.stack([frequency_energy(grads[c]) for c in CHANNELS])


def _logits(model, x):
    import torch

    dtype = next(model.module.parameters()).dtype
    out = model.module(family_of(model.spec).model_input(model.spec, x).to(dtype))
    return out if out.dtype == torch.float64 else out.float()  # bf16/fp16 models: the loss in fp32


def classifier_loss(model, target: int) -> Callable:
    """Cross-entropy of ``model`` (a ``models.LoadedModel``) for class ``target`` on decoded RGB."""
    import torch
    import torch.nn.functional as F

    def loss(x):
        logits = _logits(model, x)
        return F.cross_entropy(logits, torch.tensor([target], device=logits.device))

    return loss


def calibrate(images: list[np.ndarray], labels: list[int | None], model) -> dict:
    """The sensitivity map of ``model`` over calibration images (RGB uint8 arrays).

    A missing label is replaced by the model's top-1 on the original (pseudo label).
    Returns {"Y"|"Cb"|"Cr": 8x8 lists, each image's map normalized to sum 1, then averaged}.
    """
    import torch

    if not images:
        raise ValueError("calibrate: no calibration images")
    maps = []
    for rgb, label in zip(images, labels):
        if label is None:
            x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(model.device, torch.float64)
            with torch.no_grad():
                label = int(_logits(model, x).argmax())
        s = image_sensitivity(rgb, classifier_loss(model, int(label)), model.device)
        maps.append(s / s.sum())
    mean = np.mean(maps, axis=0)
    return {c: _round(mean[i]) for i, c in enumerate(CHANNELS)}


def _round(a: np.ndarray) -> list[list[float]]:
    """Six significant digits: a map is data for people and a key for tables, not float noise."""
    return [[float(f"{v:.6g}") for v in row] for row in np.asarray(a, dtype=np.float64)]
