"""Config errors are caught before any work, naming the key."""

import copy
import struct
import subprocess
import sys
import zlib

import pytest
import yaml
from snakemake.utils import validate

from codecsweep.core import schemas
from codecsweep.study import config as study_config
from codecsweep.study.config import ConfigError, load_study
from tests.conftest import REPO


@pytest.fixture
def config():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["grids"] = [str(REPO / g) for g in cfg["grids"]]
    return cfg


def check(cfg):
    study_config.validate_config(cfg, REPO / "config/schema.yaml")  # as the Snakefile does
    return load_study(cfg)


def test_default_config_is_the_study_grid(config):
    study = check(copy.deepcopy(config))
    assert study.variants_per_image == {"jpeg": 144, "jpeg2000": 144, "hevc": 144}  # 432 in all
    assert study.scales == (1.0, 0.5, 0.25, 0.125) and study.colors == ("rgb", "gray")
    assert study.grids["jpeg2000"][0] == "200,40,20" and study.grids["hevc"][:2] == ("30", "35")


@pytest.mark.parametrize(
    "mutate, message",
    [
        # minimum, exclusiveMinimum, maximum (also inside batch_size's oneOf)
        (lambda c: c["datasets"][0].update(shards=0), "datasets[0].shards is 0; it must be at least 1"),
        (lambda c: c.update(batch_size=0), "batch_size is 0; it must be at least 1"),
        (lambda c: c.update(batch_size={"cpu": 5000}), "batch_size.cpu is 5000; it must be at most 4096"),
        (lambda c: c.update(scales=[0.5, 0]), "scales[1] is 0; it must be more than 0"),
        # enum
        (
            lambda c: c["datasets"][0].update(kind="zip"),
            "datasets[0].kind is 'zip'; allowed: 'sheet', 'folder', 'imagefolder', 'ilsvrc_val'",
        ),
        (
            lambda c: c.update(metrics={"lpips_net": "vgg19"}),
            "metrics.lpips_net is 'vgg19'; allowed: null, 'alex', 'vgg', 'squeeze'",
        ),
        # type
        (lambda c: c.update(models="efficientnet_lite0"), "models is 'efficientnet_lite0'; it must be a list ([a, b])"),
        (lambda c: c.update(batch_size="8"), "batch_size is '8'; it must be an integer or a mapping (key: value)"),
        (
            lambda c: c.update(batch_size={"cpu": 4, "cuda": "big"}),
            "batch_size.cuda is 'big'; it must be an integer or 'auto'",
        ),
        (lambda c: c.update(gpu={"jobs_per_device": 0}), "gpu.jobs_per_device is 0; it must be at least 1"),
        (lambda c: c.update(cache_dir=None), "cache_dir is null; it must be a string"),
        # additionalProperties
        (
            lambda c: c.update(colour="rgb"),
            "unknown key 'colour' (did you mean 'colors'?); allowed: "
            + ", ".join(sorted(yaml.safe_load((REPO / "config/schema.yaml").read_text())["properties"])),
        ),
        (
            lambda c: c.update(metrics={"lpips": "alex"}),
            "unknown key 'lpips' in metrics (did you mean 'lpips_net'?); allowed: dfd_model, lpips_net",
        ),
        # required
        (lambda c: c.pop("encoders"), "the required key 'encoders' is missing (required: datasets, grids, encoders)"),
        (
            lambda c: c["datasets"][0].pop("root"),
            "the required key 'root' is missing in datasets[0] (required: name, kind, root)",
        ),
        # pattern, minItems, uniqueItems
        (
            lambda c: c["datasets"][0].update(name="my photos"),
            "datasets[0].name is 'my photos'; it must match the regular expression ^[A-Za-z0-9_-]+$",
        ),
        (lambda c: c.update(encoders=[]), "encoders is []; it needs at least 1 item"),
        (lambda c: c.update(encoders=["jpeg", "jpeg"]), "encoders is [jpeg, jpeg]; each item may appear once"),
    ],
)
def test_schema_errors_are_one_sentence_naming_key_value_and_what_is_allowed(config, mutate, message):
    """They were jsonschema's text (``Failed validating 'minimum' in schema[...]['shards']``)."""
    mutate(config)
    with pytest.raises(ConfigError) as err:
        check(config)
    assert str(err.value) == message


def test_validate_config_fills_the_defaults_as_snakemake_does(config):
    ours, snakemakes = copy.deepcopy(config), copy.deepcopy(config)
    assert study_config.validate_config(ours) is ours
    validate(snakemakes, str(REPO / "config/schema.yaml"))
    assert ours == snakemakes and ours["metrics"]["lpips_net"] == "alex" and ours["datasets"][0]["shards"] >= 1


@pytest.mark.parametrize(
    "value, want",
    [
        ("0", "batch_size is 0; it must be at least 1"),
        ("big", "batch_size is 'big'; it must be an integer or a mapping"),
    ],
)
def test_the_workflow_says_which_key_is_wrong(value, want):
    """What `snakemake` itself prints for a bad value: the sentence, not jsonschema's dump."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--config", f"batch_size={value}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "ConfigError in file" in out, out[-2000:]
    assert want in out and "Failed validating" not in out, out[-2000:]


def test_semantic_errors_name_the_key(config, tmp_path):
    cfg = copy.deepcopy(config)
    cfg["encoders"] = ["jpeg", "bpg"]
    with pytest.raises(ConfigError, match="encoders: unknown encoder 'bpg'; known: avif, .*hevc, jpeg"):
        check(cfg)
    cfg = copy.deepcopy(config)
    cfg["models"] = ["efficientnet_lite9"]
    with pytest.raises(ConfigError, match="models: unknown model 'efficientnet_lite9'; known: alexnet"):
        check(cfg)
    bad_grid = tmp_path / "g.yaml"
    bad_grid.write_text("encoders:\n  hevc: [30, 60]\n")
    cfg = copy.deepcopy(config)
    cfg["grids"].append(str(bad_grid))
    with pytest.raises(ConfigError, match="grid of encoder 'hevc': hevc: parameter 60 outside 0..51"):
        check(cfg)
    cfg = copy.deepcopy(config)
    cfg["encoders"] = ["jpeg", "webp"]
    cfg["grids"] = cfg["grids"][:1]
    with pytest.raises(ConfigError, match="encoders: 'webp' has no grid in"):
        check(cfg)
    cfg = copy.deepcopy(config)
    cfg["datasets"].append(dict(cfg["datasets"][0]))
    with pytest.raises(ConfigError, match="the name 'default' is used twice"):
        check(cfg)
    cfg = copy.deepcopy(config)
    cfg["grids"] = [str(tmp_path / "nope.yaml")]
    with pytest.raises(ConfigError, match="cannot read grid file"):
        check(cfg)


def test_mem_mb_grows_with_the_shards_largest_image(config, tmp_path):
    from codecsweep.storage import records
    from codecsweep.study.config import MEM_MB

    study = check(copy.deepcopy(config))
    base = {"dataset": "d", "status": "ok", "width": 4000, "height": 3000, "shard": 0}
    rows = [
        records.new_row(schemas.IMAGES, **dict(base, image_id="a")),
        records.new_row(schemas.IMAGES, **dict(base, image_id="b", width=8000, height=6000, shard=1)),
        # rejected: not encoded
        records.new_row(
            schemas.IMAGES, **dict(base, image_id="c", width=9000, height=9000, shard=1, status="rejected")
        ),
    ]
    records.write(rows, schemas.IMAGES, tmp_path / "images.parquet")
    b, per_mp = MEM_MB["analyze"]
    assert study.mem_mb("analyze", tmp_path / "images.parquet", "d", 0) == int(b + per_mp * 12)
    assert study.mem_mb("analyze", tmp_path / "images.parquet", "d", 1) == int(b + per_mp * 48)
    # Before ingest has written the table: a 12 MP guess (Snakemake asks again when the job is ready).
    assert study.mem_mb("encode", tmp_path / "none.parquet", "d", 0) == int(
        MEM_MB["encode"][0] + MEM_MB["encode"][1] * 12
    )


def test_priority_runs_upstream_stages_then_larger_shards_first():
    from codecsweep.study.config import priority

    # Every encode (and originals) job before any analyze job, however large its shard ...
    assert min(priority("encode", 0), priority("classify", 0)) > priority("analyze", 10**9)
    # ... and within a stage the shard listing more files first.
    assert priority("analyze", 5) - priority("analyze", 2) == 3


def header_only_png(path, width: int, height: int) -> None:
    """A PNG whose header says width x height, with almost no data: what the DAG reads of it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def test_ingest_mem_mb_grows_with_the_largest_image_its_manifest_lists(tmp_path):
    """Ingest declared a fixed 2000 MB; a 10000x10000 PNG peaked at 2386. Now: 400 + 24 MB per
    megapixel of the shard's largest image, by the headers of the files its manifest lists."""
    from codecsweep.storage.images import Limits
    from codecsweep.study.datasets import manifests

    base, per_mp = study_config.MEM_MB["ingest"]
    assert (base, per_mp) == (400, 24)
    root = tmp_path / "imgs"
    root.mkdir()
    header_only_png(root / "big.png", 10000, 10000)
    header_only_png(root / "small.png", 640, 480)
    (root / "notes.txt").write_text("not an image")
    spec = {"kind": "folder", "root": str(root), "shards": 1}
    manifest = tmp_path / "shard-0.jsonl"
    manifest.write_text(manifests(spec)[0])
    study = study_config.Study({"d": spec}, (1.0,), ("rgb",), {}, (), (), "", Limits())
    assert study.ingest_mem_mb(manifest) == 400 + 24 * 100 == 2800
    # Over max_pixels, an image is rejected from its header before decoding: it needs nothing.
    tight = study_config.Study({"d": spec}, (1.0,), ("rgb",), {}, (), (), "", Limits(max_pixels=10**6))
    assert tight.ingest_mem_mb(manifest) == int(400 + 24 * 0.3072)
    assert study.ingest_mem_mb(tmp_path / "none.jsonl") == 400 + 24 * 12  # no manifest: the 12 MP guess


def test_the_ingest_job_declares_that_memory(tmp_path):
    """The rule uses it: Snakemake's dry run shows mem_mb of the ingest job of the shard."""
    from tests.workflow import SNAKEMAKE, Project

    p = Project(tmp_path / "s", tmp_path / "cache", images=("chelsea",), encoders=("jpeg",))
    header_only_png(p.root / "data/imgs/big.png", 10000, 6000)
    p.sheet_rows.append(("big", "big.png", ""))
    p.write_sheet()
    proc = subprocess.run(
        [*SNAKEMAKE, "-n", "results/images/t/shard-0.parquet"], cwd=p.root, capture_output=True, text=True, env=p.env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mem_mb=1840," in proc.stdout, proc.stdout[-3000:]  # 400 + 24 × 60 MP
