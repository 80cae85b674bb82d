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
import json
import logging
import pathlib
from collections.abc import Callable

import numpy as np

log = logging.getLogger("codecsweep")

CHANNELS = ("Y", "Cb", "Cr")
#: Calibration split: an image is a calibration image when this bucket is 0.
SPLIT_SALT = "calibration:"

# The IJG (libjpeg, JPEG standard Annex K) tables in natural order: the reference the
# machine-oriented tables are normalized against.
IJG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)
IJG_CHROMA = np.full((8, 8), 99.0)
IJG_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


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


def _model_input(spec, x):
    """Decoded RGB (1, 3, H, W) 0..255 -> the model's input, through its own preprocessing,
    differentiably."""
    import torch

    from .models import LITE_CROP_PADDING, LITE_MEAN, LITE_STD, _tf_bicubic_matrix, _torchvision_weights

    if spec.family != "efficientnet_lite":  # torchvision's transform takes float tensors in 0..1
        return _torchvision_weights(spec).transforms()(x / 255.0)
    h, w = x.shape[-2:]  # the same crop and resize matrices as models.preprocess
    crop = max(1, int(spec.input_size / (spec.input_size + LITE_CROP_PADDING) * min(h, w)))
    top, left = (h - crop + 1) // 2, (w - crop + 1) // 2
    m = torch.from_numpy(_tf_bicubic_matrix(crop, spec.input_size)).to(x.device, x.dtype)
    x = torch.einsum("oh,nchw,pw->ncop", m, x[..., top : top + crop, left : left + crop], m)
    return (x - LITE_MEAN) / LITE_STD


def _logits(model, x):
    import torch

    dtype = next(model.module.parameters()).dtype
    out = model.module(_model_input(model.spec, x).to(dtype))
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


# -- tables --------------------------------------------------------------------------------


def base_tables(sensitivity: dict, exponent: float = 0.5, floor: float = 1e-6) -> np.ndarray:
    """(3, 8, 8) float steps at quality 50: ``S^(-exponent)``, scaled to the IJG tables' rate.

    ``floor`` (relative to the largest entry) keeps a frequency the calibration never excited
    from an infinite step (it is clipped to 255 anyway).
    """
    s = np.stack([np.asarray(sensitivity[c], dtype=np.float64) for c in CHANNELS])
    if s.shape != (3, 8, 8) or not np.all(np.isfinite(s)) or np.any(s < 0) or s.max() <= 0:
        raise ValueError("sensitivity map must be three 8x8 arrays of finite non-negative values, not all 0")
    steps = np.maximum(s, floor * s.max()) ** -exponent
    weights = np.array([4.0, 1.0, 1.0])[:, None, None]  # blocks per channel in 4:2:0
    ijg = np.stack([IJG_LUMA, IJG_CHROMA, IJG_CHROMA])
    shift = (weights * (np.log(ijg) - np.log(steps))).sum() / (weights.sum() * 64)
    return steps * np.exp(shift)


def ijg_scale(quality: int) -> int:
    """libjpeg's ``jpeg_quality_scaling``: percent applied to the base tables."""
    quality = min(max(int(quality), 1), 100)
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def tables_for(base: np.ndarray, quality: int) -> list[list[int]]:
    """Baseline 8-bit tables (1..255, 64 entries in natural order) at ``quality``, as libjpeg
    scales its own: ``(base * scale + 50) // 100``, clipped."""
    scaled = np.floor((np.asarray(base) * ijg_scale(quality) + 50) / 100)
    return [[int(v) for v in t.ravel()] for t in np.clip(scaled, 1, 255)]


# -- the artifact --------------------------------------------------------------------------


def map_sha256(sensitivity: dict) -> str:
    """sha256 of a map's values (canonical JSON): what the tables are made from."""
    doc = {c: sensitivity[c] for c in CHANNELS}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_map(path) -> dict:
    """A map file written by ``write_map``, checked; the error names the file and what is wrong."""
    path = pathlib.Path(path)
    try:
        doc = json.loads(path.read_text())
        for c in CHANNELS:
            arr = np.asarray(doc["sensitivity"][c], dtype=np.float64)
            if arr.shape != (8, 8):
                raise ValueError(f"channel {c} is {arr.shape}, not 8x8")
        if doc["map_sha256"] != map_sha256(doc["sensitivity"]):
            raise ValueError("map_sha256 does not match the values (edited by hand?)")
        doc["key"]  # noqa: B018 (required)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"sensitivity map {path}: {type(exc).__name__}: {exc}") from exc
    return doc


def write_map(doc: dict, path) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


# -- the jobs ------------------------------------------------------------------------------

SPLIT_SCHEMA_FIELDS = (("dataset", "string"), ("image_id", "string"), ("calibration", "bool_"))


def split_rows(images: list[dict], buckets: int) -> list[dict]:
    """One row per usable image: ``calibration`` true for bucket 0 (see ``is_calibration``)."""
    rows = [
        {"dataset": r["dataset"], "image_id": r["image_id"], "calibration": is_calibration(r["image_id"], buckets)}
        for r in images
        if r["status"] == "ok"
    ]
    return sorted(rows, key=lambda r: r["image_id"])


def write_split(images_path, buckets: int, out) -> list[dict]:
    """``results/splits/<dataset>.parquet``: which images calibrate jpeg_mo (the rest are held out)."""
    import pyarrow as pa

    from . import records

    rows = split_rows(records.read(images_path), buckets)
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in SPLIT_SCHEMA_FIELDS])
    records.write(rows, schema, out)
    log.info(
        "split: %d calibration, %d held-out images",
        sum(r["calibration"] for r in rows),
        len(rows) - sum(r["calibration"] for r in rows),
    )
    return rows


def calibration_images(images: list[dict], split: list[dict], max_images: int) -> list[dict]:
    """The calibration images used: at most ``max_images`` of the calibration split, the
    first by source sha256 (content order, not path order)."""
    chosen = {r["image_id"] for r in split if r["calibration"]}
    rows = [r for r in images if r["status"] == "ok" and r["image_id"] in chosen]
    return sorted(rows, key=lambda r: (r["source_sha256"], r["image_id"]))[:max_images]


def sensitivity_job(
    images_path, split_path, dataset: str, model_name: str, cache_dir, out, max_images: int = 16, limits=None
) -> dict:
    """Compute (or read from the cache) the map of ``model_name`` on the calibration split of
    ``dataset`` and write it to ``out`` (JSON, with its key and what it was made from)."""
    import time

    from . import records
    from .cache import Cache
    from .images import Limits, load_source
    from .keys import SENSITIVITY_VERSION, sensitivity_key
    from .models import weights_sha256

    images = records.read(images_path)
    chosen = calibration_images(images, records.read(split_path), max_images)
    if not chosen:
        raise ValueError(
            f"sensitivity: dataset {dataset!r} has no calibration image ({split_path} marks none): "
            "lower sensitivity.calibration_buckets or add images"
        )
    weights = weights_sha256(model_name)
    key = sensitivity_key(model_name, weights, [(r["source_sha256"], r["label"]) for r in chosen])
    cache = Cache(cache_dir)
    entry = cache.get("sensitivity", key)
    if entry is not None:
        doc = json.loads(entry.data)
        log.info("sensitivity %s/%s: served from the cache (%s)", dataset, model_name, key[:12])
    else:
        import torch

        from .models import load_model

        t0 = time.perf_counter()
        model = load_model(model_name)
        arrays = [np.asarray(load_source(pathlib.Path(r["source_path"]), limits or Limits())[0]) for r in chosen]
        sens = calibrate(arrays, [r["label"] for r in chosen], model)
        seconds = time.perf_counter() - t0
        doc = {
            "key": key,
            "method_version": SENSITIVITY_VERSION,
            "model": model_name,
            "weights_sha256": weights,
            "calibration": [
                {"image_id": r["image_id"], "source_sha256": r["source_sha256"], "label": r["label"]} for r in chosen
            ],
            "sensitivity": sens,
            "map_sha256": map_sha256(sens),
        }
        cache.put("sensitivity", key, json.dumps(doc, sort_keys=True).encode(), {"model": model_name})
        log.info(
            "sensitivity %s/%s: %d images on %s (torch %d threads) in %.1f s",
            dataset,
            model_name,
            len(chosen),
            model.device,
            torch.get_num_threads(),
            seconds,
        )
    write_map(doc, out)
    return doc
