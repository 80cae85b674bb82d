"""JPEG quantization tables: the IJG standard tables and their quality scaling, tables made
from a classifier's DCT sensitivity map (``base_tables``: the method is in
``codecsweep.sensitivity``'s docstring), and the map file that carries one between jobs.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np

CHANNELS = ("Y", "Cb", "Cr")

# The IJG (libjpeg, JPEG standard Annex K) tables in natural order: the reference the
# machine-oriented tables are normalized against.
IJG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)
IJG_CHROMA = np.full((8, 8), 99.0)
IJG_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


# -- tables --------------------------------------------------------------------------------


def base_tables(sensitivity: dict, exponent: float = 0.5, floor: float = 1e-6) -> np.ndarray:
    """(3, 8, 8) float steps at quality 50: ``S^(-exponent)``, scaled to the IJG tables' rate.

    ``floor`` (relative to the largest entry) keeps a frequency the calibration never excited
    from an infinite step (it is clipped to 255 anyway).
    """
    s = np.stack([np.asarray(sensitivity[c], dtype=np.float64) for c in CHANNELS])
    if s.shape != (3, 8, 8) or not np.all(np.isfinite(s)) or np.any(s < 0) or s.max() <= 0:
        raise ValueError("sensitivity map must be three 8x8 arrays of finite non-negative values, not all 0")
    steps = np.maximum(s, floor * s.max()) ** -exponent
    weights = np.array([4.0, 1.0, 1.0])[:, None, None]  # blocks per channel in 4:2:0
    ijg = np.stack([IJG_LUMA, IJG_CHROMA, IJG_CHROMA])
    shift = (weights * (np.log(ijg) - np.log(steps))).sum() / (weights.sum() * 64)
    return steps * np.exp(shift)


def ijg_scale(quality: int) -> int:
    """libjpeg's ``jpeg_quality_scaling``: percent applied to the base tables."""
    quality = min(max(int(quality), 1), 100)
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def tables_for(base: np.ndarray, quality: int) -> list[list[int]]:
    """Baseline 8-bit tables (1..255, 64 entries in natural order) at ``quality``, as libjpeg
    scales its own: ``(base * scale + 50) // 100``, clipped."""
    scaled = np.floor((np.asarray(base) * ijg_scale(quality) + 50) / 100)
    return [[int(v) for v in t.ravel()] for t in np.clip(scaled, 1, 255)]


# -- the artifact --------------------------------------------------------------------------


def map_sha256(sensitivity: dict) -> str:
    """sha256 of a map's values (canonical JSON): what the tables are made from."""
    doc = {c: sensitivity[c] for c in CHANNELS}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_map(path) -> dict:
    """A map file written by ``write_map``, checked; the error names the file and what is wrong."""
    path = pathlib.Path(path)
    try:
        doc = json.loads(path.read_text())
        for c in CHANNELS:
            arr = np.asarray(doc["sensitivity"][c], dtype=np.float64)
            if arr.shape != (8, 8):
                raise ValueError(f"channel {c} is {arr.shape}, not 8x8")
        if doc["map_sha256"] != map_sha256(doc["sensitivity"]):
            raise ValueError("map_sha256 does not match the values (edited by hand?)")
        doc["key"]  # noqa: B018 (required)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"sensitivity map {path}: {type(exc).__name__}: {exc}") from exc
    return doc


def write_map(doc: dict, path) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
