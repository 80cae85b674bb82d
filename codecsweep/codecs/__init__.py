"""Codecs: every encoder the study can run (``registry``), what an encoder is (``base``),
the classic, machine-oriented and learned codecs, and the bitstream parsers.

Importing this package registers every encoder.
"""

from . import classic, learned, machine  # noqa: F401  (each registers its encoders)
from .base import Encoder, PillowEncoder
from .registry import ENCODERS, build_encoder, encoder_class, get_encoder, register

__all__ = ["ENCODERS", "Encoder", "PillowEncoder", "build_encoder", "encoder_class", "get_encoder", "register"]
