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

from codecsweep.storage.images import BadImage, Limits, load_source, path_text
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


# -- issue 26: what a damaged, raw, PostScript or 16-bit file does ---------------------------------


def _tiff_entries(data: bytes, ifd: int) -> list[int]:
    """Offsets of the 12-byte entries of the (little-endian) IFD at ``ifd``."""
    n = struct.unpack("<H", data[ifd : ifd + 2])[0]
    return [ifd + 2 + 12 * i for i in range(n)]


def damaged_second_page_tiff(path: pathlib.Path) -> None:
    """A 2-page TIFF (Pillow's) whose second page lost its width and height tags."""
    frames = [Image.new("RGB", (16, 16), "red"), Image.new("RGB", (16, 16), "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    data = bytearray(path.read_bytes())
    first = struct.unpack("<I", data[4:8])[0]
    entries = _tiff_entries(data, first)
    second = struct.unpack("<I", data[entries[-1] + 12 : entries[-1] + 16])[0]
    for e in _tiff_entries(data, second):
        if struct.unpack("<H", data[e : e + 2])[0] in (256, 257):  # ImageWidth, ImageLength
            data[e : e + 2] = struct.pack("<H", 999)  # an unknown private tag instead
    path.write_bytes(bytes(data))


def test_a_damaged_page_of_a_multipage_tiff_is_a_rejection_not_a_crash(tmp_path, small_photo):
    """Pillow raised ``TypeError: Missing dimensions`` (counting the frames): ingest, catching
    only BadImage/KeyError/OSError, died and the shard's valid images never ran."""
    root = tmp_path / "ds"
    root.mkdir()
    damaged_second_page_tiff(root / "pages.tif")
    small_photo.save(root / "fine.png")
    with pytest.raises(BadImage, match=r"^cannot decode \(TypeError: Missing dimensions\)"):
        load_source(root / "pages.tif")
    rows = {r["image_id"]: r for r in ingest("d", {"kind": "folder", "root": str(root), "shards": 1}, Limits())}
    assert rows["fine"]["status"] == "ok"
    assert rows["pages"]["status"] == "rejected" and rows["pages"]["source_path"] == str(root / "pages.tif")
    assert rows["pages"]["error"] == (
        "cannot decode (TypeError: Missing dimensions): the file is damaged, re-export it"
    )


@pytest.fixture
def no_programs(monkeypatch) -> list:
    """Every way a library could start a program, recorded (and refused): the list must stay empty."""
    import subprocess

    from PIL import EpsImagePlugin

    started = []

    def refuse(name):
        def call(*args, **kwargs):
            started.append((name, args[:1]))
            raise OSError(f"test: {name} refused")

        return call

    monkeypatch.setattr(subprocess, "Popen", refuse("subprocess.Popen"))
    for name in ("posix_spawn", "posix_spawnp", "fork", "system", "execv", "execvp", "execve"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse(f"os.{name}"))
    # Pillow's EPS reader runs Ghostscript (when one is installed): record the attempt itself.
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", refuse("EpsImagePlugin.Ghostscript"))
    return started


def _samples() -> dict[str, bytes]:
    """A small image in every format Pillow and pillow-heif can write (multi-frame ones too)."""
    Image.init()
    base = Image.fromarray((np.arange(24 * 16 * 3).reshape(16, 24, 3) * 7 % 256).astype(np.uint8), "RGB")
    out = {}
    for fmt in sorted(Image.SAVE):
        for mode in ("RGB", "L", "RGBA", "1", "P"):
            buf = io.BytesIO()
            try:
                base.convert(mode).save(buf, format=fmt)
            except Exception:  # a mode (or a stub format: BUFR, GRIB, HDF5, WMF) it cannot write
                continue
            out[fmt] = buf.getvalue()
            break
    for fmt in sorted(Image.SAVE_ALL):
        buf = io.BytesIO()
        try:
            base.save(buf, format=fmt, save_all=True, append_images=[base.rotate(180)])
        except Exception:
            continue
        out[f"{fmt} (2 frames)"] = buf.getvalue()
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on damaged files: expected
def test_fuzzed_files_of_every_registered_format_are_images_or_rejections(tmp_path, no_programs):
    """Byte flips and truncations of every writable format (seeded): load_source returns an
    image or raises BadImage with a reason, never anything else, and starts no program."""
    import random

    rng = random.Random(26)
    samples = _samples()
    assert {"TIFF", "PNG", "JPEG", "HEIF", "AVIF", "EPS", "PDF", "TIFF (2 frames)"} <= set(samples)
    outcomes, crashes = {"ok": 0, "rejected": 0}, []
    for fmt, data in samples.items():
        for i in range(12):
            b = bytearray(data)
            if i % 3 == 0:
                b = b[: rng.randrange(1, len(b))]
            else:  # flips, half of them in the first 64 bytes (the headers)
                for _ in range(rng.randint(1, 8)):
                    b[rng.randrange(min(64, len(b)) if rng.random() < 0.5 else len(b))] = rng.randrange(256)
            path = tmp_path / f"{fmt.split()[0].lower()}-{i}.{'jpg' if i % 2 else 'img'}"
            path.write_bytes(bytes(b))
            try:
                rgb, _ = load_source(path)
                assert rgb.mode == "RGB" and rgb.width * rgb.height > 0
                outcomes["ok"] += 1
            except BadImage as exc:
                assert str(exc), (fmt, i)
                outcomes["rejected"] += 1
            except Exception as exc:
                crashes.append(f"{fmt} #{i}: {type(exc).__name__}: {exc}")
    assert not crashes, crashes
    assert sum(outcomes.values()) >= 300 and min(outcomes.values()) >= 30, outcomes
    assert no_programs == []


def _cr2_like(path: pathlib.Path) -> None:
    """A valid 8x8 gray TIFF laid out as Canon's CR2: header, ``CR`` 2.0 and the raw IFD offset,
    then IFD0 at 16 (what Pillow would happily read as a TIFF)."""
    entries = [(256, 3, 1, 8), (257, 3, 1, 8), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1)]
    data_at = 16 + 2 + 12 * 8 + 4
    entries += [(273, 4, 1, data_at), (277, 3, 1, 1), (279, 4, 1, 64)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0" * 4
    path.write_bytes(b"II*\x00" + struct.pack("<I", 16) + b"CR\x02\x00" + b"\0" * 4 + ifd + bytes(range(64)))


def test_raw_camera_files_are_rejected_with_what_to_do(tmp_path):
    """A DNG is a TIFF whose first page is a small preview: it was read as that 40x30 preview."""
    preview = np.full((30, 40, 3), 90, np.uint8)
    sensor = np.zeros((60, 80), np.uint16)
    dng = [(50706, "B", 4, (1, 4, 0, 0), True)]  # DNGVersion 1.4.0.0
    for name, make, tags in [("shot.dng", "Canon", dng), ("shot.tif", "Canon", dng), ("shot.nef", "NIKON", [])]:
        with tifffile.TiffWriter(tmp_path / name) as tw:
            tw.write(preview, photometric="rgb", subifds=1, extratags=[(271, "s", 0, make, True), *tags])
            tw.write(sensor, photometric=32803, subfiletype=0)  # the sensor's CFA mosaic in a sub-image
    tifffile.imwrite(tmp_path / "shot.arw", preview, photometric="rgb", extratags=[(271, "s", 0, "SONY", True)])
    _cr2_like(tmp_path / "shot.cr2")
    assert Image.open(tmp_path / "shot.cr2").size == (8, 8)  # a TIFF to Pillow
    expect = {
        "shot.dng": "DNG",
        "shot.tif": "DNG",  # the content decides, not the name
        "shot.nef": "Nikon NEF",
        "shot.arw": "Sony ARW",
        "shot.cr2": "Canon CR2",
    }
    for name, kind in expect.items():
        with pytest.raises(BadImage) as err:
            load_source(tmp_path / name)
        assert str(err.value) == (
            f"not an image codecsweep can read: a raw camera file ({kind}): convert it to TIFF/PNG first "
            "(with a raw converter: darktable, RawTherapee, dcraw)"
        ), name
    # A TIFF with a sub-image that is not sensor data (a reduced-resolution copy) is still a TIFF.
    with tifffile.TiffWriter(tmp_path / "pyramid.tif") as tw:
        tw.write(preview, photometric="rgb", subifds=1)
        tw.write(preview[::2, ::2], photometric="rgb", subfiletype=1)
    assert load_source(tmp_path / "pyramid.tif")[0].size == (40, 30)


def test_postscript_is_rejected_and_no_program_ever_starts(tmp_path, no_programs):
    """An EPS named .jpg made Pillow hand it to Ghostscript: only SOURCE_FORMATS are opened."""
    Image.new("RGB", (16, 16), "red").save(tmp_path / "figure.eps", format="EPS")
    (tmp_path / "figure.jpg").write_bytes((tmp_path / "figure.eps").read_bytes())
    (tmp_path / "page.ps").write_text("%!PS-Adobe-3.0\n/Times findfont 12 scalefont setfont\nshowpage\n")
    # A DOS EPS binary header (as Illustrator writes them), then the PostScript.
    dos = b"\xc5\xd0\xd3\xc6" + struct.pack("<6I", 30, 20, 0, 0, 0, 0) + b"\xff\xff"
    (tmp_path / "dos.eps").write_bytes(dos + b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n")
    for name in ("figure.eps", "figure.jpg", "page.ps", "dos.eps"):
        with pytest.raises(BadImage) as err:
            load_source(tmp_path / name)
        assert str(err.value) == (
            "not an image codecsweep can read: an EPS/PostScript (vector) file, which only an external "
            "program (Ghostscript) rasterizes and codecsweep never runs one on input files: "
            "export it as PNG or TIFF first"
        ), name
    assert no_programs == []


def test_only_the_supported_formats_are_tried(tmp_path, monkeypatch, small_photo):
    from codecsweep.storage import images

    assert "EPS" not in images._open_formats() and {"JPEG", "PNG", "TIFF", "HEIF"} <= set(images._open_formats())
    # A name this Pillow lacks (a build without AVIF; IM, deprecated in Pillow 13) is skipped, not a KeyError.
    monkeypatch.setattr(images, "SOURCE_FORMATS", (*images.SOURCE_FORMATS, "NOT_A_FORMAT"))
    small_photo.save(tmp_path / "a.png")
    assert images.load_source(tmp_path / "a.png")[0].size == small_photo.size
    assert images.header_pixels(tmp_path / "a.png") == small_photo.width * small_photo.height


def test_header_pixels_reads_the_size_without_decoding(tmp_path):
    """What ingest's mem_mb rests on (study.config.Study.ingest_mem_mb)."""
    from codecsweep.storage.images import header_pixels

    tifffile.imwrite(tmp_path / "f.tif", np.zeros((30, 40, 3), np.float32), photometric="rgb")  # tifffile's
    Image.new("RGB", (64, 48)).save(tmp_path / "a.heic", format="HEIF")
    (tmp_path / "notes.txt").write_text("text")
    os.mkfifo(tmp_path / "pipe.png")  # never opened: it would block
    assert header_pixels(tmp_path / "f.tif") == 1200 and header_pixels(tmp_path / "a.heic") == 64 * 48
    assert header_pixels(tmp_path / "notes.txt") == header_pixels(tmp_path / "pipe.png") == 0
    assert header_pixels(tmp_path / "a.heic", Limits(max_pixels=1000)) == 0  # rejected before decoding


def _png16(path: pathlib.Path, arr: np.ndarray, color_type: int) -> None:
    """A 16-bit PNG written by hand (Pillow writes no 16-bit colour PNG)."""
    h, w = arr.shape[:2]
    rows = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    body = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def test_16_bit_pngs_record_their_conversion(tmp_path):
    """A 16-bit colour PNG completed with an empty normalization (Pillow reads it as 8-bit RGB)."""
    rgb = np.array([[[0, 65535, 32768], [256, 1000, 65280]]], np.uint16)
    _png16(tmp_path / "rgb16.png", rgb, 2)
    _png16(tmp_path / "rgba16.png", np.concatenate([rgb, np.full((1, 2, 1), 65535, np.uint16)], -1), 6)
    _png16(tmp_path / "gray16.png", rgb[..., 0], 0)
    im, how = load_source(tmp_path / "rgb16.png")
    assert how == "16-bit to 8-bit" and np.asarray(im).tolist() == [[[0, 255, 128], [1, 3, 255]]]
    assert load_source(tmp_path / "rgba16.png")[1] == "16-bit to 8-bit; alpha flattened on white"
    assert load_source(tmp_path / "gray16.png")[1] == "16-bit to 8-bit; L to RGB"  # as before
    Image.new("RGB", (4, 4)).save(tmp_path / "rgb8.png")
    assert load_source(tmp_path / "rgb8.png")[1] == ""


def test_an_hevc_strip_x265_refuses_says_why():
    """x265 refused a 10000x1 strip with libheif's bare "could not be opened with the given parameters"."""
    from codecsweep.codecs import get_encoder

    hevc = get_encoder("hevc")
    with pytest.raises(RuntimeError) as err:
        hevc.encode(Image.new("RGB", (10000, 1)), "35")
    assert str(err.value).startswith(
        "x265 cannot encode this 10000x1 picture: its short side (1 px) is under x265's minimum of 32 px "
        "for a picture whose long side (10000 px) is over 4216 px; a smaller scale of the image may encode "
        "(libheif: "
    )
    # The limits found by trying: a short side under 32 px allows 4216 px, 32 px allows any length.
    for size in ((4216, 1), (1, 4216), (4216, 31), (10000, 32)):
        assert hevc.decode(hevc.encode(Image.new("RGB", size), "35")).size == size
    with pytest.raises(RuntimeError, match="x265 cannot encode this 31x4217 picture"):
        hevc.encode(Image.new("RGB", (31, 4217)), "35")
