"""Codecs: every encoder the study can run (``registry``), what an encoder is (``base``),
the classic, machine-oriented and learned codecs, and the bitstream parsers.

Importing this package imports every module in it, so each registers its encoders: adding an
encoder is one new module here (a ``base.Encoder`` subclass decorated with ``@register``)
and its grid in ``config/grids/``.
"""

import importlib
import pkgutil

from .base import Encoder, PillowEncoder
from .registry import ENCODERS, build_encoder, encoder_class, get_encoder, register

for _module in pkgutil.iter_modules(__path__):  # classic, machine, learned, and any new one
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ENCODERS", "Encoder", "PillowEncoder", "build_encoder", "encoder_class", "get_encoder", "register"]
