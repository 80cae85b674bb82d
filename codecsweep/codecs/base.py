"""What an encoder is: a codec that turns prepared pixels into the bytes of a complete file
and back, with every setting that changes the bytes in its cache key.

Encoders are immutable: one that needs something the workflow computes (``needs``: e.g. the
machine-oriented JPEG's sensitivity map) is built with it (``codecs.get_encoder(name,
**inputs)``), never tuned afterwards.
"""

from __future__ import annotations

import io

from PIL import Image

from ..core.keys import artifact_key
from ..storage.images import DOWNSCALE_FILTER


class Encoder:
    """One codec. Subclasses implement ``write`` (pixels -> file bytes) and ``version``.

    ``settings`` holds every option that changes the bytes other than the grid parameter. It
    goes into the cache key AND is what ``write`` passes to the codec (never a second copy
    written out in the call), so an option cannot change without the key changing with it.
    """

    name: str = ""
    #: In figures and tables (default: the name), and its color in every figure (default: one
    #: picked by the name).
    label: str = ""
    color: str | None = None
    #: Options that change the bytes; part of the cache key, and the ones the codec gets.
    settings: dict = {}
    #: What the encoder is built with, produced by other jobs of the workflow: names of
    #: workflow products (``rules/common.smk``: ``ENCODER_INPUTS``), each a keyword of ``__init__``.
    needs: tuple[str, ...] = ()

    @classmethod
    def load_inputs(cls, paths: dict[str, str]) -> dict:
        """The keyword arguments of ``__init__`` from the files of ``needs`` (name -> path)."""
        return {}

    def artifact_key(self, source_sha256: str, version: str, scale: float, color: str, param: str) -> str:
        """The cache key of this encoder's variant of a source (``core.keys.artifact_key``)."""
        return artifact_key(
            source_sha256, self.name, version, self.settings, DOWNSCALE_FILTER.name.lower(), scale, color, param
        )

    def version(self) -> str:
        raise NotImplementedError

    def canonical_param(self, value) -> str:
        """The parameter in canonical text: the same setting always gives the same string."""
        return str(int(value))

    def encode(self, image: Image.Image, param: str) -> bytes:
        """The file of ``image`` ("RGB" or "L") at ``param``: the pixels and nothing else.

        The source's metadata (ICC profile, Exif, XMP, comments: Pillow's ``info``) is dropped
        first, for every encoder: Pillow's JPEG/AVIF writers and pillow-heif copy it into the
        file otherwise, and the bytes counted must be the codec's.
        """
        if image.info:
            image = image.copy()
            image.info = {}
        return self.write(image, param)

    def write(self, image: Image.Image, param: str) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Image.Image:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im.copy()

    def payload_bytes(self, data: bytes) -> int | None:
        """Bytes of entropy-coded data in ``data`` (no container, headers, markers); None if unknown."""
        return None


class PillowEncoder(Encoder):
    """An encoder that is one ``Image.save`` call: ``format``, ``settings`` as its keyword
    arguments, and the grid parameter as ``param_option``."""

    format: str = ""
    param_option: str = "quality"

    def write(self, image, param):
        return pillow_save(image, self.format, **self.settings, **{self.param_option: int(param)})


def pillow_save(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def check_range(encoder: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"{encoder}: parameter {value} outside {low}..{high}")
    return value
