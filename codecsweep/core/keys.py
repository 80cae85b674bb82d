"""Every cache key recipe, and the version of every computation a key depends on.

A key is the sha256 of a canonical JSON of everything a result depends on (content only,
never a path or a time). Each field below is derived from the constant the computation
itself uses (the filters, the settings dict an encoder passes to its codec, the versions
here), so a change there changes the key: no second copy of a fact to keep in step.

Bump a version when the code it names changes its output; every affected result is then
recomputed (and only those). ``tests/test_keys.py`` pins the exact keys, so any change to a
recipe is a deliberate test edit.
"""

from __future__ import annotations

import hashlib
import json

#: The meaning of keys as a whole (field names, canonical JSON).
KEY_SCHEMA = 1
#: ``storage.images.load_source``: how a source becomes canonical 8-bit RGB. 2: ICC profiles converted to
#: sRGB, float/signed/12-bit conventions, TIFF through tifffile.
NORMALIZATION_VERSION = 2
#: ``codecs.base.Encoder.encode``: 2 = the source's metadata is dropped before encoding.
ENCODE_VERSION = 2
#: ``models.preprocess``: 2 = each model family's reference evaluation transform.
PREPROCESS_VERSION = 2
#: ``metrics.pixel.pixel_metrics`` (PSNR, SSIM, MS-SSIM, luma variants). 2: the banded float32 kernel
#: (values within 2e-6 of v1: a fresh run and a cached one must give the same Parquet). 3: the fused
#: numba kernel (within 1e-7 of v2).
PIXEL_METRICS_VERSION = 3
#: ``metrics.deep.DeepFeatureDistance``: 2 = each image as the classifier sees it (coded size), from
#: the classifying forward pass.
DFD_VERSION = 2
#: ``metrics.deep.Lpips`` (the lpips package's 0.1 linear layers).
LPIPS_VERSION = "0.1"
#: ``sensitivity.calibrate`` (DCT-domain gradient sensitivity of a classifier).
SENSITIVITY_VERSION = 1
#: ``models.runtimes.export_onnx``: what the exported graph computes (1 = the logits, then the
#: family's stage taps as extra outputs; dynamic batch dimension).
ONNX_EXPORT_VERSION = 1


def make_key(kind: str, **fields) -> str:
    """Cache key: sha256 of the canonical JSON of ``kind`` and ``fields``."""
    doc = {"kind": kind, "key_schema": KEY_SCHEMA, **fields}
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def artifact_key(
    source_sha256: str,
    encoder: str,
    codec_version: str,
    settings: dict,
    downscale: str,
    scale: float,
    color: str,
    param: str,
) -> str:
    """An encoded variant: the source's bytes, how it was normalized and scaled (``downscale``:
    the filter's name), the codec build, every codec setting and the grid parameter.

    >>> artifact_key("0" * 64, "jpeg", "libjpeg-turbo 3", {"optimize": False}, "lanczos", 0.5, "rgb", "20")[:12]
    'b949fb168a63'
    """
    return make_key(
        "artifact",
        source=source_sha256,
        normalization=NORMALIZATION_VERSION,
        encode=ENCODE_VERSION,
        downscale=downscale,
        encoder=encoder,
        codec_version=codec_version,
        settings=settings,
        scale=scale,
        color=color,
        param=param,
    )


def prediction_key(
    input_sha256: str,
    model: str,
    weights_sha256: str,
    preprocess_id: str,
    is_original: bool,
    runtime: str | None = None,
) -> str:
    """Class scores of one input (an artifact, or a source: then its normalization counts).
    ``runtime``: what runs the network when it is not PyTorch eager (``runtime_id``), so two
    runtimes' predictions never mix; None (PyTorch) leaves the key as it always was."""
    fields = dict(input=input_sha256, model=model, weights=weights_sha256, preprocess=preprocess_id)
    if is_original:
        fields["normalization"] = NORMALIZATION_VERSION
    if runtime is not None:
        fields["runtime"] = runtime
    return make_key("prediction", **fields)


def runtime_id(runtime: str, runtime_version: str, exporter: str, opset: int) -> str:
    """A non-PyTorch runtime of an exported graph: the runtime, and what made the graph.

    >>> runtime_id("onnxruntime", "1.32.0", "torch-2.14.1", 17)
    'onnxruntime-1.32.0:torch-2.14.1:opset17:export-v1'
    """
    return f"{runtime}-{runtime_version}:{exporter}:opset{opset}:export-v{ONNX_EXPORT_VERSION}"


def onnx_export_key(model: str, weights_sha256: str, exporter: str, opset: int, runtime_version: str) -> str:
    """A classifier exported to ONNX (its stage taps as extra outputs): the weights, the exporter
    (``torch-<version>``), the opset and the version of the runtime that runs it."""
    return make_key(
        "onnx_export",
        export=ONNX_EXPORT_VERSION,
        model=model,
        weights=weights_sha256,
        exporter=exporter,
        opset=opset,
        runtime=runtime_version,
    )


def pixel_metrics_id(upscale: str, kernel: str = "cpu") -> str:
    """The pixel metrics (PSNR, SSIM, MS-SSIM and luma variants), the decoded variant brought
    back to the source's size with the filter ``upscale``. ``kernel``: the implementation,
    ``cpu`` (``metrics.pixel``, the id without a suffix) or e.g. ``torch-cuda``
    (``metrics.pixel_torch`` on that device type), which adds ``:<kernel>``: values that are
    equal only within 1e-5 never mix in one cache."""
    base = f"pixel-v{PIXEL_METRICS_VERSION}:upscale-{upscale}"
    return base if kernel == "cpu" else f"{base}:{kernel}"


def dfd_id(model: str, weights_sha256: str, preprocess_id: str, runtime: str | None = None) -> str:
    """``runtime``: the taps' runtime when it is not PyTorch (``runtime_id``); None: the id as it always was."""
    base = f"dfd-v{DFD_VERSION}:{model}:{weights_sha256[:16]}:{preprocess_id}"
    return base if runtime is None else f"{base}:{runtime}"


def lpips_id(net: str, weights_sha256: str | None) -> str:
    return f"lpips-{LPIPS_VERSION}:{net}:{weights_sha256[:16] if weights_sha256 else 'unavailable'}"


def metric_key(group_id: str, artifact_sha256: str, source_sha256: str) -> str:
    """One metric group (``*_id`` above) of a variant against its source."""
    return make_key(
        "metric", group=group_id, artifact=artifact_sha256, source=source_sha256, normalization=NORMALIZATION_VERSION
    )


def sensitivity_key(
    model: str, weights_sha256: str, preprocess_id: str, calibration: list[tuple[str, int | None]]
) -> str:
    """A classifier's DCT sensitivity map: its weights, its preprocessing, and the calibration
    images as (source sha256, label or None for the pseudo label), in any order."""
    return make_key(
        "sensitivity",
        method=SENSITIVITY_VERSION,
        normalization=NORMALIZATION_VERSION,
        model=model,
        weights=weights_sha256,
        preprocess=preprocess_id,
        calibration=sorted(
            ([sha, label] for sha, label in calibration), key=lambda p: (p[0], -1 if p[1] is None else p[1])
        ),
    )
