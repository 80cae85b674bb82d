"""Source images: validation, normalization to 8-bit RGB, scaling, shards.

Every source becomes one canonical 8-bit sRGB image before anything else sees it, and how
it got there is recorded (``normalization``, "; "-separated steps):
- formats: the raster formats Pillow decodes in-process (``SOURCE_FORMATS``, passed to
  ``Image.open``: never EPS, which Pillow hands to Ghostscript), plus HEIF/HEIC (pillow-heif's
  opener) and TIFFs Pillow cannot represent (float, signed, 16-bit colour) through tifffile; a
  file whose content is another format than its suffix says is read and the mismatch recorded;
  raw camera files (DNG, NEF, CR2, ARW, ... whose first TIFF page is only a preview), PDF,
  EPS/PostScript and SVG are rejected with what to do;
- a decoder's failure, whatever it raises, is a ``BadImage`` naming its message (one damaged
  file never stops the others); only ``MemoryError`` passes through (the job, not the file);
- multi-frame files (animated GIF/PNG/WebP, multi-page TIFF, HEIF sequences): the first frame,
  recorded as "first of N frames";
- EXIF/TIFF orientation is applied (what a viewer shows is what is encoded);
- an embedded ICC profile that is not sRGB is converted to sRGB (``PIL.ImageCms``, perceptual
  intent): the classifiers were trained on sRGB;
- pixel values: 16-bit to 8-bit by the type's range (16-bit colour PNGs: Pillow keeps the high
  byte, recorded the same way); a 16-bit file whose largest value is at
  most 4095 is taken as 12-bit data (cameras and instruments store 12 bits in 16); float data
  must lie in 0..1; signed integers with negative values are shifted by half their range;
- transparency (RGBA, LA, palette with a transparent index) is flattened onto white;
- CMYK, palette and grayscale sources are converted to RGB.

Downscaling before encoding uses Lanczos (Pillow ``LANCZOS``); decoded variants are brought
back to the source size with bicubic (``BICUBIC``) for full-reference metrics.
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import re
import stat
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageOps, PngImagePlugin

pillow_heif.register_heif_opener()  # HEIC/HEIF, the same in every dataset kind and stage

DOWNSCALE_FILTER = Image.Resampling.LANCZOS
UPSCALE_FILTER = Image.Resampling.BICUBIC
# Our own, configurable guard (Limits.max_pixels, checked on the header before decoding)
# replaces Pillow's fixed decompression-bomb limit, so the error names the config key.
Image.MAX_IMAGE_PIXELS = None


class BadImage(ValueError):
    """A source that cannot be used; the message says why (and what to do, where there is a fix)."""


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 100_000_000
    max_file_bytes: int = 200 * 1024 * 1024


def shard_of(image_id: str, shards: int) -> int:
    """Stable shard of an image: adding images never moves the existing ones."""
    return int(hashlib.sha256(image_id.encode("utf-8", "surrogateescape")).hexdigest()[:8], 16) % shards


def path_text(path) -> str:
    """A path as text that Parquet/CSV can hold: bytes that are not UTF-8 (allowed in Linux
    file names) become ``\\xNN``; ``text_path`` reverses it."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def text_path(text: str) -> pathlib.Path:
    """The file a ``path_text`` names (the text itself when no escaped bytes are in it)."""
    if "\\x" not in text or os.path.lexists(text):
        return pathlib.Path(text)
    raw = re.sub(rb"\\x([89a-f][0-9a-f])", lambda m: bytes([int(m.group(1), 16)]), text.encode())
    return pathlib.Path(os.fsdecode(raw))


# Which format a suffix promises, to record (not reject) content of another format.
SUFFIX_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".avif": "AVIF",
    ".jp2": "JPEG2000",
    ".j2k": "JPEG2000",
    ".jpx": "JPEG2000",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pbm": "PPM",
}

#: What ``Image.open`` may read a source as: the raster formats Pillow (and pillow-heif's HEIF
#: opener) decode in-process. Left out: EPS (Pillow runs Ghostscript on it, never on input files),
#: the stubs that need an external handler (BUFR, GRIB, HDF5, WMF) and what holds no picture (MPEG,
#: IPTC). JPEG includes MPO; PDF is not a format Pillow reads.
SOURCE_FORMATS = (
    "JPEG", "PNG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "HEIF", "AVIF", "JPEG2000", "PPM", "TGA", "QOI",
    "ICO", "CUR", "ICNS", "PCX", "DCX", "SGI", "PSD", "DDS", "BLP", "FTEX", "GBR", "IM", "IMT", "MCIDAS",
    "MSP", "PCD", "PIXAR", "SPIDER", "SUN", "XBM", "XPM", "XVTHUMB", "FLI", "FITS",
)  # fmt: skip


def _open_formats() -> list[str]:
    """``SOURCE_FORMATS`` this Pillow has, in its own order of trying (``Image.open`` fails
    on a name it does not know: a build without AVIF, a format a later release removes)."""
    Image.init()
    return [f for f in Image.ID if f in SOURCE_FORMATS]


RAW_ADVICE = "convert it to TIFF/PNG first (with a raw converter: darktable, RawTherapee, dcraw)"

#: Suffixes of raw camera formats: a TIFF-structured file named so is taken as raw.
RAW_SUFFIXES = {
    ".dng", ".nef", ".nrw", ".cr2", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".pef", ".srw", ".3fr",
    ".erf", ".kdc", ".dcr", ".mef", ".mos", ".iiq", ".rwl", ".raw",
}  # fmt: skip

# Formats codecsweep does not rasterize: (magic test, reason with what to do).
_UNSUPPORTED = [
    (lambda h: h.startswith(b"%PDF"), "a PDF document, not a raster image: export its pages as PNG or JPEG"),
    (
        lambda h: h.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")),
        "an EPS/PostScript (vector) file, which only an external program (Ghostscript) rasterizes and "
        "codecsweep never runs one on input files: export it as PNG or TIFF first",
    ),
    (
        lambda h: b"<svg" in h.lower() or (h.lstrip().startswith(b"<?xml") and b"svg" in h.lower()),
        "an SVG (vector) image: rasterize it to PNG first",
    ),
    (lambda h: h[4:12] == b"ftypcrx ", f"a raw camera file (Canon CR3): {RAW_ADVICE}"),
    (lambda h: h[:4] in (b"IIRO", b"IIRS", b"MMOR"), f"a raw camera file (Olympus ORF): {RAW_ADVICE}"),
    (lambda h: h[:4] == b"IIU\x00", f"a raw camera file (Panasonic RW2): {RAW_ADVICE}"),
    (lambda h: h.startswith(b"FUJIFILMCCD-RAW"), f"a raw camera file (Fujifilm RAF): {RAW_ADVICE}"),
    (lambda h: h[6:14] == b"HEAPCCDR", f"a raw camera file (Canon CRW): {RAW_ADVICE}"),
    (lambda h: h[:4] == b"\x00MRM", f"a raw camera file (Minolta MRW): {RAW_ADVICE}"),
    (lambda h: h[:4] == b"FOVb", f"a raw camera file (Sigma X3F): {RAW_ADVICE}"),
]


def _sniff(path: pathlib.Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(512)


def _is_tiff(head: bytes) -> bool:
    return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _unidentified_reason(path: pathlib.Path, head: bytes) -> str:
    """Why Pillow could not open a file, as precisely as the first bytes allow."""
    for test, reason in _UNSUPPORTED:
        if test(head):
            return f"not an image codecsweep can read: {reason}"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        try:  # Pillow's PNG reader says what is broken (e.g. a bad header checksum)
            PngImagePlugin.PngImageFile(path).close()
        except MemoryError:
            raise
        except Exception as exc:  # whatever the reader raises, its message says what is broken
            return f"damaged PNG ({exc}): re-export the file from its source"
    if head.startswith(b"\xff\xd8\xff"):
        return "damaged JPEG (it starts like a JPEG but its header cannot be parsed): re-export it"
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head) / max(1, len(head))
    if printable > 0.95:
        return "not an image: the file is text"
    return f"not an image Pillow or pillow-heif can identify (first bytes {head[:8].hex()})"


_ORIENT = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}


def _blockwise(arr: np.ndarray, fn) -> np.ndarray:
    """``fn`` (elementwise, to uint8) over blocks of about a million samples: the same values as
    on the whole array, with float temporaries of a block, not of a 100-megapixel image (each
    would be 8 bytes a sample)."""
    out = np.empty(arr.shape, np.uint8)
    step = max(1, (1 << 20) // max(1, arr[0].size))
    for i in range(0, len(arr), step):
        out[i : i + step] = fn(arr[i : i + step])
    return out


def _to_8bit(arr: np.ndarray, twelve_bit_rule: bool) -> tuple[np.ndarray, str]:
    """Integer or float samples to uint8 by the real conventions, or BadImage naming the problem."""
    if arr.dtype == np.uint8:
        return arr, ""
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8) * 255, "1-bit to 8-bit"
    if arr.dtype.kind == "f":
        lo, hi = float(arr.min()), float(arr.max())  # NaN and infinities show in these (no mask array)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise BadImage("float pixels include NaN or infinity: save the image without invalid values")
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise BadImage(
                f"float pixels span {lo:g}..{hi:g}, not 0..1, so their scale is unknown: "
                "normalize to 0..1 or save as 8/16-bit integers"
            )
        return _blockwise(arr, lambda a: np.rint(np.clip(a, 0, 1) * 255)), f"float ({arr.dtype}) 0..1 to 8-bit"
    if arr.dtype.kind not in "iu":
        raise BadImage(f"pixel type {arr.dtype} is not supported: save as 8/16-bit integers")
    bits = arr.dtype.itemsize * 8
    lo, hi = int(arr.min()), int(arr.max())
    if arr.dtype.kind == "i" and lo < 0:
        # Signed data: shift by half the range, so the type's range maps to 0..255.
        shifted = lambda a: np.rint((a.astype(np.float64) + 2.0 ** (bits - 1)) / (2.0**bits - 1) * 255)  # noqa: E731
        return _blockwise(arr, shifted), f"signed {bits}-bit shifted to 8-bit"
    top = 2.0 ** (bits - 1 if arr.dtype.kind == "i" else bits) - 1
    what = f"{'signed ' if arr.dtype.kind == 'i' else ''}{bits}-bit to 8-bit"
    if twelve_bit_rule and bits == 16 and hi <= 4095:
        top, what = 4095.0, "12-bit (in 16-bit) to 8-bit"
    return _blockwise(arr, lambda a: np.rint(np.clip(a, 0, top).astype(np.float64) * (255.0 / top))), what


def _tiff_pixels(path: pathlib.Path, limits: Limits) -> tuple[Image.Image, list[str], dict]:
    """A TIFF Pillow cannot represent faithfully (float, signed, >8-bit colour) via tifffile."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            shape, axes = page.shape, page.axes
            h, w = page.imagelength, page.imagewidth
            if w * h > limits.max_pixels:
                raise BadImage(f"{w}x{h} pixels, over max_pixels={limits.max_pixels}")
            arr = page.asarray()
            n = len(tif.pages)
            icc = page.tags.get(34675)
            orientation = page.tags.get(274)
            photometric = page.photometric
            info = {
                "n_frames": n,
                "icc_profile": bytes(icc.value) if icc else None,
                "orientation": int(orientation.value) if orientation else 1,
            }
    except (BadImage, MemoryError):
        raise
    except Exception as exc:  # tifffile raises many kinds; the message is what matters
        raise BadImage(f"cannot decode TIFF ({type(exc).__name__}: {exc})") from exc
    if "S" in axes and axes.index("S") != len(axes) - 1:
        arr = np.moveaxis(arr, axes.index("S"), -1)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.shape[:2] != (h, w) or arr.ndim > 3 or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise BadImage(f"TIFF with layout {axes} {shape}: save it as gray, RGB or RGBA")
    u8, what = _to_8bit(arr, twelve_bit_rule=True)
    if photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        u8 = 255 - u8
    mode = "L" if u8.ndim == 2 else {2: "LA", 3: "RGB", 4: "RGBA"}[u8.shape[2]]
    steps = ["from TIFF (tifffile)"] + ([what] if what else [])
    return Image.fromarray(np.ascontiguousarray(u8), mode), steps, info


_RAW_PHOTOMETRIC = (32803, 34892)  # CFA (a sensor's mosaic), LinearRaw: undeveloped sensor data


def _tiff_probe(path: pathlib.Path, head: bytes) -> tuple[str | None, bool]:
    """(what raw camera format a TIFF-structured file is, or None; whether Pillow reads it
    faithfully: 8-bit or 1-bit samples, else tifffile does).

    Raw camera files are TIFFs whose first page is only a small preview: a DNG (its version,
    tag 50706), a CR2 (``CR`` after the header), or any file with undeveloped sensor data (CFA
    or LinearRaw) in a page or sub-image, as NEF and ARW hold it; or a TIFF with a raw suffix."""
    import tifffile

    if head[8:10] == b"CR":
        return "Canon CR2", True
    suffix_raw = path.suffix.lower() in RAW_SUFFIXES
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if page.is_dng:
                return "DNG", True
            make = str(page.tags.valueof(271) or "").strip("\x00 ").split(" ")[0].capitalize()
            name = path.suffix[1:].upper() if suffix_raw else "raw"
            kind = f"{make} {name}" if make else name
            if suffix_raw:
                return kind, True
            subs = list(page.pages or []) if page.subifds else []
            if any(p.photometric in _RAW_PHOTOMETRIC for p in [page, *subs]):
                return kind, True
            return None, page.dtype in (np.uint8, np.bool_)  # int8 too goes to tifffile: Pillow reads it as unsigned
    except Exception:  # let Pillow try, and say what it says
        return (path.suffix[1:].upper() if suffix_raw else None), True


_SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(im: Image.Image, icc: bytes) -> tuple[Image.Image, str]:
    """Convert pixels from their embedded ICC profile to sRGB (perceptual); sRGB profiles are left alone."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = (ImageCms.getProfileDescription(src) or "").strip()
    except (OSError, ImageCms.PyCMSError) as exc:
        return im, f"ICC profile unreadable ({exc}), ignored"
    if "srgb" in desc.lower().replace(" ", ""):
        return im, ""
    alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
    base = im.convert(im.mode[:-1] or "L") if alpha is not None else im
    try:
        out = ImageCms.profileToProfile(base, src, _SRGB, outputMode="RGB")
    except ImageCms.PyCMSError as exc:
        return im, f"ICC profile {desc!r} could not be applied ({exc}), ignored"
    if alpha is not None:
        out.putalpha(alpha)
    return out, f"ICC profile {desc!r} converted to sRGB"


def _flatten(im: Image.Image) -> Image.Image:
    # No copy of an RGBA source, no white page kept past the composite: three images of its
    # size at most, not five (4 bytes a pixel each; this sets ingest's memory per megapixel).
    rgba = im if im.mode == "RGBA" else im.convert("RGBA")
    out = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    del rgba
    return out.convert("RGB")


def _to_rgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, list[str]]:
    steps = []
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im)
        if im.mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
            arr = arr.astype(np.uint16)  # Pillow's 32-bit mode holding 16-bit data (PGM, PNG)
        u8, what = _to_8bit(arr, twelve_bit_rule=False)
        im = Image.fromarray(u8, "L")
        steps.append(what)
    if icc and im.mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        im, what = _to_srgb(im, icc)
        steps += [what] if what else []
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        steps.append("alpha flattened on white")
        return _flatten(im), steps
    if im.mode != "RGB":
        steps.append(f"{im.mode} to RGB")
        im = im.convert("RGB")
    return im, steps


def _png_bit_depth(head: bytes) -> int:
    return head[24] if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" else 0


def _open_pillow(path: pathlib.Path, head: bytes, limits: Limits) -> tuple[Image.Image, str, int, dict, list]:
    """(image, format, frames, info, steps) of a source Pillow reads (of ``SOURCE_FORMATS`` only)."""
    with Image.open(path, formats=_open_formats()) as src:
        w, h = src.size
        if w * h > limits.max_pixels:
            raise BadImage(f"{w}x{h} pixels, over max_pixels={limits.max_pixels}")
        fmt, frames = src.format, getattr(src, "n_frames", 1)
        src.load()
        info = {"icc_profile": src.info.get("icc_profile"), "orientation": src.getexif().get(0x0112, 1)}
        im = ImageOps.exif_transpose(src)
    steps = [f"from {fmt}"] if fmt and fmt not in ("JPEG", "PNG") else []
    if fmt == "PNG" and _png_bit_depth(head) == 16 and im.mode not in ("I;16", "I;16B", "I;16L", "I"):
        steps.append("16-bit to 8-bit")  # colour (and gray + alpha): Pillow keeps each sample's high byte
    return im, fmt, frames, info, steps


def _decode(path: pathlib.Path, head: bytes, limits: Limits) -> tuple[Image.Image, str]:
    """Decode and normalize a source whose file checks passed (``load_source``)."""
    raw, plain = _tiff_probe(path, head) if _is_tiff(head) else (None, True)
    if raw:
        raise BadImage(f"not an image codecsweep can read: a raw camera file ({raw}): {RAW_ADVICE}")
    if not plain:
        im, steps, info = _tiff_pixels(path, limits)
        fmt, frames = "TIFF", info["n_frames"]
        for t in _ORIENT.get(info["orientation"], []):
            im = im.transpose(t)
    else:
        im, fmt, frames, info, steps = _open_pillow(path, head, limits)
    expected = SUFFIX_FORMATS.get(path.suffix.lower())
    if expected and fmt not in (expected, "MPO" if expected == "JPEG" else expected):
        steps.append(f"{fmt} content in a file named {path.suffix}")
    if frames > 1:
        steps.append(f"first of {frames} frames")
    if info["orientation"] in _ORIENT:
        steps.append(f"EXIF orientation {info['orientation']} applied")
    rgb, more = _to_rgb(im, info["icc_profile"])
    return rgb, "; ".join(steps + more)


def load_source(path, limits: Limits = Limits()) -> tuple[Image.Image, str]:
    """Open, validate and normalize one source image.

    Returns the canonical RGB image and a short text of what normalization did ("" if
    nothing). Raises ``BadImage`` naming the reason for anything unusable: whatever a decoder
    raises on a damaged file (Pillow, pillow-heif, tifffile raise many kinds, ``TypeError``
    and ``RuntimeError`` included) becomes a ``BadImage`` with its message. Only
    ``MemoryError`` passes: that is the job's memory, not the file.
    """
    path = text_path(str(path))  # the stages pass source_path as stored in the images table
    try:
        st = path.stat()
        if not path.is_file():
            raise BadImage("not a regular file")
        head = _sniff(path)
    except OSError as exc:
        raise BadImage(f"unreadable: {exc.strerror or exc}") from exc
    if st.st_size == 0:
        raise BadImage("empty file (0 bytes)")
    if st.st_size > limits.max_file_bytes:
        raise BadImage(f"file is {st.st_size} bytes, over max_file_bytes={limits.max_file_bytes}")
    try:
        return _decode(path, head, limits)
    except (BadImage, MemoryError):
        raise
    except Image.UnidentifiedImageError:
        raise BadImage(_unidentified_reason(path, head)) from None
    except ValueError as exc:
        if "MAX_TEXT_CHUNK" in str(exc):
            raise BadImage(
                f"a PNG text (metadata) chunk inflates past Pillow's safety limit of "
                f"{PngImagePlugin.MAX_TEXT_CHUNK} bytes: re-save the image without its metadata"
            ) from exc
        raise BadImage(f"cannot decode ({exc})") from exc
    except (OSError, SyntaxError, EOFError) as exc:
        hint = ": the file is incomplete, copy it again" if "truncated" in str(exc) else ""
        raise BadImage(f"cannot decode ({exc}){hint}") from exc
    except Exception as exc:  # a decoder's own failure on a damaged file: a rejection, never a crash
        raise BadImage(f"cannot decode ({type(exc).__name__}: {exc}): the file is damaged, re-export it") from exc


def header_pixels(path, limits: Limits = Limits()) -> int:
    """width × height of a source from its header, without decoding its pixels; 0 when the
    file is not one ``load_source`` would decode (not a regular file, over ``limits``, no
    header Pillow or tifffile can read): what an ingest job must hold in memory for it."""
    path = text_path(str(path))
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or not 0 < st.st_size <= limits.max_file_bytes:
            return 0
        try:
            with Image.open(path, formats=_open_formats()) as im:
                w, h = im.size
        except Image.UnidentifiedImageError:  # a TIFF Pillow does not know (float, signed, ...)
            import tifffile

            with tifffile.TiffFile(path) as tif:
                w, h = tif.pages[0].imagewidth, tif.pages[0].imagelength
    except MemoryError:
        raise
    except Exception:  # unreadable or damaged: ingest rejects it without decoding much
        return 0
    return w * h if w * h <= limits.max_pixels else 0


def prepare(rgb: Image.Image, scale: float, color: str) -> Image.Image:
    """The encoder's input: the source downscaled (Lanczos) and, for ``gray``, converted
    to luma (Pillow's ITU-R 601-2 ``L``)."""
    im = rgb
    if scale != 1:
        w, h = rgb.size
        im = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), DOWNSCALE_FILTER)
    return im.convert("L") if color == "gray" else im


def to_source_geometry(decoded: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A decoded variant as RGB at the source's size (bicubic), for full-reference metrics."""
    im = decoded.convert("RGB")
    return im if im.size == tuple(size) else im.resize(tuple(size), UPSCALE_FILTER)
