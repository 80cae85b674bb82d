"""What runs a classifier: PyTorch eager (``inference``) or ONNX Runtime on the CPU.

ONNX Runtime (CPU provider, graph optimizations on) runs EfficientNet-Lite0 2.5-3x
faster per core than PyTorch eager, within ~1e-5 of its logits (``benchmarks/runtime_benchmark.py``).
Its graph is exported from the real weights at first use (``torch.onnx.export``, TorchScript
exporter, opset ``ONNX_OPSET``, dynamic batch dimension) with the family's stage taps as
extra outputs, so one run gives the logits and the dfd features; the export is stored in the
project's content-addressed cache (kind ``EXPORT_KIND``) under ``core.keys.onnx_export_key``,
so later jobs load it without importing torch at all.

The config's ``runtime`` chooses (``resolve_runtime``): ``auto`` is ONNX Runtime on a CPU
machine and PyTorch where CUDA is available (decided without importing torch); a model of
reduced precision (``_bf16``/``_fp16``) always runs in PyTorch. A non-PyTorch runtime is part
of every prediction key and dfd id (``runtime_id``): two runtimes' results never mix.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import io
import logging
import os
import pathlib
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..core import keys
from .families import family_of
from .inference import LoadedModel, forward, load_model
from .specs import ModelSpec, get_spec
from .weights import weights_sha256

log = logging.getLogger("codecsweep")

RUNTIMES = ("torch", "onnxruntime")
#: The config's ``runtime`` values: ``auto`` resolves to one of ``RUNTIMES``.
CHOICES = ("auto", *RUNTIMES)
ONNX_OPSET = 17
#: The cache kind of an exported graph (its data: the ONNX model's bytes).
EXPORT_KIND = "onnx_export"
INPUT, LOGITS = "input", "logits"
#: Exports run by this process, per model name (the tests count them).
EXPORTS: Counter = Counter()


@cache
def torch_built_with_cuda() -> bool:
    """Whether the installed torch is a CUDA build, read from its ``version.py`` (no import)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return False
    try:
        text = (pathlib.Path(spec.origin).parent / "version.py").read_text()
    except OSError:
        return False
    found = re.search(r"^cuda\s*(?::[^=]*)?=\s*(.+)$", text, re.M)
    return bool(found) and found.group(1).strip() not in ("None", "''", '""')


@cache
def cuda_device_count() -> int:
    """What ``torch.cuda.device_count()`` would say, without importing torch (~2 s): the
    devices the CUDA driver reports (``CUDA_VISIBLE_DEVICES`` applies), 0 without a CUDA build
    of torch or a driver."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "x").strip() in ("", "-1") or not torch_built_with_cuda():
        return 0
    try:
        lib = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        ok = lib.cuInit(0) == 0 and lib.cuDeviceGetCount(ctypes.byref(count)) == 0
        return count.value if ok else 0
    except (OSError, AttributeError):
        return 0


def cuda_available() -> bool:
    """What ``torch.cuda.is_available()`` would say, without importing torch."""
    return cuda_device_count() > 0


def resolve_runtime(choice: str, spec: ModelSpec) -> str:
    """The runtime of ``spec`` for the config's ``choice`` (``CHOICES``)."""
    if choice not in CHOICES:
        raise ValueError(f"unknown runtime {choice!r} (known: {', '.join(CHOICES)})")
    if choice == "auto":
        return "torch" if spec.precision != "fp32" or cuda_available() else "onnxruntime"
    if choice == "onnxruntime" and spec.precision != "fp32":
        raise ValueError(f"{spec.name}: ONNX Runtime runs fp32 models only (use runtime torch or auto)")
    return choice


def exporter() -> str:
    """The exporter, for the keys: the installed torch's version (read without importing it)."""
    return f"torch-{importlib.metadata.version('torch')}"


def ort_version() -> str:
    import onnxruntime  # ~40 ms: only in jobs whose models run in ONNX Runtime

    return onnxruntime.__version__


def runtime_id(runtime: str) -> str | None:
    """The runtime's part of a prediction key and dfd id: None for PyTorch (keys as they always were)."""
    if runtime == "torch":
        return None
    return keys.runtime_id(runtime, ort_version(), exporter(), ONNX_OPSET)


def export_key(name: str) -> str:
    """The cache key of model ``name``'s exported graph."""
    return keys.onnx_export_key(name, weights_sha256(name), exporter(), ONNX_OPSET, ort_version())


def tap_names(spec: ModelSpec) -> list[str]:
    """The graph's tap outputs: one per stage block of the family (none if it has no taps)."""
    try:
        blocks = family_of(spec).stage_blocks(load_model(spec.name, "cpu").module)
    except NotImplementedError:
        return []
    return [f"tap{i}" for i in range(len(blocks))]


def export_onnx(name: str) -> bytes:
    """Model ``name`` (fp32, on the CPU) as an ONNX graph: input ``input`` (N x 3 x S x S),
    outputs ``logits`` then the stage taps (``tap0``…), every one with a dynamic batch dimension."""
    import torch  # the exporter: only when the cache does not hold the export

    spec = get_spec(name)
    model = load_model(name, "cpu")
    outputs = [LOGITS, *tap_names(spec)]
    taps, hooks = [], []
    if len(outputs) > 1:
        blocks = family_of(spec).stage_blocks(model.module)
        hooks = [b.register_forward_hook(lambda _m, _in, out: taps.append(out)) for b in blocks]
        # the root's hook returns the logits and the taps of the same pass: the graph's outputs
        hooks.append(model.module.register_forward_hook(lambda _m, _in, out: (out, *taps)))
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation, constant-folding notes
            torch.onnx.export(
                model.module,
                (torch.zeros(2, 3, spec.input_size, spec.input_size),),
                buf,
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=[INPUT],
                output_names=outputs,
                dynamic_axes={n: {0: "batch"} for n in [INPUT, *outputs]},
            )
    finally:
        for h in hooks:
            h.remove()
    EXPORTS[name] += 1
    return buf.getvalue()


@dataclass
class OnnxModel:
    spec: ModelSpec
    session: object  # onnxruntime.InferenceSession
    weights_sha256: str
    runtime: str  # runtime_id
    outputs: list  # logits, then the taps
    device: str = "cpu"


def session(data: bytes, threads: int):
    """An ONNX Runtime session of a serialized graph: CPU provider, ``threads`` intra-op
    threads, sequential execution, every graph optimization."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = max(1, threads), 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def load_onnx(name: str, cache=None, threads: int = 1) -> OnnxModel:
    """Model ``name`` in ONNX Runtime; its export from ``cache`` (a ``storage.cache.Cache``),
    exported now (and put there) when it is not held. ``cache`` None: exported in memory."""
    spec = get_spec(name)
    resolve_runtime("onnxruntime", spec)  # fp32 only
    key = export_key(name)
    entry = cache.get(EXPORT_KIND, key) if cache is not None else None
    if entry is not None:
        data = entry.data
    else:
        log.info("%s: exporting to ONNX (opset %d, %s): not in the cache yet", name, ONNX_OPSET, exporter())
        data = export_onnx(name)
        if cache is not None:
            cache.put(EXPORT_KIND, key, data, {"model": name, "exporter": exporter(), "opset": ONNX_OPSET})
    sess = session(data, threads)
    outputs = [o.name for o in sess.get_outputs()]
    return OnnxModel(spec, sess, weights_sha256(name), runtime_id("onnxruntime"), outputs)


def load(name: str, runtime: str, cache=None, threads: int = 1) -> LoadedModel | OnnxModel:
    """Model ``name`` in ``runtime`` (one of ``RUNTIMES``, see ``resolve_runtime``)."""
    if runtime == "torch":
        return load_model(name)
    if runtime == "onnxruntime":
        return load_onnx(name, cache, threads)
    raise ValueError(f"unknown runtime {runtime!r} (known: {', '.join(RUNTIMES)})")


def run(model: LoadedModel | OnnxModel, batch: np.ndarray, with_taps: bool = False):
    """(logits N x 1000 float32, per-stage features or None) of one pass, in the model's runtime:
    torch tensors from PyTorch, numpy arrays from ONNX Runtime (``metrics.deep`` takes both)."""
    if not isinstance(model, OnnxModel):
        return forward(model, batch, with_taps)
    if with_taps and len(model.outputs) == 1:
        family_of(model.spec).stage_blocks(None)  # raises: the family has no stage taps
    names = model.outputs if with_taps else [LOGITS]
    out = model.session.run(names, {INPUT: np.ascontiguousarray(batch, dtype=np.float32)})
    return out[0], (out[1:] if with_taps else None)
