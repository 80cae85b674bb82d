"""Learned codecs (CompressAI) with stand-in weights: randomly initialized models saved under
CompressAI's exact file names in a temporary TORCH_HOME (real architectures, real entropy
coder; the weights are not trained, so only the machinery is checked, not the quality)."""

import struct

import numpy as np
import pytest
import torch
from PIL import Image

from codecsweep.codecs import get_encoder, learned
from codecsweep.models import MissingWeights
from codecsweep.storage.images import prepare

FACTORIZED = "cai_bmshj2018_factorized_mse"
MEAN = "cai_mbt2018_mean_mse"


def write_stand_in_weights(name: str, seed: int = 0, qualities=None) -> None:
    """A randomly initialized model's state_dict per quality level, under CompressAI's file name."""
    from compressai.zoo.image import cfgs, model_architectures

    enc = get_encoder(name)
    for q, path in enc.weight_paths().items():
        if qualities is not None and q not in qualities:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed * 100 + q)
        torch.save(model_architectures[enc.architecture](*cfgs[enc.architecture][q]).state_dict(), path)


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("torch_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(home))
        mp.delenv(learned.DEVICE_ENV, raising=False)
        write_stand_in_weights(FACTORIZED)
        write_stand_in_weights(MEAN)
    return home


@pytest.fixture(autouse=True)
def _env(torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.delenv(learned.DEVICE_ENV, raising=False)


@pytest.fixture(scope="module")
def image(small_photo):
    return small_photo.resize((96, 64), Image.Resampling.LANCZOS)


def _header(data: bytes) -> tuple:
    """The container header unpacked by hand (independent of ``learned.Container``)."""
    return struct.unpack(">4sBBBBBHHBBBBB", data[:18])


@pytest.mark.parametrize("name", [FACTORIZED, MEAN])
def test_round_trip_size_mode_and_byte_count(name, image):
    enc = get_encoder(name)
    data = enc.encode(image, "3")
    assert data == enc.encode(image, "3"), "same machine, same bytes"
    out = enc.decode(data)
    assert out.mode == "RGB" and out.size == (96, 64)
    magic, fmt, arch, metric, quality, channels, w, h, *pad, n = _header(data)
    assert (magic, fmt, quality, channels, w, h) == (b"CSLC", 1, 3, 3, 96, 64)
    assert learned.ARCHITECTURES[arch] == enc.architecture and learned.METRICS[metric] == "mse"
    assert pad == [16, 16, 0, 0]  # 96 -> 128 wide, centered; 64 high needs none
    # The strings: factorized has y only; the hyperprior models y then z.
    assert n == (1 if name == FACTORIZED else 2)
    pos, lengths = 18, []
    for _ in range(n):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        lengths.append(length)
        pos += 4 + length
    assert pos == len(data), "the container is header + length-prefixed strings, nothing else"
    assert enc.payload_bytes(data) == sum(lengths) == len(data) - 18 - 4 * n


def test_decoded_pixels_are_the_synthesis_of_the_quantized_latent(image):
    """Second implementation: g_s(round(y - median) + median), without the entropy coder."""
    enc = get_encoder(FACTORIZED)
    data = enc.encode(image, "2")
    model = enc._model(2)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    x = torch.nn.functional.pad(x, (16, 16, 0, 0))
    with torch.inference_mode():
        y = model.g_a(x)
        eb = model.entropy_bottleneck
        y_hat = eb.quantize(y, "dequantize", eb._get_medians())
        ref = model.g_s(y_hat).clamp(0, 1)[0, :, :, 16:112]
    ref = (ref.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(enc.decode(data)), ref)


def test_gray_is_fed_as_three_equal_channels_and_decodes_to_gray(image):
    enc = get_encoder(MEAN)
    gray = prepare(image, 1, "gray")
    data = enc.encode(gray, "2")
    rgb_data = enc.encode(Image.merge("RGB", [gray] * 3), "2")
    # Same model input, so the same strings; only the header's channel count differs.
    assert _header(data)[5] == 1 and _header(rgb_data)[5] == 3
    assert data[:8] + data[9:] == rgb_data[:8] + rgb_data[9:]
    out = enc.decode(data)
    assert out.mode == "L" and out.size == gray.size
    np.testing.assert_array_equal(np.asarray(out), np.asarray(enc.decode(rgb_data).convert("L")))


def test_small_downscaled_image_round_trips(small_photo):
    enc = get_encoder(MEAN)
    im = prepare(small_photo, 0.125, "rgb")  # 24 x 16: padded to 64 x 64
    data = enc.encode(im, "1")
    assert _header(data)[8:12] == (20, 20, 24, 24)
    assert enc.decode(data).size == (24, 16)


def test_source_metadata_does_not_reach_the_bytes(image):
    enc = get_encoder(FACTORIZED)
    tagged = image.copy()
    tagged.info.update(comment=b"codecsweep-comment-marker", icc_profile=b"x" * 64)
    assert enc.encode(tagged, "1") == enc.encode(image, "1")


def test_missing_weights_name_the_file_the_folder_and_the_command(tmp_path, monkeypatch, image):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    enc = get_encoder(MEAN)
    with pytest.raises(MissingWeights) as err:
        enc.encode(image, "3")
    msg = str(err.value)
    assert "mbt2018-mean-3-723404a8.pth.tar" in msg and "mbt2018-mean-8-8089ae3e.pth.tar" in msg
    assert str(tmp_path / "hub" / "checkpoints") in msg
    assert "python -m codecsweep fetch-weights cai_mbt2018_mean_mse" in msg
    with pytest.raises(MissingWeights, match="mbt2018-mean-1-e522738d.pth.tar"):
        enc.version()


def test_key_changes_with_the_weights_and_the_device(tmp_path, monkeypatch):
    import shutil

    from codecsweep.core.weights import torch_cache_dir

    enc = get_encoder(FACTORIZED)
    v1 = enc.version()
    assert v1.startswith("compressai 1.2.8 ")
    key = lambda version: get_encoder(FACTORIZED).artifact_key("ab" * 32, version, 1.0, "rgb", "3")  # noqa: E731
    # A copy of the cache in which one quality's file is another model.
    shutil.copytree(torch_cache_dir(), tmp_path / "hub" / "checkpoints")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert enc.version() == v1, "same files, same version"
    write_stand_in_weights(FACTORIZED, seed=1, qualities={8})
    v2 = enc.version()
    assert v2 != v1 and key(v2) != key(v1)
    # The device is a setting: CUDA-made bytes never share a key with CPU-made ones.
    cpu_key = key(v2)
    monkeypatch.setenv(learned.DEVICE_ENV, "cuda")
    assert enc.settings["device"] == "cuda" and key(v2) != cpu_key


def test_quality_range_and_names():
    assert get_encoder("cai_cheng2020_attn_msssim").canonical_param(6) == "6"
    with pytest.raises(ValueError, match="outside 1..6"):
        get_encoder("cai_cheng2020_anchor_mse").canonical_param(7)
    with pytest.raises(ValueError, match="outside 1..8"):
        get_encoder(MEAN).canonical_param(0)
    assert len(learned.LEARNED) == 12
    assert learned.weights_file("mbt2018-mean", "ms-ssim", 8) == "mbt2018-mean-ms-ssim-8-0cc7b94f.pth.tar"


def test_bad_containers_are_named(image):
    enc = get_encoder(MEAN)
    data = enc.encode(image, "1")
    with pytest.raises(ValueError, match="no b'CSLC' header"):
        enc.decode(b"\xff\xd8" + data[2:])
    with pytest.raises(ValueError, match="truncated"):
        enc.decode(data[:-1])
    with pytest.raises(ValueError, match="holds mbt2018-mean"):
        get_encoder(FACTORIZED).decode(data)


@pytest.mark.slow
def test_end_to_end_with_a_learned_codec(tmp_path, torch_home):
    """A real Snakemake run of the tiny project with cai_mbt2018_mean_mse at 2 qualities."""
    import duckdb
    import yaml

    from tests.workflow import TINY_GRID, Project, computed

    p = Project(tmp_path / "study", tmp_path / "cache", encoders=(MEAN,))
    grid = dict(TINY_GRID, encoders={MEAN: [1, 6]})
    (p.root / "config/grids/tiny.yaml").write_text(yaml.safe_dump(grid))
    p.env["TORCH_HOME"] = str(torch_home)  # the stand-in weights reach the jobs through the environment
    stats = p.run()
    assert computed(stats, f"encode:{MEAN}") == 2 * 4  # 2 images x 2 scales x 2 qualities
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT v.bytes, v.payload_bytes, v.width, v.height, v.codec_version, m.psnr "
        f"FROM read_parquet('{p.root}/results/variants/**/*.parquet') v "
        f"JOIN read_parquet('{p.root}/results/metrics/**/*.parquet') m USING (image_id, encoder, scale, color, param)"
    ).fetchall()
    assert len(rows) == 8
    for size, payload, _, _, version, psnr in rows:
        assert size == payload + 18 + 4 * 2 and version.startswith("compressai 1.2.8") and psnr > 0
    n_pred = con.execute(
        f"SELECT count(*) FROM read_parquet('{p.root}/results/predictions/**/*.parquet') WHERE encoder = '{MEAN}'"
    ).fetchone()[0]
    assert n_pred == 8
    assert MEAN in (p.root / "reports/tables/param_table.csv").read_text()
    assert MEAN in (p.root / "reports/summary.md").read_text()


def test_the_learned_grid_runs_at_the_study_scales_and_colors():
    import yaml
    from snakemake.utils import validate

    from codecsweep.study.config import load_study
    from tests.conftest import REPO

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["grids"] = [str(REPO / g) for g in cfg["grids"]]
    cfg["encoders"] = ["jpeg", *learned.LEARNED]
    validate(cfg, str(REPO / "config/schema.yaml"))
    study = load_study(cfg)
    assert study.scales == (1.0, 0.5, 0.25, 0.125) and study.colors == ("rgb", "gray")
    assert study.grids[MEAN] == tuple(str(q) for q in range(1, 9))
    assert study.grids["cai_cheng2020_attn_msssim"] == ("1", "2", "3", "4", "5", "6")
    assert study.variants_per_image[MEAN] == 4 * 2 * 8


def test_fetch_weights_keeps_present_files(capsys):
    from codecsweep.cli import main

    assert main(["fetch-weights", FACTORIZED]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and all(line.endswith("(present)") for line in lines)
    assert "bmshj2018-factorized-prior-8-5232faa3.pth.tar" in lines[-1]
