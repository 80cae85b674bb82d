"""The classic codecs: JPEG, JPEG 2000, HEVC intra (the study's BPG), WebP, AVIF, JPEG XL."""

from __future__ import annotations

import ctypes.util
import importlib.metadata
import io
import os
import pathlib
import shutil
import sys
import tempfile
from functools import cache

import numpy as np
import PIL
from PIL import Image, features

from .base import Encoder, PillowEncoder, check_range
from .bitstream import heif_payload, j2k_payload, jpeg_payload, webp_payload
from .registry import register


@register
class Jpeg(PillowEncoder):
    """Baseline JPEG through Pillow's libjpeg-turbo, standard (IJG) tables scaled by quality,
    4:2:0 chroma, standard Huffman tables."""

    name, format = "jpeg", "JPEG"
    label, color = "JPEG", "#2ca02c"  # the Rennes figures' JPEG green, JPEG 2000 violet, BPG orange
    settings = {"subsampling": "4:2:0", "optimize": False, "progressive": False}

    def version(self) -> str:
        return f"libjpeg-turbo {features.version_feature('libjpeg_turbo')} (Pillow {PIL.__version__})"

    def canonical_param(self, value) -> str:
        return str(check_range(self.name, int(value), 1, 100))

    def payload_bytes(self, data):
        return jpeg_payload(data)


def _pillow_openjpeg() -> pathlib.Path | None:
    """The OpenJPEG library that ships inside the Pillow wheel (``pillow.libs/``)."""
    libs = pathlib.Path(PIL.__file__).resolve().parent.parent / "pillow.libs"
    found = sorted(libs.glob("libopenjp2*.so*"))
    return found[0] if found else None


def _glymurrc_exists() -> bool:
    """glymur's own config-file search (cwd, $XDG_CONFIG_HOME, ~/.config), without importing it."""
    home = pathlib.Path(os.environ.get("XDG_CONFIG_HOME") or pathlib.Path.home() / ".config")
    return (pathlib.Path.cwd() / "glymurrc").exists() or (home / "glymur" / "glymurrc").exists()


@cache
def _glymur():
    """Import glymur, pointing it at an OpenJPEG library.

    Order: a glymurrc the user wrote (glymur's own config), else the copy inside the Pillow
    wheel, else a system libopenjp2, else a clear error. The Pillow copy comes before the
    system one because its version is pinned with Pillow: the same codec, hence the same
    bytes and cache keys, on every machine (a system library changes with the OS; the
    cache then rightly recomputes every JPEG 2000 artifact). glymur reads its config at
    import time only, so a private glymurrc is pointed to by XDG_CONFIG_HOME for the import.
    """
    if "glymur" not in sys.modules and not _glymurrc_exists():
        lib = _pillow_openjpeg()
        if lib is None and ctypes.util.find_library("openjp2") is None:
            raise RuntimeError(
                "JPEG 2000 needs the OpenJPEG library (libopenjp2) and none was found: "
                "install it (Debian: apt-get install libopenjp2-7; conda: openjpeg) "
                "or a Pillow wheel that bundles it"
            )
        if lib is not None:
            confdir = pathlib.Path(tempfile.mkdtemp(prefix="codecsweep-glymur-"))
            (confdir / "glymur").mkdir()
            (confdir / "glymur" / "glymurrc").write_text(f"[library]\nopenjp2 = {lib}\n")
            old = os.environ.get("XDG_CONFIG_HOME")
            os.environ["XDG_CONFIG_HOME"] = str(confdir)
            try:
                import glymur  # noqa: F401
            finally:
                if old is None:
                    del os.environ["XDG_CONFIG_HOME"]
                else:
                    os.environ["XDG_CONFIG_HOME"] = old
                shutil.rmtree(confdir, ignore_errors=True)
    import glymur

    if glymur.version.openjpeg_version in ("0.0.0", None):
        raise RuntimeError("glymur could not load the OpenJPEG library (libopenjp2)")
    return glymur


@register
class Jpeg2000(Encoder):
    """JPEG 2000 through glymur/OpenJPEG: irreversible 9/7 wavelet, 64x64 code blocks.

    The parameter is the list of quality layers as compression ratios against the raw
    samples, e.g. ``200,40,20`` makes three layers (OpenJPEG's ``-r 200,40,20``).
    """

    name = "jpeg2000"
    label, color = "JPEG 2000", "#9467bd"
    #: glymur.Jp2k keyword arguments; a ``.j2k`` file name makes a bare codestream (no JP2 boxes).
    #: ``numres`` is OpenJPEG's default 6 resolution levels, at most: an image needs at least
    #: 2^(levels - 1) pixels per side, so a small one (a thumbnail at scale 1/8) gets fewer.
    settings = {"irreversible": True, "cbsize": [64, 64], "numres": 6}

    def version(self) -> str:
        g = _glymur()
        return f"OpenJPEG {g.version.openjpeg_version} (glymur {g.__version__})"

    def canonical_param(self, value) -> str:
        parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
        ratios = [float(p) for p in parts]
        if not ratios or any(r < 1 for r in ratios):
            raise ValueError(f"jpeg2000: quality layers must be compression ratios >= 1, got {value!r}")
        if any(a <= b for a, b in zip(ratios, ratios[1:])) and len(ratios) > 1:
            # OpenJPEG requires decreasing ratios (increasing quality) layer by layer.
            raise ValueError(f"jpeg2000: layer ratios must decrease, got {value!r}")
        return ",".join(f"{r:g}" for r in ratios)

    def write(self, image, param):
        g = _glymur()
        ratios = [float(r) for r in param.split(",")]
        levels = min(self.settings["numres"], 1 + int(np.log2(min(image.size))))
        options = dict(self.settings, cbsize=tuple(self.settings["cbsize"]), numres=levels)
        with tempfile.TemporaryDirectory(prefix="codecsweep-j2k-") as tmp:
            path = os.path.join(tmp, "variant.j2k")
            g.Jp2k(path, data=np.asarray(image), cratios=ratios, **options)
            return pathlib.Path(path).read_bytes()

    def payload_bytes(self, data):
        return j2k_payload(data)

    def decode(self, data):
        g = _glymur()
        with tempfile.TemporaryDirectory(prefix="codecsweep-j2k-") as tmp:
            path = os.path.join(tmp, "variant.j2k")
            pathlib.Path(path).write_bytes(data)
            pixels = g.Jp2k(path)[:]
        return Image.fromarray(pixels)

    @staticmethod
    def layer_count(data: bytes) -> int:
        """Quality layers read back from the codestream's COD marker."""
        g = _glymur()
        with tempfile.TemporaryDirectory(prefix="codecsweep-j2k-") as tmp:
            path = os.path.join(tmp, "variant.j2k")
            pathlib.Path(path).write_bytes(data)
            cod = next(s for s in g.Jp2k(path).get_codestream().segment if s.marker_id == "COD")
            return cod.layers


@cache
def _heif():
    import pillow_heif

    pillow_heif.register_heif_opener()
    return pillow_heif


@register
class Hevc(Encoder):
    """HEVC intra (the study's BPG) through pillow-heif's libheif + x265, constant QP.

    x265's ``qp`` option switches rate control to constant QP; ``ipratio=1`` removes x265's
    I-slice offset (its default 1.4 codes an intra picture at QP - 3), so the slice QP in the
    bitstream equals the parameter, as BPG's ``-q`` does. 4:2:0 chroma as HEVC Main Still
    Picture. The bytes are a HEIF file (a few hundred bytes of container around the HEVC
    stream, as BPG has a header); ``payload_bytes`` counts the coded picture only.
    """

    name = "hevc"
    label, color = "HEVC (BPG)", "#ff7f0e"
    #: pillow-heif ``save`` keyword arguments; ``enc_params`` go to x265 (the QP is added per variant).
    #: ``pools=1``: one worker thread, as the encode rule declares (same bytes as x265's default pool).
    settings = {"chroma": 420, "enc_params": {"x265:ipratio": "1", "x265:pools": "1"}}

    def version(self) -> str:
        h = _heif()
        info = h.libheif_info()
        return f"{info['encoders'].get('x265', 'x265 missing')} (libheif {h.libheif_version()}, pillow-heif {h.__version__})"

    def canonical_param(self, value) -> str:
        return str(check_range(self.name, int(value), 0, 51))

    def write(self, image, param):
        h = _heif()
        buf = io.BytesIO()
        # Fresh dicts per call: pillow-heif adds its own entries to ``enc_params``.
        options = dict(self.settings, enc_params={**self.settings["enc_params"], "x265:qp": param})
        try:
            h.from_pillow(image).save(buf, format="HEIF", **options)
        except RuntimeError as exc:
            if "could not be opened with the given parameters" not in str(exc):
                raise
            # Found by trying (x265 4.3+1 via libheif 1.23.6): every picture up to 4216 px a side
            # encodes (1x1 too), and every one with both sides of 32 px or more (20000x32 too);
            # with a side under 32 px, the other may not exceed 4216 px.
            short, long = sorted(image.size)
            why = (
                f"its short side ({short} px) is under x265's minimum of 32 px for a picture whose "
                f"long side ({long} px) is over 4216 px"
                if short < 32 and long > 4216
                else "x265 refuses these parameters for this picture"
            )
            raise RuntimeError(
                f"x265 cannot encode this {image.width}x{image.height} picture: {why}; a smaller scale "
                f"of the image may encode (libheif: {exc})"
            ) from exc
        return buf.getvalue()

    def payload_bytes(self, data):
        return heif_payload(data)

    def decode(self, data):
        h = _heif()
        return h.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True).to_pillow()


@register
class WebP(PillowEncoder):
    """Lossy WebP through Pillow's libwebp, quality 0-100, method 4 (libwebp's default)."""

    name, format = "webp", "WEBP"
    label, color = "WebP", "#1f77b4"
    settings = {"method": 4}

    def version(self) -> str:
        return f"libwebp {features.version('webp')}"

    def canonical_param(self, value) -> str:
        return str(check_range(self.name, int(value), 0, 100))

    def payload_bytes(self, data):
        return webp_payload(data)


@register
class Avif(PillowEncoder):
    """AVIF (AV1 intra) through Pillow's own libavif build, quality 0-100, speed 6."""

    name, format = "avif", "AVIF"
    label, color = "AVIF", "#d62728"
    settings = {"speed": 6, "subsampling": "4:2:0"}

    def version(self) -> str:
        return f"libavif {features.version('avif')}"

    def canonical_param(self, value) -> str:
        return str(check_range(self.name, int(value), 0, 100))

    def write(self, image, param):
        if image.mode == "L":  # libavif through Pillow takes RGB; gray stays gray in value.
            image = image.convert("RGB")
        return super().write(image, param)

    def payload_bytes(self, data):
        return heif_payload(data)


@cache
def _jxl():
    import pillow_jxl  # noqa: F401  (registers the JXL plugin with Pillow)

    return importlib.metadata.version("pillow-jxl-plugin")


@register
class JpegXL(PillowEncoder):
    """JPEG XL through pillow-jxl-plugin (libjxl), quality 0-100, effort 7 (libjxl default)."""

    name, format = "jpegxl", "JXL"
    label, color = "JPEG XL", "#8c564b"
    settings = {"effort": 7}

    def version(self) -> str:
        return f"libjxl (pillow-jxl-plugin {_jxl()})"

    def canonical_param(self, value) -> str:
        return str(check_range(self.name, int(value), 0, 100))

    def write(self, image, param):
        _jxl()
        return super().write(image, param)

    def decode(self, data):
        _jxl()
        return super().decode(data)
