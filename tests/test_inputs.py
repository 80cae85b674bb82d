"""Every input a user can have: a generated corpus of odd names, links, formats and pixel
conventions, each with its exact outcome; config that cannot work; a replaced source; and
one end-to-end run on a folder dataset that mixes bad files with two valid images."""

from __future__ import annotations

import copy
import io
import os
import pathlib
import struct
import time
import zlib

import numpy as np
import pytest
import tifffile
import yaml
from PIL import Image, ImageCms, PngImagePlugin

from codecsweep.storage.images import Limits, load_source, path_text
from codecsweep.study.config import ConfigError, check_inputs, load_study
from codecsweep.study.datasets import ingest, manifests, write_if_changed
from tests.conftest import REPO

HEIF_OK = "from HEIF"


def adobe_like_icc() -> bytes:
    """An RGB matrix/TRC profile with Adobe RGB (1998) primaries: Pillow's sRGB profile with
    its colorant tags replaced (D50-adapted XYZ of Adobe RGB) and its name changed."""
    b = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    n = struct.unpack(">I", b[128:132])[0]
    tags = {
        bytes(b[132 + 12 * i : 136 + 12 * i]): struct.unpack(">I", b[136 + 12 * i : 140 + 12 * i])[0] for i in range(n)
    }
    colorants = {
        b"rXYZ": (0.6097, 0.3111, 0.0195),
        b"gXYZ": (0.2053, 0.6257, 0.0609),
        b"bXYZ": (0.1492, 0.0632, 0.7446),
    }
    for sig, xyz in colorants.items():
        off = tags[sig]
        b[off + 8 : off + 20] = b"".join(struct.pack(">i", round(v * 65536)) for v in xyz)
    return bytes(b).replace("sRGB built-in".encode("utf-16-be"), "AdobeRGB-like".encode("utf-16-be"))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def build_corpus(root: pathlib.Path, outside: pathlib.Path, photo: Image.Image) -> dict:
    """Write one file per class; return {file name (relative, as stored): (status, text in reason/normalization)}."""
    root.mkdir(parents=True)
    outside.mkdir(parents=True)
    small = photo.resize((64, 48))
    expect = {}

    def ok(rel, im, fmt, text="", **kw):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        im.save(p, format=fmt, **kw)
        expect[path_text(rel)] = ("ok", text)

    # 13.1: names are data
    for rel in ("{dataset}.png", "{x}.png", "new\nline.png", "-dash.png", 'quote\'s "q".png', "sub/inner.png"):
        ok(rel, small, "PNG")
    ok(os.fsdecode(b"bytes\xff\xfe.png"), small, "PNG")
    # 13.2: duplicates and links
    ok("dup.png", small, "PNG")
    ok("dup.jpg", small, "JPEG")
    small.save(outside / "elsewhere.png")
    (root / "outside.png").symlink_to(outside / "elsewhere.png")
    expect["outside.png"] = ("ok", f"symlink to {outside / 'elsewhere.png'}")
    (root / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    expect["dangling.jpg"] = ("rejected", "dangling symlink")
    (root / "loop.png").symlink_to(root / "loop.png")
    expect["loop.png"] = ("rejected", "symlink cannot be resolved")
    (root / "linkdir").symlink_to(outside)
    expect["linkdir"] = ("rejected", "symlink to a folder")
    # 13.3: every format the libraries read, everything else rejected with a reason
    ok("photo.heic", small, "HEIF", HEIF_OK)
    ok("photo.avif", small, "AVIF", "from AVIF")
    ok("photo.jp2", small, "JPEG2000", "from JPEG2000")
    ok("heif-named.jpg", small, "HEIF", "HEIF content in a file named .jpg")
    (root / "drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    expect["drawing.svg"] = ("rejected", "an SVG (vector) image: rasterize it to PNG first")
    (root / "doc.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)))
    expect["doc.pdf"] = ("rejected", "a PDF document, not a raster image")
    (root / "notes.txt").write_text("shopping list\n")
    expect["notes.txt"] = ("rejected", "not an image: the file is text")
    os.mkfifo(root / "pipe.png")
    expect["pipe.png"] = ("rejected", "not a regular file")
    # 13.4: pixel conventions, frames, ICC
    ramp = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64)
    tifffile.imwrite(root / "float01.tif", ramp)
    expect["float01.tif"] = ("ok", "float (float32) 0..1 to 8-bit")
    tifffile.imwrite(root / "floatrgb.tif", np.stack([ramp] * 3, -1), photometric="rgb")
    expect["floatrgb.tif"] = ("ok", "float (float32) 0..1 to 8-bit")
    tifffile.imwrite(root / "float1000.tif", ramp * 1000)
    expect["float1000.tif"] = ("rejected", "float pixels span 0..1000, not 0..1")
    tifffile.imwrite(root / "signed16.tif", np.array([[-32768, 0, 32767]] * 2, dtype=np.int16))
    expect["signed16.tif"] = ("ok", "signed 16-bit shifted to 8-bit")
    tifffile.imwrite(root / "u12.tif", np.array([[[0, 4095, 2048]] * 3] * 2, dtype=np.uint16), photometric="rgb")
    expect["u12.tif"] = ("ok", "12-bit (in 16-bit) to 8-bit")
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "green", "blue")]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    expect["anim.gif"] = ("ok", "first of 3 frames")
    tifffile.imwrite(root / "pages.tif", np.zeros((2, 8, 8), np.uint8))
    expect["pages.tif"] = ("ok", "first of 2 frames")
    ok(
        "adobe.jpg",
        Image.new("RGB", (8, 8), (60, 150, 80)),
        "JPEG",
        "ICC profile 'AdobeRGB-like' converted to sRGB",
        quality=100,
        icc_profile=adobe_like_icc(),
    )
    # 13.8: reasons a user can act on
    buf = io.BytesIO()
    small.save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[29] ^= 0xFF  # the IHDR checksum
    (root / "crc.png").write_bytes(bytes(data))
    expect["crc.png"] = ("rejected", "damaged PNG (broken PNG file (bad header checksum in b'IHDR'))")
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "a" * (PngImagePlugin.MAX_TEXT_CHUNK + 1), zip=True)
    small.save(root / "bigtext.png", pnginfo=info)
    expect["bigtext.png"] = ("rejected", "a PNG text (metadata) chunk inflates past Pillow's safety limit")
    return expect


def test_corpus_every_file_has_its_exact_outcome(tmp_path, photo):
    root = tmp_path / "ds"
    expect = build_corpus(root, tmp_path / "outside", photo)
    rows = ingest("c", {"kind": "folder", "root": str(root), "shards": 2}, Limits())
    by_file = {str(pathlib.Path(r["source_path"]).relative_to(root)): r for r in rows}
    # Every file in the root is a row: an image or a rejection, nothing vanished.
    assert sorted(by_file) == sorted(expect)
    for rel, (status, text) in expect.items():
        r = by_file[rel]
        assert r["status"] == status, (rel, r["error"])
        got = r["normalization"] if status == "ok" else r["error"]
        assert (got == "") if text == "" else (text in got), (rel, got)
    ids = {r["image_id"]: r for r in rows}
    assert ids["dup.jpg"]["status"] == ids["dup.png"]["status"] == "ok" and "dup" not in ids
    assert ids["{dataset}"]["status"] == "ok" and ids["sub/inner"]["status"] == "ok"
    assert ids["bytes\\xff\\xfe"]["source_path"] == str(root) + "/bytes\\xff\\xfe.png"
    # The escaped name still leads the stages (which call load_source) to the file.
    assert load_source(ids["bytes\\xff\\xfe"]["source_path"])[0].size == (64, 48)


def test_pixel_conventions_give_the_right_values(tmp_path):
    ramp = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    tifffile.imwrite(tmp_path / "f.tif", ramp)
    assert np.asarray(load_source(tmp_path / "f.tif")[0])[0, :, 0].tolist() == [0, 128, 255]
    tifffile.imwrite(tmp_path / "s.tif", np.array([[-32768, 0, 32767]], dtype=np.int16))
    # (v + 32768) / 65535 * 255: 0, 127.5 -> 128 (round half to even of 127.502), 255
    assert np.asarray(load_source(tmp_path / "s.tif")[0])[0, :, 0].tolist() == [0, 128, 255]
    tifffile.imwrite(tmp_path / "u.tif", np.array([[[0, 4095, 2048]]], dtype=np.uint16), photometric="rgb")
    assert np.asarray(load_source(tmp_path / "u.tif")[0])[0, 0].tolist() == [0, 255, 128]  # 2048/4095*255 = 127.5
    full = np.array([[[0, 65535, 32768]]], dtype=np.uint16)
    tifffile.imwrite(tmp_path / "u16.tif", full, photometric="rgb")
    rgb, how = load_source(tmp_path / "u16.tif")
    assert np.asarray(rgb)[0, 0].tolist() == [0, 255, 128] and how == "from TIFF (tifffile); 16-bit to 8-bit"
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "green")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert load_source(tmp_path / "a.gif")[0].getpixel((0, 0)) == (255, 0, 0)  # the first frame


def test_icc_profile_is_converted_to_srgb(tmp_path):
    Image.new("RGB", (8, 8), (60, 150, 80)).save(tmp_path / "a.png", icc_profile=adobe_like_icc())
    rgb, how = load_source(tmp_path / "a.png")
    r, g, b = rgb.getpixel((0, 0))
    # Adobe RGB's green is more saturated than sRGB's: the same numbers are a purer green in sRGB.
    assert r < 20 and abs(g - 150) <= 3 and abs(b - 75) <= 5, (r, g, b)
    assert how == "ICC profile 'AdobeRGB-like' converted to sRGB"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (8, 8), (60, 150, 80)).save(tmp_path / "s.png", icc_profile=srgb)
    assert load_source(tmp_path / "s.png")[1] == "" and load_source(tmp_path / "s.png")[0].getpixel((0, 0)) == (
        60,
        150,
        80,
    )


def test_sheet_duplicate_ids_are_rejected_naming_both_lines(tmp_path, small_photo):
    small_photo.save(tmp_path / "a.png")
    small_photo.save(tmp_path / "b.png")
    (tmp_path / "s.tsv").write_text("\ufeffimage_id\tpath\nx\ta.png\nx\tb.png\n", encoding="utf-8")  # with a BOM
    rows = ingest(
        "t", {"kind": "sheet", "root": str(tmp_path), "sheet": str(tmp_path / "s.tsv"), "shards": 1}, Limits()
    )
    assert [(r["image_id"], r["status"]) for r in rows] == [("x", "ok"), ("x (duplicate, line 3)", "rejected")]
    assert f"line 2: {tmp_path}/a.png; line 3: {tmp_path}/b.png" in rows[1]["error"]


def test_manifest_changes_when_a_source_is_replaced(tmp_path, small_photo):
    small_photo.save(tmp_path / "a.png")
    (tmp_path / "s.tsv").write_text("image_id\tpath\na\ta.png\nb\tgone.png\n")
    spec = {"kind": "sheet", "root": str(tmp_path), "sheet": str(tmp_path / "s.tsv"), "shards": 1}
    out = tmp_path / "m/t.jsonl"
    assert write_if_changed(out, manifests(spec)[0]) and not write_if_changed(out, manifests(spec)[0])
    time.sleep(0.01)
    small_photo.rotate(90).save(tmp_path / "a.png")  # same path, new bytes
    assert write_if_changed(out, manifests(spec)[0])
    assert '"error": "No such file or directory"' in out.read_text()


@pytest.fixture
def config(tmp_path):
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["grids"] = [str(REPO / g) for g in cfg["grids"]]
    (tmp_path / "imgs").mkdir()
    (tmp_path / "s.tsv").write_text("image_id\tpath\n")
    cfg["datasets"] = [{"name": "t", "kind": "sheet", "root": str(tmp_path / "imgs"), "sheet": str(tmp_path / "s.tsv")}]
    cfg["cache_dir"] = str(tmp_path / "cache")
    return cfg


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c, t: c["datasets"][0].update(root=str(t / "nope")), "datasets: 't' root: {t}/nope does not exist"),
        (
            lambda c, t: c["datasets"][0].update(sheet=str(t / "no.tsv")),
            "datasets: 't' sheet: {t}/no.tsv does not exist",
        ),
        (
            lambda c, t: c.update(cache_dir=str(t / "s.tsv/cache")),
            "cache_dir: {t}/s.tsv/cache is not a writable folder (Not a directory)",
        ),
        (
            lambda c, t: (t / "s.tsv").write_text("image_id\tpath\nx\t../up.png\n"),
            "datasets: 't' sheet: {t}/s.tsv:2: path '../up.png' must be relative",
        ),
    ],
)
def test_config_that_cannot_work_fails_at_load_naming_the_key(config, tmp_path, mutate, message):
    check_inputs(load_study(copy.deepcopy(config)))  # the unmutated config passes
    mutate(config, tmp_path)
    with pytest.raises(ConfigError) as err:
        check_inputs(load_study(config))
    assert str(err.value).startswith(message.format(t=tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_cache_dir_fails_at_load(config, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    config["cache_dir"] = str(ro / "cache")
    with pytest.raises(ConfigError, match="cache_dir: .* is not a writable folder"):
        check_inputs(load_study(config))


@pytest.mark.slow
def test_folder_with_bad_files_runs_end_to_end(tmp_path, photo):
    from tests.workflow import Project, _rows, tiny_photo

    p = Project(tmp_path / "s", tmp_path / "cache", encoders=("jpeg",))
    root = p.root / "data/folder"
    root.mkdir()
    tiny_photo("chelsea").save(root / "{dataset}.png")  # a Snakemake pattern as a file name
    tiny_photo("coffee").save(root / "coffee.heic", format="HEIF")
    (root / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    (root / "notes.txt").write_text("not a picture")
    (root / "drawing.svg").write_text("<svg/>")
    (root / "empty.png").write_bytes(b"")
    tifffile.imwrite(root / "float1000.tif", np.full((8, 8), 1000.0, np.float32))
    p.config["datasets"] = [{"name": "f", "kind": "folder", "root": "data/folder", "shards": 1}]
    p.write_config()
    p.run()
    images = {r["image_id"]: r for r in _rows(f"SELECT * FROM read_parquet('{p.root}/results/images/f/*.parquet')")}
    assert sorted(i for i, r in images.items() if r["status"] == "ok") == ["coffee", "{dataset}"]
    variants = _rows(f"SELECT image_id, status FROM read_parquet('{p.root}/results/variants/**/*.parquet')")
    assert sorted((v["image_id"], v["status"]) for v in variants) == [("coffee", "ok")] * 4 + [("{dataset}", "ok")] * 4
    rejected = {line.split(",")[1]: line for line in (p.root / "reports/rejected.csv").read_text().splitlines()[1:]}
    assert sorted(rejected) == ["dangling", "drawing", "empty", "float1000", "notes"]
    assert "dangling symlink" in rejected["dangling"] and "rasterize it to PNG" in rejected["drawing"]
    assert "empty file" in rejected["empty"] and "float pixels span 1000..1000" in rejected["float1000"]
    assert "the file is text" in rejected["notes"]
    # A source replaced in place (same name, new bytes) reruns ingest and gives the new hash.
    old_sha = images["coffee"]["source_sha256"]
    time.sleep(0.01)
    tiny_photo("grace_hopper").save(root / "coffee.heic", format="HEIF")
    p.run()
    new = _rows(
        f"SELECT source_sha256 FROM read_parquet('{p.root}/results/images/f/*.parquet') WHERE image_id = 'coffee'"
    )
    assert new[0]["source_sha256"] != old_sha
