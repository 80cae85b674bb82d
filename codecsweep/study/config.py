"""The study configuration after schema validation: grids merged and checked.

``validate_config`` checks types and allowed values against ``config/schema.yaml`` (and fills
in its defaults, as ``snakemake.utils.validate`` does) and raises ``ConfigError`` with one
sentence naming the key, its value and what is allowed; ``load_study`` then checks what a
schema cannot (grid files exist, every selected encoder has a grid, every parameter is valid
for its codec, dataset names are unique) and raises ``ConfigError`` naming the key, before
any job runs. ``check_inputs`` checks what the machine must provide (roots, sheets and
ground truths exist and parse, ``cache_dir`` is writable), also at workflow load.

Each job's memory (``mem_mb``) grows with the largest image of its shard: ``MEM_MB`` gives,
per stage, a base (libraries, models) and MB per megapixel of that image (for ingest, from
the headers of the files its manifest lists; for the others, from the images table).
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
import pathlib
import tempfile
from dataclasses import dataclass

import jsonschema
import pyarrow.parquet as pq
import yaml

from ..codecs import encoder_class, get_encoder
from ..core.paths import REPO
from ..models import get_spec
from ..storage.images import Limits
from .datasets import DatasetError, largest_listed_pixels, list_entries


class ConfigError(ValueError):
    pass


SCHEMA = REPO / "config" / "schema.yaml"


@functools.cache
def _schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


#: jsonschema's types in a YAML user's words.
_TYPES = {
    "array": "a list ([a, b])",
    "object": "a mapping (key: value)",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _yaml(value) -> str:
    """A value as the config file writes it, a string quoted ('text', null, true, [a, b])."""
    if isinstance(value, str):
        return repr(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("\n...").strip()


def _key(path) -> str:
    """``datasets[0].shards`` from jsonschema's path (``deque(['datasets', 0, 'shards'])``)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed(err: jsonschema.ValidationError) -> str:
    """What the schema allows where ``err`` is, as the end of a sentence."""
    v, arg = err.validator, err.validator_value
    bounds = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than"}
    bounds["exclusiveMaximum"] = "less than"
    if v in bounds:
        return f"it must be {bounds[v]} {arg}"
    if v == "enum":
        return "allowed: " + ", ".join(_yaml(a) for a in arg)
    if v == "type":
        kinds = [arg] if isinstance(arg, str) else arg
        return "it must be " + " or ".join(_TYPES.get(k, k) for k in kinds)
    if v == "pattern":
        return f"it must match the regular expression {arg}"
    if v == "minItems":
        return f"it needs at least {arg} item{'s' if arg != 1 else ''}"
    if v == "uniqueItems":
        return "each item may appear once"
    if v in ("oneOf", "anyOf"):
        return "it must be " + " or ".join(_alternative(a) for a in arg)
    return err.message


def _alternative(schema: dict) -> str:
    """One of a ``oneOf``'s alternatives in words: its type, or its allowed values."""
    if "enum" in schema:
        return " or ".join(_yaml(a) for a in schema["enum"])
    return _TYPES.get(schema.get("type"), str(schema))


def _schema_sentence(err: jsonschema.ValidationError) -> str:
    """One sentence a user can act on: the key, its value, what is allowed."""
    key, value = _key(err.absolute_path) or "the config", err.instance
    where = f" in {key}" if err.absolute_path else ""
    if err.validator == "additionalProperties":
        known = sorted(err.schema.get("properties", {}))
        unknown = sorted(set(value) - set(known))
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {unknown[0]!r}{where}{hint}; allowed: {', '.join(known)}"
    if err.validator == "required":
        missing = [k for k in err.validator_value if k not in value]
        return f"the required key {missing[0]!r} is missing{where} (required: {', '.join(err.validator_value)})"
    return f"{key} is {_yaml(value)}; {_allowed(err)}"


def _with_defaults(validator_class):
    """A validator that also fills in each property's default (snakemake.utils.validate's way)."""
    properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from properties(validator, props, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def validate_config(config: dict, schema_path: str | os.PathLike = SCHEMA) -> dict:
    """Check ``config`` against the schema and fill in its defaults (in place; returned too).

    The first problem (jsonschema's best match) is a ``ConfigError`` of one sentence: the key,
    its value and what is allowed, e.g. ``datasets[0].shards is 0; it must be at least 1``.
    """
    schema = yaml.safe_load(pathlib.Path(schema_path).read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    err = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if err is not None:
        raise ConfigError(_schema_sentence(err))
    return config


def default_of(key: str):
    """The default of a top-level config key: the schema's (each default in one place)."""
    return _schema()["properties"][key]["default"]


#: stage -> (base MB, MB per megapixel of the shard's largest image), from the peak RSS that
#: benchmarks/memory_benchmark.py printed (CPU, one JPEG variant, EfficientNet-Lite0) with
#: ~25% headroom: encode 148 / 367 / 1032 MB at 1 / 12 / 48 MP (~20 MB/MP); classify
#: 729 / 783 / 1032 MB; analyze (classify + pixel metrics + dfd in one pass) 810 / 1042 /
#: 2080 MB (~28 MB/MP). The bases keep ~700 MB for a classifier larger than Lite0.
#: ingest (decode, normalize, hash; /usr/bin/time -v on ``datasets.ingest`` of a one-image
#: folder in a fresh process): 114 MB with a 0.3 MP image (the job itself: ~165 MB, Snakemake's
#: benchmark file); at 100 MP (10000×10000) an RGB PNG 873 MB, an RGBA PNG 1255, a 16-bit gray
#: PNG 969, a 16-bit RGB TIFF 1351; at 25 MP a float32 RGB TIFF 565 (the most: 18 MB/MP); a
#: 12 MP HEIC 212. 24 MB/MP covers the float TIFF with a third to spare (before the blockwise
#: 8-bit conversion and the copy-free alpha flattening of storage.images: RGBA PNG 2396 MB,
#: 16-bit TIFF 5259). The largest image comes from the files' headers (``ingest_mem_mb``).
MEM_MB = {"ingest": (400, 24), "encode": (500, 25), "classify": (1500, 10), "analyze": (1500, 36)}


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


@functools.lru_cache(maxsize=256)
def _listed_pixels(manifest: str, mtime_ns: int, limits: Limits) -> int:
    return largest_listed_pixels(manifest, limits)


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

    def ingest_mem_mb(self, manifest: str) -> int:
        """mem_mb of a shard's ingest: base + MB/MP × the largest image its manifest lists
        (``MEM_MB["ingest"]``), read from the files' headers when the DAG is built (no images
        table exists before ingest; nothing is decoded; once per manifest version). Formula:
        ``400 + 24 × megapixels`` (a 10000×10000 PNG: 2800 MB); an unreadable manifest: 12 MP."""
        base, per_mp = MEM_MB["ingest"]
        try:
            pixels = _listed_pixels(str(manifest), os.stat(manifest).st_mtime_ns, self.limits)
        except (OSError, ValueError):
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
