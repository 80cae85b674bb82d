"""Config errors are caught before any work, naming the key."""

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from codecsweep.core import schemas
from codecsweep.study.config import ConfigError, load_study
from tests.conftest import REPO


@pytest.fixture
def config():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["grids"] = [str(REPO / g) for g in cfg["grids"]]
    return cfg


def check(cfg):
    validate(cfg, str(REPO / "config/schema.yaml"))
    return load_study(cfg)


def test_default_config_is_the_study_grid(config):
    study = check(copy.deepcopy(config))
    assert study.variants_per_image == {"jpeg": 144, "jpeg2000": 144, "hevc": 144}  # 432 in all
    assert study.scales == (1.0, 0.5, 0.25, 0.125) and study.colors == ("rgb", "gray")
    assert study.grids["jpeg2000"][0] == "200,40,20" and study.grids["hevc"][:2] == ("30", "35")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update(batch_size=0), "0 is not valid under any of the given schemas"),
        (lambda c: c.update(colour="rgb"), "'colour' was unexpected"),
        (lambda c: c["datasets"][0].update(kind="zip"), "'zip' is not one of"),
        (lambda c: c.update(models="efficientnet_lite0"), "'efficientnet_lite0' is not of type 'array'"),
    ],
)
def test_schema_rejects(config, mutate, message):
    mutate(config)
    with pytest.raises(WorkflowError, match=message):
        check(config)


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
