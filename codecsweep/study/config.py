"""The study configuration after schema validation: grids merged and checked.

``snakemake.utils.validate`` checks types and allowed values against
``config/schema.yaml``; ``load_study`` then checks what a schema cannot (grid files exist,
every selected encoder has a grid, every parameter is valid for its codec, dataset names
are unique) and raises ``ConfigError`` naming the key, before any job runs.
``check_inputs`` checks what the machine must provide (roots, sheets and ground truths
exist and parse, ``cache_dir`` is writable), also at workflow load.

Each job's memory (``mem_mb``) grows with the largest image of its shard: ``MEM_MB`` gives,
per stage, a base (libraries, models) and MB per megapixel of that image.
"""

from __future__ import annotations

import functools
import os
import pathlib
import tempfile
from dataclasses import dataclass

import pyarrow.parquet as pq
import yaml

from ..codecs import encoder_class, get_encoder
from ..core.paths import REPO
from ..models import get_spec
from ..storage.images import Limits
from .datasets import DatasetError, list_entries


class ConfigError(ValueError):
    pass


SCHEMA = REPO / "config" / "schema.yaml"


@functools.cache
def _schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


def default_of(key: str):
    """The default of a top-level config key: the schema's (each default in one place)."""
    return _schema()["properties"][key]["default"]


#: stage -> (base MB, MB per megapixel of the shard's largest image), from the peak RSS that
#: benchmarks/memory_benchmark.py printed (CPU, one JPEG variant, EfficientNet-Lite0) with
#: ~25% headroom: encode 148 / 367 / 1032 MB at 1 / 12 / 48 MP (~20 MB/MP); classify
#: 729 / 783 / 1032 MB; analyze (classify + pixel metrics + dfd in one pass) 810 / 1042 /
#: 2080 MB (~28 MB/MP). The bases keep ~700 MB for a classifier larger than Lite0.
MEM_MB = {"encode": (500, 25), "classify": (1500, 10), "analyze": (1500, 36)}


@functools.lru_cache(maxsize=64)
def _largest_pixels(images_path: str, mtime_ns: int) -> dict:
    """(dataset, shard) -> the largest width*height of its usable images."""
    t = pq.read_table(images_path, columns=["dataset", "shard", "status", "width", "height"]).to_pylist()
    out: dict = {}
    for r in t:
        if r["status"] == "ok":
            key = (r["dataset"], r["shard"])
            out[key] = max(out.get(key, 0), r["width"] * r["height"])
    return out


#: Which ready job Snakemake starts first: the stages that unlock analyze jobs before them
#: (an x265 encode left for the end would run while a core idles), then the larger shard.
STAGE_PRIORITY = {"encode": 2, "classify": 2, "analyze": 1}


def priority(stage: str, shard_files: int) -> int:
    """Snakemake's ``priority`` of a job: ``STAGE_PRIORITY``, then the files its shard lists
    (known when the DAG is built, unlike the images table): the longest jobs first, so the
    short ones fill the end of the run instead of one long job running while cores idle."""
    return STAGE_PRIORITY[stage] * 1_000_000 + min(999_999, shard_files)


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
    run: str = ""  # a named run keeps its results/, reports/ and logs/ under runs/<run>/

    def out(self, path: str) -> str:
        """Where an output of this study goes: ``path`` itself, or ``runs/<run>/path`` for a
        named run, so several studies in one project never overwrite each other's outputs."""
        return f"runs/{self.run}/{path}" if self.run else path

    def encoder_grid(self, encoder: str) -> dict:
        return {"encoder": encoder, "params": list(self.grids[encoder])}

    def shards(self, dataset: str) -> range:
        return range(self.datasets[dataset]["shards"])

    def mem_mb(self, stage: str, images_path: str, dataset: str, shard: int) -> int:
        """mem_mb of one job: base + MB/MP × the shard's largest image (before ingest has
        written the images table, the base + 12 MP: Snakemake asks again once it exists)."""
        base, per_mp = MEM_MB[stage]
        try:
            pixels = _largest_pixels(str(images_path), os.stat(images_path).st_mtime_ns).get((dataset, shard), 0)
        except OSError:
            pixels = 12_000_000
        return int(base + per_mp * pixels / 1e6)

    @property
    def holds_out(self) -> bool:
        """An encoder of the study is tuned on calibration images (it needs a sensitivity map):
        the report then rests on the held-out images only."""
        return any("sensitivity_map" in encoder_class(e).needs for e in self.encoders)

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


def check_names(key: str, names) -> None:
    """Every name of ``key`` (``encoders`` or ``models``) is registered; else a ConfigError
    naming the key and the known names."""
    lookup = {"encoders": encoder_class, "models": get_spec}[key]
    for name in names or []:
        try:
            lookup(name)
        except KeyError as exc:
            raise ConfigError(f"{key}: {exc.args[0]}") from None


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
    check_names("encoders", config.get("encoders"))
    check_names("models", config.get("models"))
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
        models=tuple(config.get("models") or default_of("models")),
        cache_dir=config.get("cache_dir") or default_of("cache_dir"),
        limits=Limits(**limits),
        run=config.get("run") or "",
    )


def _check_file(key: str, path: str) -> None:
    p = pathlib.Path(path)
    if not p.is_file():
        raise ConfigError(f"{key}: {path} {'is not a file' if p.exists() else 'does not exist'}")
    if not os.access(p, os.R_OK):
        raise ConfigError(f"{key}: {path} is not readable")


def check_cache_dir(cache_dir: str) -> None:
    """cache_dir must be (made) a folder this process can write: every encode job writes there."""
    p = pathlib.Path(cache_dir)
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"cache_dir: {cache_dir} is not a writable folder ({exc.strerror or exc})") from None


def check_inputs(study: Study, made_by_workflow=()) -> None:
    """What the machine must provide, checked at workflow load so that a run that cannot work
    stops before any job, naming the key: roots, sheets and ground truths exist (roots in
    ``made_by_workflow`` are produced by a rule), sheets parse, cache_dir is writable."""
    for name, spec in study.datasets.items():
        key = f"datasets: {name!r}"
        for field in ("sheet", "ground_truth"):
            if spec.get(field):
                _check_file(f"{key} {field}", spec[field])
        if spec["root"] in made_by_workflow:
            continue
        if not pathlib.Path(spec["root"]).is_dir():
            what = "is not a folder" if pathlib.Path(spec["root"]).exists() else "does not exist"
            raise ConfigError(f"{key} root: {spec['root']} {what}")
        if spec["kind"] == "sheet":
            try:
                list_entries(spec)
            except DatasetError as exc:
                raise ConfigError(f"{key} sheet: {exc}") from None
    check_cache_dir(study.cache_dir)
