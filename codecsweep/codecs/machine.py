"""JPEG variants for machine vision: the same baseline JPEG file any decoder reads.

- ``jpeg_opt``: standard JPEG with optimized Huffman tables (what entropy coding alone saves);
- ``jpeg444``: standard JPEG without chroma subsampling (what 4:2:0 costs or saves);
- ``jpeg_mo``: machine-oriented JPEG, quantization tables derived from a classifier's DCT
  sensitivity map (``codecsweep.sensitivity``), optimized Huffman tables, 4:2:0.

``jpeg_mo`` is built with its map (``needs``: the workflow's ``sensitivity_map``, the file the
sensitivity job writes); its ``settings`` (the cache key's input) hold the map's key and
content hash, hence new weights or calibration images recompute exactly its variants.
"""

from __future__ import annotations

from .base import Encoder, check_range, pillow_save
from .classic import Jpeg
from .ijg import base_tables, read_map, tables_for
from .registry import register


@register
class JpegOptimized(Jpeg):
    """Standard (IJG) tables scaled by quality, 4:2:0, optimized Huffman tables."""

    name = "jpeg_opt"
    label, color = "", None  # not JPEG's: by its own name in the figures
    settings = {"subsampling": "4:2:0", "optimize": True, "progressive": False}


@register
class Jpeg444(Jpeg):
    """Standard (IJG) tables scaled by quality, no chroma subsampling, standard Huffman tables."""

    name = "jpeg444"
    label, color = "", None  # not JPEG's: by its own name in the figures
    settings = {"subsampling": "4:4:4", "optimize": False, "progressive": False}


#: How tables are made from a map (``ijg.base_tables``, ``ijg.tables_for``); part of jpeg_mo's settings.
TABLE_METHOD = {"version": 1, "exponent": 0.5, "reference": "ijg-log-rate", "scaling": "ijg-quality"}


@register
class JpegMachine(Encoder):
    """JPEG with quantization tables tuned to a classifier: one table per Y, Cb, Cr (gray: Y's),
    quality 1..100 scaling them as IJG quality scales the standard tables."""

    name = "jpeg_mo"
    needs = ("sensitivity_map",)
    #: Pillow JPEG writer options besides the tables.
    writer_options = {"subsampling": "4:2:0", "optimize": True, "progressive": False}

    def __init__(self, sensitivity_map: dict | None = None):
        """``sensitivity_map``: as ``ijg.read_map`` returns it; without one the encoder can say
        its version and parameters, but not encode."""
        self._map = sensitivity_map
        self._base = (
            None if sensitivity_map is None else base_tables(sensitivity_map["sensitivity"], TABLE_METHOD["exponent"])
        )

    @classmethod
    def load_inputs(cls, paths: dict[str, str]) -> dict:
        return {"sensitivity_map": read_map(paths["sensitivity_map"])}

    @property
    def settings(self) -> dict:
        if self._map is None:
            raise RuntimeError(
                "jpeg_mo: built without a sensitivity map (the encode rule passes "
                "results/sensitivity/<dataset>/<model>.json; in Python: "
                "get_encoder('jpeg_mo', sensitivity_map=codecs.ijg.read_map(path)))"
            )
        return {
            **self.writer_options,
            "tables": TABLE_METHOD,
            "sensitivity_key": self._map["key"],
            "map_sha256": self._map["map_sha256"],
        }

    def version(self) -> str:
        return Jpeg().version()

    def canonical_param(self, value) -> str:
        return str(check_range(self.name, int(value), 1, 100))

    def qtables(self, quality: int, gray: bool) -> list[list[int]]:
        self.settings  # noqa: B018 (the error when built without a map)
        tables = tables_for(self._base, quality)
        return tables[:1] if gray else tables

    def write(self, image, param):
        options = dict(self.writer_options)
        if image.mode == "L":
            options.pop("subsampling")  # one component: nothing to subsample
        return pillow_save(image, "JPEG", qtables=self.qtables(int(param), image.mode == "L"), **options)

    def payload_bytes(self, data):
        return Jpeg().payload_bytes(data)
