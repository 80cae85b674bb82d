"""Learned image codecs: CompressAI's pretrained model zoo as encoders of the registry.

One encoder per architecture and training metric (``cai_mbt2018_mean_mse``, ...); the grid
parameter is CompressAI's quality level (1-8, 1-6 for cheng2020). ``encode`` runs the model's
``compress`` (analysis transform, then CompressAI's rANS entropy coder) and wraps the
entropy-coded strings in a small container; ``decode`` reads it back and runs ``decompress``.
Every byte of the container counts in the rate, header included (``payload_bytes`` gives the
strings alone).

Container (big-endian), ``HEADER`` then, per string, a u32 length and the string's bytes:
magic ``CSLC``, format version, architecture id (``ARCHITECTURES`` index), metric id
(``METRICS`` index), quality, channels (3 = RGB, 1 = gray), width, height (u16), padding
left, right, top, bottom (u8), number of strings.

Choices:
- Gray ("L") is fed as 3 equal channels (the models are RGB-only); the header says 1 channel
  and ``decode`` returns "L" (Pillow's ITU-R 601-2 luma of the decoded RGB), as gray JPEG does.
- The image is zero-padded, centered, to a multiple of 64 (as CompressAI's own evaluation
  does) and cropped back after decoding; the padding is coded, hence counted in the bytes.
- Weights come from the torch cache only (``$TORCH_HOME/hub/checkpoints``, CompressAI's own
  file names), never downloaded at run time: ``python -m codecsweep fetch-weights NAME``
  fills it on a connected machine. They load with ``weights_only=True``, then
  ``update(force=True)`` builds the entropy coder's CDF tables (as CompressAI's eval does).
- The model runs on the CPU unless ``CODECSWEEP_LEARNED_DEVICE=cuda``. The device is a
  setting (in the cache key): the transforms' float arithmetic differs between devices, so
  GPU-made bytes differ from CPU-made ones and the two never share a cache entry; decoding
  runs on the same device (the decoder must rebuild the encoder's entropy-model indexes
  exactly). The entropy coder itself always runs on the CPU.
- Bytes are deterministic on one machine and device (a test encodes twice), not promised
  across machines: the stored bytes are the record, and decoding uses them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import pathlib
import struct
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from ..core.hashing import file_sha256
from ..core.weights import missing_weights, torch_cache_dir
from .base import Encoder
from .registry import register

log = logging.getLogger("codecsweep")

#: Architecture ids in the container: append only (an id must keep its meaning).
ARCHITECTURES = (
    "bmshj2018-factorized",
    "bmshj2018-hyperprior",
    "mbt2018-mean",
    "mbt2018",
    "cheng2020-anchor",
    "cheng2020-attn",
)
METRICS = ("mse", "ms-ssim")
#: Highest quality level of each architecture (CompressAI's zoo: 8, cheng2020: 6).
MAX_QUALITY = {a: 6 if a.startswith("cheng2020") else 8 for a in ARCHITECTURES}

MAGIC = b"CSLC"
FORMAT_VERSION = 1
HEADER = struct.Struct(">4sBBBBBHHBBBBB")
STRING_LENGTH = struct.Struct(">I")
DEVICE_ENV = "CODECSWEEP_LEARNED_DEVICE"


class MissingCompressAI(ImportError):
    pass


def _compressai():
    try:
        import compressai
        import compressai.zoo.image
    except ImportError as exc:
        raise MissingCompressAI(
            f"learned codecs need compressai ({exc}); install it with "
            "`pip install --no-deps compressai==1.2.8 einops==0.8.2 torch-geometric==2.8.1` (see the Makefile)"
        ) from None
    return compressai


def compressai_version() -> str:
    try:
        return importlib.metadata.version("compressai")
    except importlib.metadata.PackageNotFoundError:
        _compressai()  # raises the install hint
        raise


def weights_file(architecture: str, metric: str, quality: int) -> str:
    """CompressAI's file name for a pretrained model: the basename of its download URL."""
    url = _compressai().zoo.image.model_urls[architecture][metric][quality]
    return url.rsplit("/", 1)[1]


def weights_url(architecture: str, metric: str, quality: int) -> str:
    return _compressai().zoo.image.model_urls[architecture][metric][quality]


def encoder_name(architecture: str, metric: str) -> str:
    return f"cai_{architecture.replace('-', '_')}_{metric.replace('-', '')}"


@dataclass
class Container:
    architecture: str
    metric: str
    quality: int
    channels: int
    width: int
    height: int
    padding: tuple[int, int, int, int]  # left, right, top, bottom
    strings: list[bytes]

    def to_bytes(self) -> bytes:
        head = HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            ARCHITECTURES.index(self.architecture),
            METRICS.index(self.metric),
            self.quality,
            self.channels,
            self.width,
            self.height,
            *self.padding,
            len(self.strings),
        )
        return head + b"".join(STRING_LENGTH.pack(len(s)) + s for s in self.strings)

    @classmethod
    def from_bytes(cls, data: bytes) -> Container:
        if len(data) < HEADER.size or data[:4] != MAGIC:
            raise ValueError(f"not a codecsweep learned-codec container (no {MAGIC!r} header)")
        magic, fmt, arch, metric, quality, channels, w, h, *pad, n = HEADER.unpack_from(data)
        if fmt != FORMAT_VERSION:
            raise ValueError(f"learned-codec container format {fmt}, this code reads {FORMAT_VERSION}")
        if arch >= len(ARCHITECTURES) or metric >= len(METRICS) or channels not in (1, 3):
            raise ValueError(f"learned-codec container: bad header (architecture {arch}, metric {metric})")
        pos, strings = HEADER.size, []
        for _ in range(n):
            if pos + STRING_LENGTH.size > len(data):
                raise ValueError("learned-codec container truncated (string length missing)")
            (length,) = STRING_LENGTH.unpack_from(data, pos)
            pos += STRING_LENGTH.size
            if pos + length > len(data):
                raise ValueError("learned-codec container truncated (string shorter than its length)")
            strings.append(data[pos : pos + length])
            pos += length
        if pos != len(data):
            raise ValueError(f"learned-codec container has {len(data) - pos} bytes after its last string")
        return cls(ARCHITECTURES[arch], METRICS[metric], quality, channels, w, h, tuple(pad), strings)


@cache
def _load(architecture: str, metric: str, quality: int, device: str, entropy_coder: str, sha256: str):
    """The model for one quality level; ``sha256`` keys the cache (a new file loads anew)."""
    import torch

    compressai = _compressai()
    from compressai.zoo.image import model_architectures
    from compressai.zoo.pretrained import load_pretrained

    compressai.set_entropy_coder(entropy_coder)  # the entropy models read it when built
    path = _weights_path(architecture, metric, quality)
    state = load_pretrained(torch.load(path, map_location="cpu", weights_only=True))
    model = model_architectures[architecture].from_state_dict(state).eval()
    model.update(force=True)
    log.info("loaded %s %s q%d from %s on %s", architecture, metric, quality, path.name, device)
    return model.to(device)


def _weights_path(architecture: str, metric: str, quality: int) -> pathlib.Path:
    return torch_cache_dir() / weights_file(architecture, metric, quality)


class LearnedEncoder(Encoder):
    """A CompressAI architecture trained for one metric; parameter = quality level."""

    architecture: str = ""
    metric: str = ""

    @property
    def settings(self) -> dict:
        # A property: the device is chosen by the environment, and must be in the key.
        return {
            "architecture": self.architecture,
            "metric": self.metric,
            "pad_multiple": 64,
            "entropy_coder": "ans",
            "device": os.environ.get(DEVICE_ENV, "cpu"),
        }

    def qualities(self) -> range:
        return range(1, MAX_QUALITY[self.architecture] + 1)

    def canonical_param(self, value) -> str:
        q = int(value)
        if q not in self.qualities():
            raise ValueError(f"{self.name}: parameter {q} outside 1..{self.qualities()[-1]} (CompressAI quality)")
        return str(q)

    def weight_paths(self) -> dict[int, pathlib.Path]:
        return {q: _weights_path(self.architecture, self.metric, q) for q in self.qualities()}

    def check_weights(self) -> dict[int, pathlib.Path]:
        """Every quality's weight file, or ``MissingWeights`` naming the missing ones."""
        paths = self.weight_paths()
        missing = [p for p in paths.values() if not p.is_file()]
        if missing:
            raise missing_weights(self.name, missing)
        return paths

    def weights_sha256(self) -> dict[int, str]:
        return {q: file_sha256(p) for q, p in self.check_weights().items()}

    def version(self) -> str:
        """compressai's version and the sha256 of every quality's weights (one digest of them
        all: the version is per encoder, and a changed file must change every key of it)."""
        import torch

        joined = ",".join(f"{q}:{s}" for q, s in sorted(self.weights_sha256().items()))
        digest = hashlib.sha256(joined.encode()).hexdigest()
        return f"compressai {compressai_version()} (torch {torch.__version__}), weights sha256 {digest}"

    def _model(self, quality: int):
        s = self.settings
        if not 1 <= quality <= MAX_QUALITY[self.architecture]:
            raise ValueError(f"{self.name}: quality {quality} outside 1..{MAX_QUALITY[self.architecture]}")
        sha = file_sha256(self.check_weights()[quality])
        return _load(s["architecture"], s["metric"], quality, s["device"], s["entropy_coder"], sha)

    def write(self, image, param):
        import torch
        import torch.nn.functional as F
        from compressai.ops import compute_padding

        if image.mode not in ("RGB", "L"):
            raise ValueError(f"{self.name}: image mode {image.mode!r}, expected 'RGB' or 'L'")
        if max(image.size) > 0xFFFF:
            raise ValueError(f"{self.name}: image {image.size} larger than 65535 px on a side")
        quality, s = int(param), self.settings
        model = self._model(quality)
        x = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
        x = x.permute(2, 0, 1).unsqueeze(0).to(s["device"])
        pad, _ = compute_padding(image.height, image.width, min_div=s["pad_multiple"])
        with torch.inference_mode():
            out = model.compress(F.pad(x, pad, mode="constant", value=0))
        strings = [batch_strings[0] for batch_strings in out["strings"]]
        return Container(
            self.architecture,
            self.metric,
            quality,
            1 if image.mode == "L" else 3,
            image.width,
            image.height,
            tuple(pad),
            strings,
        ).to_bytes()

    def decode(self, data):
        import torch

        c = Container.from_bytes(data)
        if (c.architecture, c.metric) != (self.architecture, self.metric):
            raise ValueError(f"{self.name}: the container holds {c.architecture} ({c.metric}) bytes")
        model = self._model(c.quality)
        left, right, top, bottom = c.padding
        factor = model.downsampling_factor
        shape = ((c.height + top + bottom) // factor, (c.width + left + right) // factor)
        with torch.inference_mode():
            x = model.decompress([[s] for s in c.strings], shape)["x_hat"]
        x = x[0, :, top : top + c.height, left : left + c.width]
        pixels = (x.permute(1, 2, 0).cpu().numpy() * 255).round().clip(0, 255).astype(np.uint8)
        im = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
        return im.convert("L") if c.channels == 1 else im

    def payload_bytes(self, data):
        return sum(len(s) for s in Container.from_bytes(data).strings)


LEARNED: dict[str, type[LearnedEncoder]] = {}
for _arch in ARCHITECTURES:
    for _metric in METRICS:
        _name = encoder_name(_arch, _metric)
        LEARNED[_name] = register(
            type(
                _name,
                (LearnedEncoder,),
                {
                    "name": _name,
                    "architecture": _arch,
                    "metric": _metric,
                    "__doc__": f"CompressAI {_arch} trained for {_metric}; parameter: quality level.",
                },
            )
        )
