"""JPEG variants for machine vision: the same baseline JPEG file any decoder reads.

- ``jpeg_opt``: standard JPEG with optimized Huffman tables (what entropy coding alone saves);
- ``jpeg444``: standard JPEG without chroma subsampling (what 4:2:0 costs or saves);
- ``jpeg_mo``: machine-oriented JPEG, quantization tables derived from a classifier's DCT
  sensitivity map (``sensitivity.py``), optimized Huffman tables, 4:2:0.

``jpeg_mo``'s tables depend on a map computed by a job, so its ``settings`` (the cache key's
input) exist only once a map is loaded with ``use_map``: they hold the map's key and content
hash, hence new weights or calibration images recompute exactly its variants. The encode rule
passes the map file; encoding without one is an error that says so.
"""

from __future__ import annotations

from . import sensitivity
from .codecs import Encoder, Jpeg, _check_range, _pillow_save, register


@register
class JpegOptimized(Jpeg):
    """Standard (IJG) tables scaled by quality, 4:2:0, optimized Huffman tables."""

    name = "jpeg_opt"
    settings = {"subsampling": "4:2:0", "optimize": True, "progressive": False}


@register
class Jpeg444(Jpeg):
    """Standard (IJG) tables scaled by quality, no chroma subsampling, standard Huffman tables."""

    name = "jpeg444"
    settings = {"subsampling": "4:4:4", "optimize": False, "progressive": False}


#: How tables are made from a map (``sensitivity.tables_for``); part of jpeg_mo's settings.
TABLE_METHOD = {"version": 1, "exponent": 0.5, "reference": "ijg-log-rate", "scaling": "ijg-quality"}


@register
class JpegMachine(Encoder):
    """JPEG with quantization tables tuned to a classifier: one table per Y, Cb, Cr (gray: Y's),
    quality 1..100 scaling them as IJG quality scales the standard tables."""

    name = "jpeg_mo"
    codec = {"subsampling": "4:2:0", "optimize": True, "progressive": False}

    def __init__(self):
        self.map: dict | None = None

    def use_map(self, doc: dict) -> None:
        """Tune to a map (as ``sensitivity.read_map`` returns it)."""
        self.map = doc
        self._base = sensitivity.base_tables(doc["sensitivity"], TABLE_METHOD["exponent"])

    @property
    def settings(self) -> dict:
        if self.map is None:
            raise RuntimeError(
                "jpeg_mo: no sensitivity map loaded (the encode rule passes results/sensitivity/<dataset>/<model>.json; "
                "in Python call get_encoder('jpeg_mo').use_map(sensitivity.read_map(path)))"
            )
        return {
            **self.codec,
            "tables": TABLE_METHOD,
            "sensitivity_key": self.map["key"],
            "map_sha256": self.map["map_sha256"],
        }

    def version(self) -> str:
        return get_jpeg().version()

    def canonical_param(self, value) -> str:
        return str(_check_range(self.name, int(value), 1, 100))

    def qtables(self, quality: int, gray: bool) -> list[list[int]]:
        self.settings  # noqa: B018 (the error when no map is loaded)
        tables = sensitivity.tables_for(self._base, quality)
        return tables[:1] if gray else tables

    def write(self, image, param):
        settings = self.settings
        options = {k: settings[k] for k in self.codec}
        if image.mode == "L":
            options.pop("subsampling")  # one component: nothing to subsample
        return _pillow_save(image, "JPEG", qtables=self.qtables(int(param), image.mode == "L"), **options)

    def payload_bytes(self, data):
        return get_jpeg().payload_bytes(data)


def get_jpeg() -> Jpeg:
    from .codecs import get_encoder

    return get_encoder("jpeg")
