"""The codec registry: every encoder the study can run, by name.

An encoder turns a prepared PIL image (mode "RGB" or "L") and a canonical parameter string
into the bytes of a complete file, and turns such bytes back into a PIL image. Its
``version()`` names the exact codec library build: it goes into every cache key, so a new
codec release recomputes exactly the artifacts that depend on it.

Adding an encoder: a subclass of ``base.Encoder`` (or ``base.PillowEncoder``) decorated with
``@register`` in a module that ``codecs/__init__.py`` imports (or any module imported before
use), and a grid in ``config/grids/`` (see README, "Adding an encoder").
"""

from __future__ import annotations

from functools import cache

from ..core.registry import Registry
from .base import Encoder

ENCODERS: Registry[type[Encoder]] = Registry("encoder")


def register(cls: type[Encoder]) -> type[Encoder]:
    ENCODERS.add(cls.name, cls)
    return cls


def encoder_class(name: str) -> type[Encoder]:
    """The class of encoder ``name`` (what it needs, without building it)."""
    return ENCODERS[name]


def get_encoder(name: str, **inputs) -> Encoder:
    """Encoder ``name``, built with ``inputs`` (its ``needs``); without inputs, one shared
    instance (encoders are immutable)."""
    return ENCODERS[name](**inputs) if inputs else _shared(name)


@cache
def _shared(name: str) -> Encoder:
    return ENCODERS[name]()


def build_encoder(name: str, paths: dict[str, str]) -> Encoder:
    """Encoder ``name`` built from the workflow files of its ``needs`` (name -> path)."""
    cls = ENCODERS[name]
    return get_encoder(name, **cls.load_inputs(paths))
