"""Source images: validation, normalization to 8-bit RGB, scaling, shards.

Every source becomes one canonical 8-bit RGB image before anything else sees it, and how
it got there is recorded (``normalization``):
- EXIF orientation is applied (what a viewer shows is what is encoded);
- transparency (RGBA, LA, palette with a transparent index) is flattened onto white;
- CMYK, 16-bit, palette and grayscale sources are converted to 8-bit RGB.

Downscaling before encoding uses Lanczos (Pillow ``LANCZOS``); decoded variants are brought
back to the source size with bicubic (``BICUBIC``) for full-reference metrics.
"""

from __future__ import annotations

import hashlib
import pathlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

DOWNSCALE_FILTER = Image.Resampling.LANCZOS
UPSCALE_FILTER = Image.Resampling.BICUBIC
# Our own, configurable guard (Limits.max_pixels, checked on the header before decoding)
# replaces Pillow's fixed decompression-bomb limit, so the error names the config key.
Image.MAX_IMAGE_PIXELS = None


class BadImage(ValueError):
    """A source that cannot be used; the message says why."""


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 100_000_000
    max_file_bytes: int = 200 * 1024 * 1024


def shard_of(image_id: str, shards: int) -> int:
    """Stable shard of an image: adding images never moves the existing ones."""
    return int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16) % shards


def _flatten(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _to_8bit_rgb(im: Image.Image) -> tuple[Image.Image, list[str]]:
    steps = []
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit/32-bit gray: scale the full range of the type to 0..255.
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(np.rint(arr * 255.0 / top), 0, 255).astype(np.uint8), "L")
        steps.append("16-bit to 8-bit")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        steps.append("alpha flattened on white")
        return _flatten(im), steps
    if im.mode != "RGB":
        steps.append(f"{im.mode} to RGB")
        im = im.convert("RGB")
    return im, steps


def load_source(path, limits: Limits = Limits()) -> tuple[Image.Image, str]:
    """Open, validate and normalize one source image.

    Returns the canonical RGB image and a short text of what normalization did ("" if
    nothing). Raises ``BadImage`` naming the reason for anything unusable.
    """
    try:
        size = pathlib.Path(path).stat().st_size
    except OSError as exc:
        raise BadImage(f"unreadable: {exc.strerror}") from exc
    if size == 0:
        raise BadImage("empty file (0 bytes)")
    if size > limits.max_file_bytes:
        raise BadImage(f"file is {size} bytes, over max_file_bytes={limits.max_file_bytes}")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > limits.max_pixels:
                raise BadImage(f"{w}x{h} pixels, over max_pixels={limits.max_pixels}")
            im.load()
            orientation = im.getexif().get(0x0112, 1)
            steps = [f"EXIF orientation {orientation} applied"] if orientation in range(2, 9) else []
            rgb, more = _to_8bit_rgb(ImageOps.exif_transpose(im))
            fmt = im.format
    except BadImage:
        raise
    except Image.UnidentifiedImageError:
        raise BadImage("not an image Pillow can identify") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImage(f"cannot decode ({exc})") from exc
    steps += more
    if fmt and fmt not in ("JPEG", "PNG"):
        steps.insert(0, f"from {fmt}")
    return rgb, "; ".join(steps)


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
