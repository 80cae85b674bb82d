"""The study configuration after schema validation: grids merged and checked.

``snakemake.utils.validate`` checks types and allowed values against
``config/schema.yaml``; ``load_study`` then checks what a schema cannot (grid files exist,
every selected encoder has a grid, every parameter is valid for its codec, dataset names
are unique) and raises ``ConfigError`` naming the key, before any job runs.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import yaml

from .codecs import get_encoder
from .images import Limits
from .models import get_spec


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Study:
    datasets: dict  # name -> dataset spec
    scales: tuple
    colors: tuple
    grids: dict  # encoder -> list of canonical params
    encoders: tuple
    models: tuple
    cache_dir: str
    limits: Limits

    def encoder_grid(self, encoder: str) -> dict:
        return {"encoder": encoder, "params": list(self.grids[encoder])}

    def shards(self, dataset: str) -> range:
        return range(self.datasets[dataset]["shards"])

    @property
    def variants_per_image(self) -> dict:
        return {e: len(self.scales) * len(self.colors) * len(self.grids[e]) for e in self.encoders}


def _load_grid(path: str) -> dict:
    try:
        doc = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"grids: cannot read grid file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"grids: {path} is not valid YAML: {exc}") from exc
    unknown = set(doc) - {"scales", "colors", "encoders"}
    if unknown:
        raise ConfigError(
            f"grids: {path}: unknown key(s) {', '.join(sorted(unknown))} (allowed: scales, colors, encoders)"
        )
    return doc


def load_study(config: dict) -> Study:
    merged: dict = {"encoders": {}}
    for path in config["grids"]:
        doc = _load_grid(path)
        merged.update({k: v for k, v in doc.items() if k != "encoders"})
        merged["encoders"].update(doc.get("encoders") or {})
    scales = config.get("scales") or merged.get("scales")
    colors = config.get("colors") or merged.get("colors")
    if not scales or not colors:
        raise ConfigError("scales/colors: no grid file (nor the config) defines them")
    for s in scales:
        if not (isinstance(s, (int, float)) and 0 < s <= 1):
            raise ConfigError(f"scales: {s!r} must be a number in (0, 1]")
    for c in colors:
        if c not in ("rgb", "gray"):
            raise ConfigError(f"colors: {c!r} must be rgb or gray")
    for key, lookup in (("encoders", get_encoder), ("models", get_spec)):
        for name in config.get(key) or []:
            try:
                lookup(name)
            except KeyError as exc:
                raise ConfigError(f"{key}: {exc.args[0]}") from None
    grids = {}
    for enc in config["encoders"]:
        if enc not in merged["encoders"]:
            raise ConfigError(f"encoders: {enc!r} has no grid in {', '.join(config['grids'])}")
        try:
            params = [get_encoder(enc).canonical_param(p) for p in merged["encoders"][enc]]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"grid of encoder {enc!r}: {exc}") from exc
        if len(set(params)) != len(params):
            raise ConfigError(f"grid of encoder {enc!r}: duplicate parameters {params}")
        grids[enc] = tuple(params)
    datasets = {}
    for ds in config["datasets"]:
        if ds["name"] in datasets:
            raise ConfigError(f"datasets: the name {ds['name']!r} is used twice")
        needs = {"sheet": "sheet", "ilsvrc_val": "ground_truth"}.get(ds["kind"])
        if needs and not ds.get(needs):
            raise ConfigError(f"datasets: {ds['name']!r} of kind {ds['kind']} needs {needs!r}")
        datasets[ds["name"]] = {"shards": 1, **ds}
    limits = config.get("limits") or {}
    return Study(
        datasets=datasets,
        scales=tuple(float(s) for s in scales),
        colors=tuple(colors),
        grids=grids,
        encoders=tuple(config["encoders"]),
        models=tuple(config.get("models") or ["efficientnet_lite0"]),
        cache_dir=config.get("cache_dir", ".cache/codecsweep"),
        limits=Limits(**limits),
    )
