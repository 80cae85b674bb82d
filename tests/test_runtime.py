"""ONNX Runtime against PyTorch eager (``models.runtimes``): the same answers on every variant of
a tiny study, the export cached and reused, keys of their own, and a job that imports no torch."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from codecsweep.codecs import get_encoder
from codecsweep.core import schemas
from codecsweep.core.labels import wnid_index
from codecsweep.metrics.deep import DeepFeatureDistance, normalized_distance
from codecsweep.metrics.groups import DfdGroup
from codecsweep.models import rank_of, runtimes
from codecsweep.pipeline import encode_shard
from codecsweep.pipeline.classify import Classifier
from codecsweep.storage import records
from codecsweep.storage.cache import Cache
from codecsweep.storage.images import Limits
from codecsweep.study.datasets import _read_sheet, materialize_default

REPO = pathlib.Path(__file__).resolve().parent.parent
MODEL = "efficientnet_lite0"
QUALITIES = ("5", "20", "50", "90")
TIE = 1e-4


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The six default photographs, shorter side 160 px, with their annotated class (or None)."""
    root = tmp_path_factory.mktemp("photos")
    materialize_default(root)
    out = {}
    for entry in _read_sheet(REPO / "config/datasets/default.tsv"):
        im = Image.open(root / entry["path"]).convert("RGB")
        scale = 160 / min(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
        out[entry["image_id"]] = (im, wnid_index(entry["label_wnid"]) if entry.get("label_wnid") else None)
    return out


@pytest.fixture(scope="module")
def ort_cache(tmp_path_factory):
    """A cache holding the export (made here: the only export of this module)."""
    root = tmp_path_factory.mktemp("cache")
    before = runtimes.EXPORTS[MODEL]
    with Cache(root) as cache:
        Classifier(MODEL, 4, 1, runtime="onnxruntime", cache=cache).loaded_batch()
    return root, runtimes.EXPORTS[MODEL] - before


@pytest.fixture(scope="module")
def study(photos, ort_cache):
    """Every variant of the tiny study (originals, and JPEG at QUALITIES through the real
    encoder) classified in both runtimes, batches of 4 with taps: per runtime (logits, taps)."""
    jpeg = get_encoder("jpeg")
    items = []  # (image_id, variant, preprocessed)
    nets = {
        "torch": Classifier(MODEL, 4, 1, taps=True, runtime="torch"),
        "onnxruntime": Classifier(MODEL, 4, 1, taps=True, runtime="onnxruntime", cache=Cache(ort_cache[0])),
    }
    for image_id, (im, _) in photos.items():
        for q in (None, *QUALITIES):
            decoded = im if q is None else jpeg.decode(jpeg.encode(im, q))
            items.append((image_id, q, nets["torch"].preprocess(decoded)))
    runs = {name: net.run([x for *_, x in items]) for name, net in nets.items()}
    return items, runs


def test_the_export_is_made_once_then_served_by_the_cache(ort_cache):
    root, exported = ort_cache
    assert exported == 1
    before = runtimes.EXPORTS[MODEL]
    for _ in range(2):
        with Cache(root) as cache:
            model = runtimes.load_onnx(MODEL, cache)
            assert cache.counts[runtimes.EXPORT_KIND, "hit"] == 1 and cache.counts[runtimes.EXPORT_KIND, "put"] == 0
    assert runtimes.EXPORTS[MODEL] == before
    assert model.outputs == ["logits", "tap0", "tap1", "tap2", "tap3", "tap4"]


def test_logits_top1_and_true_rank_agree_on_every_variant(study, photos):
    items, runs = study
    (t_logits, _), (o_logits, _) = runs["torch"], runs["onnxruntime"]
    originals = {image_id: i for i, (image_id, q, _) in enumerate(items) if q is None}
    near_ties, worst = 0, 0.0
    for i, (image_id, _, _) in enumerate(items):
        t, o = t_logits[i], o_logits[i]
        worst = max(worst, float(np.abs(t - o).max()))
        assert int(t.argmax()) == int(o.argmax()), (image_id, items[i][1])
        true = photos[image_id][1]
        true = int(t_logits[originals[image_id]].argmax()) if true is None else true  # pseudo label
        close = int(np.count_nonzero(np.abs(t - t[true]) < TIE)) - 1  # classes within 1e-4 of the true one
        near_ties += close > 0
        assert abs(rank_of(t, true) - rank_of(o, true)) <= close, (image_id, items[i][1])
    print(f"\n{len(items)} variants: max |dlogit| {worst:.2e}, near-ties (within {TIE}) of the true class: {near_ties}")
    assert worst < 1e-4
    assert near_ties <= 2  # measured: 0 of 30


def test_dfd_from_onnxruntime_taps_equals_pytorch_s(study):
    items, runs = study
    (_, t_taps), (_, o_taps) = runs["torch"], runs["onnxruntime"]
    assert isinstance(o_taps[0][0], np.ndarray) and isinstance(t_taps[0][0], torch.Tensor)
    ref = {}
    for i, (image_id, q, _) in enumerate(items):
        if q is None:
            ref[image_id] = (DeepFeatureDistance.reference(t_taps[i]), DeepFeatureDistance.reference(o_taps[i]))
            continue
        t = DeepFeatureDistance.distance(ref[image_id][0], t_taps[i])
        o = DeepFeatureDistance.distance(ref[image_id][1], o_taps[i])
        assert o == pytest.approx(t, rel=1e-5), (image_id, q)


def test_the_numpy_distance_equals_the_torch_one(study):
    """The same taps through both implementations of ``normalized_distance`` (1e-6 relative)."""
    items, runs = study
    t_taps = runs["torch"][1]
    for i in range(0, len(items), 5):
        for j in range(i + 1, i + 5):
            t = float(normalized_distance(t_taps[i], t_taps[j])[0])
            n = float(normalized_distance([f.numpy() for f in t_taps[i]], [f.numpy() for f in t_taps[j]])[0])
            assert n == pytest.approx(t, rel=1e-6)
    same = [f.numpy() for f in t_taps[0]]
    assert float(normalized_distance(same, same)[0]) == 0.0


def test_results_do_not_depend_on_batch_mates_in_onnxruntime(study, ort_cache):
    """Bit for bit: an image alone (zero padding), or among others at another place of the batch."""
    items, runs = study
    net = Classifier(MODEL, 4, 1, taps=True, runtime="onnxruntime", cache=Cache(ort_cache[0]))
    xs = [x for *_, x in items]
    alone_logits, alone_taps = net.run([xs[7]])
    mates_logits, mates_taps = net.run([xs[3], xs[12], xs[7]])
    for logits, taps, n in ((alone_logits, alone_taps, 0), (mates_logits, mates_taps, 2)):
        assert np.array_equal(logits[n], runs["onnxruntime"][0][7])
        assert all(np.array_equal(a, b) for a, b in zip(taps[n], runs["onnxruntime"][1][7]))


def test_the_runtime_is_in_the_prediction_key_and_the_dfd_id(ort_cache):
    torch_net = Classifier(MODEL, 4, 1, runtime="torch")
    ort_net = Classifier(MODEL, 4, 1, runtime="onnxruntime")
    assert torch_net.runtime_id is None and ort_net.runtime_id.startswith("onnxruntime-")
    for is_original in (True, False):
        assert torch_net.key("cd" * 32, is_original) != ort_net.key("cd" * 32, is_original)
    plain = DfdGroup({"dfd_model": MODEL}).id
    assert DfdGroup({"dfd_model": MODEL, "runtime": "torch"}).id == plain
    ort_id = DfdGroup({"dfd_model": MODEL, "runtime": "onnxruntime"}).id
    assert ort_id == f"{plain}:{ort_net.runtime_id}"


def test_auto_is_onnxruntime_on_a_cpu_and_torch_with_cuda(monkeypatch):
    assert runtimes.cuda_available() == torch.cuda.is_available()  # the torch-free check agrees with torch
    lite, bf16 = (runtimes.get_spec(n) for n in (MODEL, f"{MODEL}_bf16"))
    monkeypatch.setattr(runtimes, "cuda_available", lambda: False)
    assert [runtimes.resolve_runtime(c, lite) for c in runtimes.CHOICES] == ["onnxruntime", "torch", "onnxruntime"]
    assert runtimes.resolve_runtime("auto", bf16) == "torch"
    with pytest.raises(ValueError, match="fp32 models only"):
        runtimes.resolve_runtime("onnxruntime", bf16)
    with pytest.raises(ValueError, match="unknown runtime"):
        runtimes.resolve_runtime("tensorrt", lite)
    monkeypatch.setattr(runtimes, "cuda_available", lambda: True)
    assert runtimes.resolve_runtime("auto", lite) == "torch"
    assert runtimes.resolve_runtime("onnxruntime", lite) == "onnxruntime"  # an explicit choice holds


JOB = """
import json, sys
from codecsweep.pipeline import analyze_shard, classify_originals_shard
d, m = sys.argv[1:]
orig = {m: d + "/po.parquet"}
classify_originals_shard(d + "/images.parquet", "d", 0, [m], d + "/cache", orig, d + "/so.parquet",
                         runtime="onnxruntime")
analyze_shard(d + "/images.parquet", d + "/v.parquet", orig, "d", 0, [m], d + "/cache",
              {m: d + "/pv.parquet"}, d + "/m.parquet", d + "/sv.parquet",
              metric_options={"dfd_model": m, "lpips_net": None}, runtime="onnxruntime")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "lpips"))))
"""


def test_a_job_on_onnxruntime_with_a_cached_export_imports_no_torch(photos, ort_cache, tmp_path):
    """Classify the originals and analyze their JPEG variants in a fresh interpreter."""
    cache = ort_cache[0]
    rows = []
    for image_id in ("coffee", "chelsea"):
        im, label = photos[image_id]
        im.save(tmp_path / f"{image_id}.png")
        rows.append(
            records.new_row(
                schemas.IMAGES,
                **dict(dataset="d", image_id=image_id, source_sha256=image_id[0] * 64, shard=0, status="ok"),
                **dict(source_path=str(tmp_path / f"{image_id}.png"), width=im.width, height=im.height),
                **dict(source_bytes=(tmp_path / f"{image_id}.png").stat().st_size, label=label),
                label_source="annotated",
                normalization="",
            )
        )
    records.write(rows, schemas.IMAGES, tmp_path / "images.parquet")
    encode_shard(
        *(tmp_path / "images.parquet", "d", 0, {"encoder": "jpeg", "params": ["20", "80"]}, [1.0], ["rgb"]),
        *(cache, tmp_path / "v.parquet", tmp_path / "s.parquet", Limits()),
    )
    (tmp_path / "cache").symlink_to(cache)
    out = subprocess.run(
        [sys.executable, "-c", JOB, str(tmp_path), MODEL], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    metrics = records.read(tmp_path / "m.parquet")
    assert len(metrics) == 4 and all(r["status"] == "ok" and r["dfd"] > 0 for r in metrics)
    predictions = records.read(tmp_path / "pv.parquet") + records.read(tmp_path / "po.parquet")
    assert all(r["status"] == "ok" for r in predictions)
    assert {r["runtime"] for r in predictions} == {runtimes.runtime_id("onnxruntime")}  # the column says what ran
    assert [r["computed"] for r in records.read(tmp_path / "so.parquet")] == [2]  # ONNX Runtime ran
