"""PyTorch eager vs ONNX Runtime (vs OpenVINO, when installed) for the classifier, printed.

    python benchmarks/runtime_benchmark.py [--model efficientnet_lite0] [--rounds 5] [--startup-runs 5]

In one process, on one thread (torch, ORT and OpenVINO each set to 1 thread), alternated
round by round (the order rotates each round), on the default photographs and their JPEG
variants (the real encoder, ``--qualities``), batches of ``--batch`` (4: the CPU default):
- core-ms per image (``time.process_time``: the process's CPU time, so waiting for a core on
  a shared machine is not counted), the median over rounds, and the speed ratio to PyTorch;
- against PyTorch: the largest |Δlogit|, argmax and true-rank agreement, how many variants
  have a class within 1e-4 of the top-1 or of the true class (near-ties: there a rank may
  legitimately differ), and the largest relative difference of dfd;
- start-up of an analyze job (import of the package + loading the model, in fresh
  interpreters, alternated): PyTorch vs ONNX Runtime with the export cached, wall and CPU.

OpenVINO runs the same exported graph (``pip install openvino``; not a dependency: it is
measured only when importable, e.g. ``PYTHONPATH=/some/target``) with f32 inference precision.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from codecsweep.codecs import get_encoder  # noqa: E402
from codecsweep.core.labels import wnid_index  # noqa: E402
from codecsweep.metrics.deep import DeepFeatureDistance  # noqa: E402
from codecsweep.models import rank_of, runtimes  # noqa: E402
from codecsweep.pipeline.classify import Classifier  # noqa: E402
from codecsweep.storage.cache import Cache  # noqa: E402
from codecsweep.study.datasets import _read_sheet, materialize_default  # noqa: E402

TIE = 1e-4


def inputs(model: str, qualities: list[str], root: pathlib.Path):
    """[(image_id, quality or None, true class or None, preprocessed CHW)] for every photo and variant."""
    materialize_default(root)
    jpeg, net, out = get_encoder("jpeg"), Classifier(model, 4, 1), []
    for entry in _read_sheet(REPO / "config/datasets/default.tsv"):
        im = Image.open(root / entry["path"]).convert("RGB")
        label = wnid_index(entry["label_wnid"]) if entry.get("label_wnid") else None
        for q in (None, *qualities):
            decoded = im if q is None else jpeg.decode(jpeg.encode(im, q))
            out.append((entry["image_id"], q, label, net.preprocess(decoded)))
    return out


class OpenVino:
    """The exported graph in OpenVINO (CPU, 1 thread, f32), ``run`` like a Classifier's."""

    def __init__(self, onnx_bytes: bytes, batch: int, tmp: pathlib.Path):
        import openvino as ov

        path = tmp / "model.onnx"
        path.write_bytes(onnx_bytes)
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.request, self.batch = self.compiled.create_infer_request(), batch
        self.version = importlib.metadata.version("openvino")

    def run(self, xs):
        logits, taps = [], []
        for start in range(0, len(xs), self.batch):
            chunk = np.stack(xs[start : start + self.batch])
            n = len(chunk)
            if n < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - n, *chunk.shape[1:]), chunk.dtype)])
            out = self.request.infer({0: chunk})
            values = [out[o] for o in self.compiled.outputs]
            logits.extend(values[0][:n])
            taps.extend([[t[i : i + 1] for t in values[1:]] for i in range(n)])
        return logits, taps


def engines(model: str, batch: int, cache_dir: pathlib.Path, tmp: pathlib.Path) -> dict:
    with Cache(cache_dir) as cache:
        start = time.perf_counter()
        ort = Classifier(model, batch, 1, taps=True, runtime="onnxruntime", cache=cache)
        ort.loaded_batch()
        print(f"export + ONNX Runtime session (first use, torch loaded): {time.perf_counter() - start:.1f} s wall")
    found = {"torch": Classifier(model, batch, 1, taps=True, runtime="torch"), "onnxruntime": ort}
    found["torch"].loaded_batch()
    try:
        with Cache(cache_dir) as cache:
            data = cache.get(runtimes.EXPORT_KIND, runtimes.export_key(model)).data
        found["openvino"] = OpenVino(data, batch, tmp)
    except ImportError:
        print("OpenVINO: not installed (pip install openvino to measure it)")
    return found


def timed(engines_: dict, xs: list, batch: int, rounds: int):
    """Per engine: core-ms per image of each round (alternated, rotating order), and the outputs."""
    per_round = {name: [] for name in engines_}
    outputs = {}
    names = list(engines_)
    for name in names:  # warm-up (first-run allocations, kernel selection)
        outputs[name] = engines_[name].run(xs[:batch])
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.process_time()
            outputs[name] = engines_[name].run(xs)
            per_round[name].append(1000 * (time.process_time() - start) / len(xs))
    return per_round, outputs


def compare(items: list, ref, out) -> dict:
    """Against the reference's (torch's) logits and taps: max |Δlogit|, argmax and true-rank
    agreement, near-ties, max relative Δdfd."""
    (ref_logits, ref_taps), (logits, taps) = ref, out
    top1_orig = {it[0]: int(ref_logits[i].argmax()) for i, it in enumerate(items) if it[1] is None}
    refs, result = {}, dict(dlogit=0.0, argmax=0, rank=0, ties=0, ddfd=0.0)
    for i, (image_id, q, label, _) in enumerate(items):
        t, o = ref_logits[i], logits[i]
        true = top1_orig[image_id] if label is None else label
        result["dlogit"] = max(result["dlogit"], float(np.abs(t - o).max()))
        result["argmax"] += int(t.argmax()) == int(o.argmax())
        result["rank"] += rank_of(t, true) == rank_of(o, true)
        top = t.max()
        result["ties"] += bool(
            np.count_nonzero(np.abs(t - top) < TIE) > 1 or np.count_nonzero(np.abs(t - t[true]) < TIE) > 1
        )
        if q is None:
            refs[image_id] = (DeepFeatureDistance.reference(ref_taps[i]), DeepFeatureDistance.reference(taps[i]))
            continue
        a = DeepFeatureDistance.distance(refs[image_id][0], ref_taps[i])
        b = DeepFeatureDistance.distance(refs[image_id][1], taps[i])
        result["ddfd"] = max(result["ddfd"], abs(a - b) / abs(a))
    return result


STARTUP = """
import sys, time
t0 = time.perf_counter()
from codecsweep.pipeline import analyze_shard  # what workflow_scripts/analyze.py imports
from codecsweep.pipeline.classify import Classifier
from codecsweep.storage.cache import Cache
Classifier(sys.argv[1], 4, 1, taps=True, runtime=sys.argv[2], cache=Cache(sys.argv[3])).loaded_batch()
print(time.perf_counter() - t0, "torch" in sys.modules)
"""


def startup(model: str, cache_dir: pathlib.Path, runs: int) -> dict:
    """Per runtime: (wall s of the whole interpreter, CPU s, in-process s) of each run, alternated."""
    found = {"torch": [], "onnxruntime": []}
    for r in range(runs):
        for runtime in ["torch", "onnxruntime"] if r % 2 == 0 else ["onnxruntime", "torch"]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", STARTUP, model, runtime, str(cache_dir)],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            )
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            inside, has_torch = out.stdout.split()
            found[runtime].append((wall, cpu, float(inside), has_torch == "True"))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--startup-runs", type=int, default=5)
    ap.add_argument("--qualities", nargs="+", default=["10", "30", "50", "70", "90"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        items = inputs(args.model, args.qualities, tmp / "photos")
        found = engines(args.model, args.batch, tmp / "cache", tmp)
        per_round, outputs = timed(found, [it[3] for it in items], args.batch, args.rounds)
        print(
            f"\n{args.model}, {len(items)} images (6 photos + JPEG q {' '.join(args.qualities)}), "
            f"batches of {args.batch}, 1 thread, {args.rounds} rounds alternated"
        )
        base = statistics.median(per_round["torch"])
        print(
            "| runtime | core-ms/image (median) | speed vs torch | max abs dlogit | argmax agree | true rank agree "
            "| near-ties (1e-4) | max rel ddfd |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, times in per_round.items():
            ms = statistics.median(times)
            c = compare(items, outputs["torch"], outputs[name])
            version = {"torch": runtimes.exporter(), "onnxruntime": f"onnxruntime-{runtimes.ort_version()}"}.get(
                name, f"openvino-{getattr(found[name], 'version', '')}"
            )
            print(
                f"| {version} | {ms:.1f} ({min(times):.1f}-{max(times):.1f}) | {base / ms:.2f}x | {c['dlogit']:.1e} "
                f"| {c['argmax']}/{len(items)} | {c['rank']}/{len(items)} | {c['ties']} | {c['ddfd']:.1e} |"
            )
        if args.startup_runs:
            runs = startup(args.model, tmp / "cache", args.startup_runs)
            print(
                f"\nanalyze job start-up (import + model load), {args.startup_runs} fresh interpreters each, alternated"
            )
            print("| runtime | wall s (median) | CPU s (median) | in-process s (median) | imports torch |")
            print("| --- | --- | --- | --- | --- |")
            for runtime, rows in runs.items():
                wall, cpu, inside = (statistics.median(r[k] for r in rows) for k in range(3))
                print(f"| {runtime} | {wall:.2f} | {cpu:.2f} | {inside:.2f} | {rows[0][3]} |")


if __name__ == "__main__":
    main()
