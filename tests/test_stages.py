"""Stage functions in-process: what a key's version field change recomputes, and how a
codec's refusal is recorded (no Snakemake here: fast, and the codec can be patched)."""

import pytest
from PIL import Image

from codecsweep.codecs import ENCODERS, get_encoder
from codecsweep.core import schemas
from codecsweep.pipeline import analyze_shard, classify_originals_shard, encode_shard
from codecsweep.storage import records
from codecsweep.storage.images import Limits


@pytest.fixture
def study(tmp_path, small_photo):
    small_photo.save(tmp_path / "a.png")
    Image.new("RGB", (7, 7), (200, 30, 30)).save(tmp_path / "tiny.png")
    rows = [
        {
            "dataset": "d",
            "image_id": "a",
            "source_sha256": "a" * 64,
            "source_path": str(tmp_path / "a.png"),
            "width": small_photo.width,
            "height": small_photo.height,
            "source_bytes": (tmp_path / "a.png").stat().st_size,
            "label": 967,
            "label_wnid": "n07920052",
            "label_name": "espresso",
            "label_source": "annotated",
            "shard": 0,
            "normalization": "",
            "status": "ok",
            "error": None,
        },
        {
            "dataset": "d",
            "image_id": "tiny",
            "source_sha256": "b" * 64,
            "source_path": str(tmp_path / "tiny.png"),
            "width": 7,
            "height": 7,
            "source_bytes": (tmp_path / "tiny.png").stat().st_size,
            "label": None,
            "label_wnid": None,
            "label_name": None,
            "label_source": "pseudo",
            "shard": 0,
            "normalization": "",
            "status": "ok",
            "error": None,
        },
    ]
    records.write(rows, schemas.IMAGES, tmp_path / "images.parquet")
    return tmp_path


def encode(study, encoder, params, scales=(1.0, 0.125)):
    return encode_shard(
        study / "images.parquet",
        "d",
        0,
        {"encoder": encoder, "params": params},
        list(scales),
        ["rgb"],
        study / "cache",
        study / f"v-{encoder}.parquet",
        study / f"s-{encoder}.parquet",
        Limits(),
    )


def test_codec_version_change_recomputes_exactly_its_artifacts(study, monkeypatch):
    first = {e: encode(study, e, p) for e, p in (("jpeg", ["10", "50"]), ("hevc", ["35"]))}
    assert first["jpeg"].computed + first["jpeg"].failed == 8  # 2 images x 2 scales x 2 params
    assert encode(study, "jpeg", ["10", "50"]).computed == 0
    real = ENCODERS["jpeg"].version
    monkeypatch.setattr(ENCODERS["jpeg"], "version", lambda self: real(self) + " (patched)")
    again = encode(study, "jpeg", ["10", "50"])
    assert again.computed == first["jpeg"].computed and again.served == 0
    assert encode(study, "hevc", ["35"]).computed == 0  # other codecs untouched
    rows = records.read(study / "v-jpeg.parquet")
    assert {r["codec_version"] for r in rows} == {real(get_encoder("jpeg")) + " (patched)"}


def test_codec_refusal_is_recorded_not_fatal(study):
    """libwebp refuses images wider than 16383 pixels: a 16400x2 strip is an error row with the
    codec's message at scale 1 and fine at scale 1/8; the other image is unaffected."""
    Image.new("RGB", (16400, 2), (90, 120, 30)).save(study / "strip.png")
    rows = records.read(study / "images.parquet")
    strip = dict(rows[0], image_id="strip", source_sha256="c" * 64, source_path=str(study / "strip.png"))
    records.write(
        rows + [dict(strip, width=16400, height=2, label=None, label_wnid=None, label_name=None)],
        schemas.IMAGES,
        study / "images.parquet",
    )
    stats = encode(study, "webp", ["50"])
    rows = {(r["image_id"], r["scale"]): r for r in records.read(study / "v-webp.parquet")}
    assert [rows[k]["status"] for k in [("a", 1.0), ("a", 0.125), ("strip", 0.125)]] == ["ok", "ok", "ok"]
    refused = rows["strip", 1.0]
    assert refused["status"] == "error" and refused["artifact_sha256"] is None and refused["bytes"] is None
    assert "exceeds WebP limit of 16383 pixels" in refused["error"]
    assert stats.failed == 1 and stats.computed == len(rows) - 1


def test_jpeg2000_encodes_thumbnails_with_fewer_resolution_levels(study):
    """OpenJPEG's 6 levels need 32 px per side: 24x16 and 1x1 get fewer levels instead of an error."""
    stats = encode(study, "jpeg2000", ["50"])
    assert stats.failed == 0
    rows = {(r["image_id"], r["scale"]): r for r in records.read(study / "v-jpeg2000.parquet")}
    assert (rows["tiny", 0.125]["width"], rows["a", 0.125]["width"]) == (1, 24)


def _classify_and_measure(study, tag, models=("efficientnet_lite0",), lpips_net=None, batch_size=3, every=None):
    images = study / "images.parquet"
    originals = {m: study / f"po{tag}-{m}.parquet" for m in models}
    orig = classify_originals_shard(
        images, "d", 0, list(models), study / "cache", originals, study / f"so{tag}.parquet", batch_size=batch_size
    )
    var = analyze_shard(
        images,
        study / "v-jpeg.parquet",
        originals,
        "d",
        0,
        list(models),
        study / "cache",
        {m: study / f"pv{tag}-{m}.parquet" for m in models},
        study / f"m{tag}.parquet",
        study / f"sv{tag}.parquet",
        metric_options={"dfd_model": "efficientnet_lite0", "lpips_net": lpips_net},
        batch_size=batch_size,
    )
    by_stage = {(s.stage, s.model): s for s in var}
    if every is not None:  # every stats row of the analyze job, by (stage, model)
        every.update(by_stage)
    return orig[0], by_stage["classify", models[0]], by_stage["measure", None]


def test_weights_change_reclassifies_exactly_the_dependent_entries(study, monkeypatch):
    from codecsweep.models import weights

    encode(study, "jpeg", ["10", "50"])
    o1, v1, m1 = _classify_and_measure(study, 1)
    assert (o1.computed, v1.computed) == (2, v1.items) and v1.items >= 3 and m1.computed == m1.items
    o2, v2, m2 = _classify_and_measure(study, 2)
    assert (o2.computed, v2.computed, v2.served, m2.computed) == (0, 0, v1.items, 0)
    assert records.read(study / "pv1-efficientnet_lite0.parquet") == records.read(
        study / "pv2-efficientnet_lite0.parquet"
    )
    monkeypatch.setattr(weights, "file_sha256", lambda path: "0" * 64)  # as if the weight file had changed
    o3, v3, m3 = _classify_and_measure(study, 3)
    # The predictions and dfd (its features come from that network) recompute; pixel metrics do not.
    assert (o3.computed, v3.computed, m3.computed) == (2, v1.items, m1.items)
    # batch size 3 vs cache hits: same rows, same order
    assert records.read(study / "pv3-efficientnet_lite0.parquet") == records.read(
        study / "pv1-efficientnet_lite0.parquet"
    )


def test_measure_serves_from_cache_and_fills_columns(study):
    encode(study, "jpeg", ["10", "50"])
    _, _, first = _classify_and_measure(study, 1)
    _, _, second = _classify_and_measure(study, 2)
    assert first.computed == first.items and second.computed == 0 and second.served == first.items
    rows = records.read(study / "m1.parquet")
    assert rows == records.read(study / "m2.parquet")
    big = [r for r in rows if r["image_id"] == "a"]
    assert all(0 < r["ssim"] < 1 and r["dfd"] > 0 and r["lpips"] is None for r in big)
    q10, q50 = sorted((r for r in big if r["scale"] == 1.0), key=lambda r: int(r["param"]))
    assert q10["psnr"] < q50["psnr"] and q10["ssim"] < q50["ssim"] and q10["dfd"] > q50["dfd"]
    tiny = [r for r in rows if r["image_id"] == "tiny"]
    assert all(r["ms_ssim"] is None and r["ssim"] is None and r["psnr"] > 0 for r in tiny)  # 7x7 < 11x11 window


def test_dfd_from_the_classifying_pass_equals_its_definition(study):
    """dfd read off the batched classification pass (hooks, padded batches) equals the
    definition computed on its own: two separate forward passes of original and variant."""
    from codecsweep.codecs import get_encoder
    from codecsweep.metrics import DeepFeatureDistance

    encode(study, "jpeg", ["10", "50"])
    _classify_and_measure(study, 1, batch_size=4)
    rows = [r for r in records.read(study / "m1.parquet") if r["image_id"] == "a"]
    variants = {r["artifact_sha256"]: r for r in records.read(study / "v-jpeg.parquet")}
    source = Image.open(study / "a.png").convert("RGB")
    dfd = DeepFeatureDistance("efficientnet_lite0")
    from codecsweep.storage.cache import Cache

    for row in rows:
        data = Cache(study / "cache").read_blob(row["artifact_sha256"])
        decoded = get_encoder(variants[row["artifact_sha256"]]["encoder"]).decode(data)
        assert row["dfd"] == pytest.approx(dfd.between(source, decoded), rel=1e-4, abs=1e-6)


def test_more_models_in_one_job(study):
    """Two models in one analyze job: each gets its own predictions from the one decode."""
    encode(study, "jpeg", ["50"])
    _, v, m = _classify_and_measure(study, 1, models=("efficientnet_lite0", "efficientnet_lite1"))
    a = records.read(study / "pv1-efficientnet_lite0.parquet")
    b = records.read(study / "pv1-efficientnet_lite1.parquet")
    assert len(a) == len(b) == v.items and {r["model"] for r in b} == {"efficientnet_lite1"}
    assert [r["artifact_sha256"] for r in a] == [r["artifact_sha256"] for r in b]
    assert any(x["true_prob"] != y["true_prob"] for x, y in zip(a, b))


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 12 KiB tmpfs (needs root; skipped elsewhere): a cache that fills up."""
    import subprocess

    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(mount)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_fails_clearly_and_leaves_no_partial_entry(study, tiny_disk):
    from codecsweep.storage.cache import Cache, CacheWriteError

    with pytest.raises(CacheWriteError, match="No space left on device"):
        encode_shard(
            study / "images.parquet",
            "d",
            0,
            {"encoder": "jpeg", "params": ["95", "90", "80"]},
            [1.0],
            ["rgb"],
            tiny_disk,
            study / "v.parquet",
            study / "s.parquet",
            Limits(),
        )
    cache = Cache(tiny_disk)
    assert list((tiny_disk / "tmp").iterdir()) == []  # the failed write's temporary file is gone
    assert cache.verify() == []  # what did get written is complete and verified
    assert not (study / "v.parquet").exists()


def test_a_crashing_job_writes_its_traceback_to_its_log(tmp_path):
    import subprocess
    import sys

    log_file = tmp_path / "logs/job.log"
    code = f"from codecsweep.pipeline import setup_logging; setup_logging({str(log_file)!r}); raise ValueError('boom')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    text = log_file.read_text()
    assert "job failed: ValueError: boom" in text and "Traceback (most recent call last)" in text


def _damage_every_artifact(cache_dir, shas):
    from codecsweep.storage.cache import Cache

    cache = Cache(cache_dir)
    for sha in shas:
        pack, offset, size = cache.locate(sha)
        with open(pack, "r+b") as f:
            f.seek(offset + size - 1)
            last = f.read(1)[0]
            f.seek(offset + size - 1)
            f.write(bytes([last ^ 0xFF]))


def test_damaged_artifacts_are_repaired_and_counted(study):
    """A damaged artifact is encoded again (same bytes), put back, and counted in the analyze
    stage's runstats (measure: corrupt), so the runstats sum to what was damaged."""
    encode(study, "jpeg", ["10"])
    shas = sorted({r["artifact_sha256"] for r in records.read(study / "v-jpeg.parquet") if r["status"] == "ok"})
    _damage_every_artifact(study / "cache", shas)
    _, variants, measure = _classify_and_measure(study, 1)
    assert measure.corrupt == len(shas) and measure.failed == 0 and variants.failed == 0
    _, _, again = _classify_and_measure(study, 2)
    assert again.corrupt == 0 and again.served == again.items  # repaired: a clean rerun


def test_a_variants_table_the_codec_no_longer_reproduces_fails_and_keeps_its_input(study, monkeypatch):
    """Encoding a damaged artifact again gives other bytes (the codec changed under the same
    version): the job fails saying how to re-encode, and never deletes its own input."""
    encode(study, "jpeg", ["10"])
    rows = [r for r in records.read(study / "v-jpeg.parquet") if r["status"] == "ok"]
    _damage_every_artifact(study / "cache", [rows[0]["artifact_sha256"]])
    real = ENCODERS["jpeg"].write
    monkeypatch.setattr(ENCODERS["jpeg"], "write", lambda self, image, param: real(self, image, "11"))
    from codecsweep.storage.cache import CacheCorruptError

    with pytest.raises(CacheCorruptError, match="snakemake --forcerun encode"):
        _classify_and_measure(study, 1)
    assert (study / "v-jpeg.parquet").is_file()


def test_a_damaged_prediction_is_counted_for_its_model_only(study):
    from codecsweep.core.keys import prediction_key
    from codecsweep.models import get_spec, preprocess_id, weights_sha256
    from codecsweep.storage.cache import Cache

    encode(study, "jpeg", ["50"])
    two = ("efficientnet_lite0", "efficientnet_lite1")
    _classify_and_measure(study, 1, models=two)
    artifact = records.read(study / "pv1-efficientnet_lite1.parquet")[0]["artifact_sha256"]
    lite1 = get_spec("efficientnet_lite1")
    key = prediction_key(artifact, lite1.name, weights_sha256(lite1.name), preprocess_id(lite1), False)
    pack, offset, size = Cache(study / "cache")._locations(key)[0]
    with open(study / "cache/packs" / f"{pack}.pack", "r+b") as f:
        f.seek(offset + size - 1)
        last = f.read(1)[0]
        f.seek(offset + size - 1)
        f.write(bytes([last ^ 0xFF]))
    every = {}
    _classify_and_measure(study, 2, models=two, every=every)
    assert (
        every["classify", "efficientnet_lite1"].corrupt == 1 and every["classify", "efficientnet_lite1"].computed == 1
    )
    assert (
        every["classify", "efficientnet_lite0"].corrupt == 0 and every["classify", "efficientnet_lite0"].computed == 0
    )
