"""jpeg_mo and its sensitivity map; jpeg_opt and jpeg444 (codecsweep/sensitivity.py, machine_jpeg.py)."""

import copy
import dataclasses
import hashlib
import io
import json

import numpy as np
import pytest
import scipy.fft
import torch
import torch.nn.functional as F
from PIL import Image

from codecsweep import sensitivity as S
from codecsweep.codecs import get_encoder, ijg
from codecsweep.codecs.machine import JpegMachine
from codecsweep.core.keys import sensitivity_key
from codecsweep.models import get_spec, preprocess_id
from codecsweep.pipeline import sensitivity as job

LITE_PRE = {n: preprocess_id(get_spec(n)) for n in ("efficientnet_lite0", "efficientnet_lite1")}
ZIGZAG = [
    [0, 1, 5, 6, 14, 15, 27, 28],
    [2, 4, 7, 13, 16, 26, 29, 42],
    [3, 8, 12, 17, 25, 30, 41, 43],
    [9, 11, 18, 24, 31, 40, 44, 53],
    [10, 19, 23, 32, 39, 45, 52, 54],
    [20, 22, 33, 38, 46, 51, 55, 60],
    [21, 34, 37, 47, 50, 56, 59, 61],
    [35, 36, 48, 49, 57, 58, 62, 63],
]


def markers(data: bytes) -> dict[int, list[bytes]]:
    """The segments of a JPEG file before its scan: {marker: [payload, ...]}."""
    out, i = {}, 2
    assert data[:2] == b"\xff\xd8"
    while data[i] == 0xFF and data[i + 1] != 0xDA:
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        out.setdefault(data[i + 1], []).append(data[i + 4 : i + 2 + length])
        i += 2 + length
    return out


def dqt_tables(data: bytes) -> dict[int, list[int]]:
    """The quantization tables of a JPEG file, read from its DQT segments, in natural order."""
    tables = {}
    for seg in markers(data)[0xDB]:
        while seg:
            assert seg[0] >> 4 == 0, "8-bit (baseline) table"
            zz = seg[1:65]
            tables[seg[0] & 15] = [zz[ZIGZAG[r][c]] for r in range(8) for c in range(8)]
            seg = seg[65:]
    return tables


def sof(data: bytes) -> tuple[int, list[tuple[int, int, int]]]:
    """(SOF marker, [(component id, sampling h*16+v, table)])."""
    found = markers(data)
    m = next(k for k in found if 0xC0 <= k <= 0xC3)
    seg = found[m][0]
    return m, [tuple(seg[6 + 3 * i : 9 + 3 * i]) for i in range(seg[5])]


def a_map(seed: int = 0) -> dict:
    """A plausible map: falling with frequency, noisy, sums to 1."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    s = np.stack([np.exp(-(u + v) / k) * rng.uniform(0.5, 1.5, (8, 8)) for k in (4, 2, 2.5)])
    s /= s.sum()
    return {c: S._round(s[i]) for i, c in enumerate(ijg.CHANNELS)}


def a_doc(key="k" * 64, seed=0) -> dict:
    sens = a_map(seed)
    return {"key": key, "sensitivity": sens, "map_sha256": ijg.map_sha256(sens)}


# -- DCT and gradients -----------------------------------------------------------------------


def test_block_dct_is_scipy_orthonormal_dct():
    c = S.dct_matrix()
    np.testing.assert_allclose(c @ c.T, np.eye(8), atol=1e-14)
    x = np.random.default_rng(1).normal(size=(16, 24))
    ours = S.block_dct(x)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(
                ours[i, j], scipy.fft.dctn(x[8 * i : 8 * i + 8, 8 * j : 8 * j + 8], norm="ortho")
            )
    with pytest.raises(ValueError, match="12x16"):
        S.block_dct(np.zeros((12, 16)))


def _luma_coefficient(rgb, u, v, block=(0, 0)):
    """DCT coefficient (u, v) of one luma block, computed from decoded RGB (torch)."""
    r, g, b = rgb[0]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    by, bx = block
    c = torch.from_numpy(S.dct_matrix())
    return (c @ y[8 * by : 8 * by + 8, 8 * bx : 8 * bx + 8] @ c.T)[u, v]


def test_loss_of_one_dct_coefficient_peaks_there():
    rgb = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    # loss = 3 * coefficient (2, 3) of luma block (0, 0): its gradient there is 3, zero elsewhere.
    s = S.image_sensitivity(rgb, lambda x: 3 * _luma_coefficient(x, 2, 3))
    expected = np.zeros((3, 8, 8))
    expected[0, 2, 3] = 9 / 4  # 3 squared, averaged over the 4 luma blocks
    np.testing.assert_allclose(s, expected, atol=1e-12)
    assert np.unravel_index(s.argmax(), s.shape) == (0, 2, 3)


def test_gradient_through_chroma_subsampling_by_hand():
    # loss = sum of R = sum(Y + 1.402 (Cr - 128)): dL/dY = 1 per pixel; a subsampled Cr sample
    # feeds 4 pixels (bilinear weights sum to 2 per axis), so dL/dCr = 4 * 1.402; Cb: 0.
    rgb = np.random.default_rng(3).integers(0, 256, (16, 32, 3), dtype=np.uint8)
    g = S.plane_gradients(rgb, lambda x: x[0, 0].sum())
    np.testing.assert_allclose(g["Y"], np.ones((16, 32)))
    np.testing.assert_allclose(g["Cr"], np.full((8, 16), 4 * 1.402))
    np.testing.assert_allclose(g["Cb"], 0, atol=1e-12)
    s = S.image_sensitivity(rgb, lambda x: x[0, 0].sum())
    # DCT of a constant block c: DC = 8 c (orthonormal), the rest 0.
    assert s[0, 0, 0] == pytest.approx(64) and s[2, 0, 0] == pytest.approx((8 * 4 * 1.402) ** 2)
    s[:, 0, 0] = 0
    np.testing.assert_allclose(s, 0, atol=1e-12)


def test_classifier_gradient_matches_finite_difference():
    """The real classifier: the DCT-domain gradient of its loss against a finite difference
    along one luma DCT basis function (in float64, so the difference is exact enough)."""
    from codecsweep.models import load_model

    loaded = load_model("efficientnet_lite0", "cpu")
    model = dataclasses.replace(loaded, module=copy.deepcopy(loaded.module).double())
    rgb = np.asarray(Image.open(io.BytesIO(_png_photo())).convert("RGB"))[:64, :64]
    loss = S.classifier_loss(model, 967)
    grads = S.plane_gradients(rgb, loss)
    coef = S.block_dct(grads["Y"])[2, 3, 1, 2]  # block (2, 3), frequency (1, 2)
    basis = np.zeros((64, 64))
    c = S.dct_matrix()
    basis[16:24, 24:32] = np.outer(c[1], c[2])  # the orthonormal basis image of that coefficient
    # The point of the gradient: the image as 4:2:0 decodes it (chroma 2x2 means, upsampled).
    x = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float64))
    y, cb, cr = S._ycbcr(x)
    chroma = torch.stack([cb, cr])[None]
    chroma = F.interpolate(F.avg_pool2d(chroma, 2), scale_factor=2, mode="bilinear", align_corners=False)[0]
    x = S._rgb(y, chroma[0], chroma[1])[None]
    step = torch.from_numpy(basis)[None, None]  # adding it to Y adds it to R, G and B alike
    with torch.no_grad():
        fd = (loss(x + 1e-5 * step) - loss(x - 1e-5 * step)).item() / 2e-5
    assert coef == pytest.approx(fd, rel=1e-4)
    assert abs(coef) > 1e-6


def _png_photo() -> bytes:
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.coffee()).resize((96, 64)).save(buf, "PNG")
    return buf.getvalue()


def test_calibrate_normalizes_each_image_and_uses_pseudo_labels():
    from codecsweep.models import load_model

    model = load_model("efficientnet_lite0", "cpu")
    rgb = np.asarray(Image.open(io.BytesIO(_png_photo())).convert("RGB"))
    with torch.no_grad():
        top1 = int(S._logits(model, torch.from_numpy(rgb.transpose(2, 0, 1)).double()[None]).argmax())
    pseudo = S.calibrate([rgb], [None], model)
    explicit = S.calibrate([rgb], [top1], model)
    assert pseudo == explicit
    assert sum(sum(map(sum, pseudo[c])) for c in ijg.CHANNELS) == pytest.approx(1, rel=1e-5)


# -- tables ------------------------------------------------------------------------------------


def test_flat_map_gives_the_ijg_rate_and_inverse_square_root_steps():
    flat = {c: [[1.0] * 8] * 8 for c in ijg.CHANNELS}
    base = ijg.base_tables(flat)
    # By hand: every step is the geometric mean of the IJG tables, luma counted 4 times (4:2:0).
    logs = 4 * np.log(ijg.IJG_LUMA).sum() + 2 * np.log(ijg.IJG_CHROMA).sum()
    np.testing.assert_allclose(base, np.exp(logs / (6 * 64)))
    sharp = copy.deepcopy(flat)
    sharp["Y"][0] = [4.0] + [1.0] * 7  # 4x as sensitive: half the step of the others
    b = ijg.base_tables(sharp)
    assert b[0, 0, 0] == pytest.approx(b[0, 0, 1] / 2)


def test_tables_valid_and_monotone_in_quality():
    base = ijg.base_tables(a_map())
    previous = None
    for q in range(1, 101):
        tables = ijg.tables_for(base, q)
        assert len(tables) == 3 and all(len(t) == 64 for t in tables)
        assert all(1 <= v <= 255 and isinstance(v, int) for t in tables for v in t)
        now = np.array(tables)
        if previous is not None:
            assert np.all(now <= previous), q  # higher quality: never a larger step
            assert now.sum() < previous.sum() or now.max() == 1 or previous.min() == 255, q
        previous = now
    assert ijg.tables_for(base, 50) == [[int(v) for v in t.ravel()] for t in np.clip(np.floor(base + 0.5), 1, 255)]


def test_ijg_scale_matches_pillow_quality_on_the_standard_tables(small_photo):
    """Our scaling of the IJG tables is libjpeg's: Pillow's quality=q writes the same tables."""
    standard = np.stack([ijg.IJG_LUMA, ijg.IJG_CHROMA, ijg.IJG_CHROMA])
    for q in (1, 5, 20, 50, 75):
        buf = io.BytesIO()
        small_photo.save(buf, "JPEG", quality=q)
        written = dqt_tables(buf.getvalue())
        ours = ijg.tables_for(standard, q)
        assert written[0] == ours[0] and written[1] == ours[1], q


# -- the encoders ------------------------------------------------------------------------------


@pytest.fixture
def jpeg_mo():
    return JpegMachine(sensitivity_map=a_doc())


def test_jpeg_mo_file_is_standard_jpeg_with_our_tables(jpeg_mo, small_photo):
    from torchvision.io import decode_jpeg

    for image, n_tables in ((small_photo, 3), (small_photo.convert("L"), 1)):
        data = jpeg_mo.encode(image, "20")
        tables = dqt_tables(data)
        assert [tables[i] for i in range(n_tables)] == jpeg_mo.qtables(20, n_tables == 1)
        marker, comps = sof(data)
        assert marker == 0xC0  # baseline (Huffman optimization keeps it baseline)
        assert [t for _, _, t in comps] == list(range(n_tables))
        pil = np.asarray(jpeg_mo.decode(data))
        other = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8)).numpy()  # torchvision's libjpeg
        other = other[0] if n_tables == 1 else other.transpose(1, 2, 0)
        assert pil.shape == other.shape and np.array_equal(pil, other)
        assert jpeg_mo.payload_bytes(data) < len(data)
        assert [s for _, s, _ in comps] == ([0x22, 0x11, 0x11] if n_tables == 3 else [0x11])  # 4:2:0


def test_jpeg_mo_rate_falls_with_quality(jpeg_mo, small_photo):
    sizes = [len(jpeg_mo.encode(small_photo, str(q))) for q in (1, 5, 20, 50, 90)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 3


def test_jpeg_opt_same_pixels_fewer_bytes_and_jpeg444_full_chroma(small_photo):
    jpeg, opt, full = get_encoder("jpeg"), get_encoder("jpeg_opt"), get_encoder("jpeg444")
    for q in ("5", "50"):
        a, b = jpeg.encode(small_photo, q), opt.encode(small_photo, q)
        assert np.array_equal(np.asarray(jpeg.decode(a)), np.asarray(opt.decode(b)))  # Huffman coding is lossless
        assert len(b) < len(a) and dqt_tables(a) == dqt_tables(b)
        assert [s for _, s, _ in sof(full.encode(small_photo, q))[1]] == [0x11, 0x11, 0x11]
        assert [s for _, s, _ in sof(a)[1]] == [0x22, 0x11, 0x11]


# -- keys and the split --------------------------------------------------------------------------


def test_sensitivity_key_changes_with_weights_and_calibration_set():
    cal = [("a" * 64, 1), ("b" * 64, None)]
    k = sensitivity_key("efficientnet_lite0", "w" * 64, LITE_PRE["efficientnet_lite0"], cal)
    assert k == sensitivity_key(
        "efficientnet_lite0", "w" * 64, LITE_PRE["efficientnet_lite0"], cal[::-1]
    )  # a set: order does not count
    assert k != sensitivity_key("efficientnet_lite0", "x" * 64, LITE_PRE["efficientnet_lite0"], cal)
    assert k != sensitivity_key("efficientnet_lite0", "w" * 64, LITE_PRE["efficientnet_lite0"], cal[:1])
    assert k != sensitivity_key(
        "efficientnet_lite0", "w" * 64, LITE_PRE["efficientnet_lite0"], [("a" * 64, 2), ("b" * 64, None)]
    )
    assert k != sensitivity_key("efficientnet_lite1", "w" * 64, LITE_PRE["efficientnet_lite1"], cal)


def test_jpeg_mo_artifact_key_follows_the_map():
    with pytest.raises(RuntimeError, match="built without a sensitivity map"):
        get_encoder("jpeg_mo").artifact_key("s" * 64, "v", 1.0, "rgb", "20")
    keys = [
        get_encoder("jpeg_mo", sensitivity_map=doc).artifact_key("s" * 64, "v", 1.0, "rgb", "20")
        for doc in (a_doc("1" * 64), a_doc("2" * 64), a_doc("1" * 64, seed=5), a_doc("1" * 64))
    ]
    assert len(set(keys[:3])) == 3 and keys[3] == keys[0]
    with pytest.raises(RuntimeError, match="built without"):  # encoders are immutable: no global map
        get_encoder("jpeg_mo").settings  # noqa: B018


def test_split_is_stable_when_images_are_added():
    ids = [f"img{i:03d}" for i in range(200)]
    rows = lambda names: [{"dataset": "d", "image_id": n, "status": "ok"} for n in names]  # noqa: E731
    small = {r["image_id"]: r["calibration"] for r in job.split_rows(rows(ids[:50]), 4)}
    large = {r["image_id"]: r["calibration"] for r in job.split_rows(rows(ids), 4)}
    assert all(large[k] == v for k, v in small.items())
    for n in ids:  # by hand: sha256 of the salted id, its first 8 hex digits, mod 4
        assert large[n] == (int(hashlib.sha256(f"calibration:{n}".encode()).hexdigest()[:8], 16) % 4 == 0)
    assert 30 < sum(large.values()) < 70  # about a quarter


def test_read_map_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / "m.json"
    doc = dict(a_doc(), model="m")
    ijg.write_map(doc, path)
    assert ijg.read_map(path)["map_sha256"] == doc["map_sha256"]
    doc["sensitivity"]["Y"][0][0] = 0.5
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"m\.json.*map_sha256 does not match"):
        ijg.read_map(path)
    path.write_text("{")
    with pytest.raises(ValueError, match=r"m\.json"):
        ijg.read_map(path)


# -- end to end --------------------------------------------------------------------------------


@pytest.mark.slow
def test_workflow_with_jpeg_mo(tmp_path):
    """The tests' tiny project with jpeg_mo: split, map, variants, predictions; then a new
    calibration set recomputes exactly jpeg_mo's variants."""
    import duckdb

    from codecsweep.models import weights_sha256
    from codecsweep.storage.cache import Cache
    from tests.workflow import TINY_GRID, Project, computed

    grid = dict(TINY_GRID, encoders={"jpeg": [10, 50], "jpeg_mo": [10, 50]})
    p = Project(tmp_path / "study", tmp_path / "cache", encoders=("jpeg", "jpeg_mo"))
    (p.root / "config/grids/tiny.yaml").write_text(json.dumps(grid))
    p.config["sensitivity"] = {"calibration_buckets": 4}  # coffee: bucket 0; chelsea: held out
    p.write_config()
    stats = p.run()
    assert computed(stats, "encode:jpeg_mo") == 8 and computed(stats, "classify:efficientnet_lite0:jpeg_mo") == 8
    con = duckdb.connect()
    split = con.execute(f"SELECT image_id, calibration FROM '{p.root}/results/splits/t.parquet' ORDER BY 1").fetchall()
    assert split == [("chelsea", False), ("coffee", True)]
    doc = ijg.read_map(p.root / "results/sensitivity/t/efficientnet_lite0.json")
    coffee = con.execute(
        f"SELECT source_sha256, label FROM '{p.root}/results/images/t/*.parquet' WHERE image_id = 'coffee'"
    )
    sha, label = coffee.fetchone()
    assert doc["calibration"] == [{"image_id": "coffee", "source_sha256": sha, "label": label}]
    assert doc["key"] == sensitivity_key(
        "efficientnet_lite0", weights_sha256("efficientnet_lite0"), LITE_PRE["efficientnet_lite0"], [(sha, label)]
    )
    # The variants in the cache carry the tables made from that map, as a decoder reads them.
    enc = JpegMachine(sensitivity_map=doc)
    rows = con.execute(
        f"SELECT artifact_sha256, param FROM read_parquet('{p.root}/results/variants/t/jpeg_mo/*.parquet')"
    ).fetchall()
    for artifact, param in rows:
        tables = dqt_tables(Cache(tmp_path / "cache").read_blob(artifact))
        assert [tables[i] for i in range(3)] == enc.qtables(int(param), False)
    n = con.execute(
        f"SELECT count(*) FROM read_parquet('{p.root}/results/predictions/**/*.parquet') WHERE encoder = 'jpeg_mo'"
    ).fetchone()[0]
    assert n == 8

    # Both images calibrate now: a new map key, so jpeg_mo's variants are recomputed, JPEG's not.
    p.config["sensitivity"] = {"calibration_buckets": 2}
    p.write_config()
    stats = p.run(*(f"results/variants/t/{e}/shard-0.parquet" for e in ("jpeg", "jpeg_mo")))
    assert stats["encode:jpeg_mo"]["computed"] == 8 and "encode:jpeg" not in stats
    assert ijg.read_map(p.root / "results/sensitivity/t/efficientnet_lite0.json")["key"] != doc["key"]
