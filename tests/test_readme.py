"""The README's commands work as written, so it cannot rot.

Convention: a fenced block opened with ```` ```sh test ```` or ```` ```python test ```` (GitHub highlights
by the first word and ignores the rest) is RUN here, in order, in a scratch project: the workflow files,
a small results/ folder in the real schemas (the report tests' fixture), and ``~/photos`` holding 2
small photographs. Keep those blocks fast (seconds). Every other ``codecsweep`` line of the README is
parsed by the command's own argument parser, so a renamed option fails here too.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from codecsweep import cli
from codecsweep.codecs import get_encoder
from codecsweep.core.paths import copy_workflow
from codecsweep.models import get_spec
from tests.test_report import fixture_files  # noqa: F401  (Parquet files in the contract's schemas)
from tests.workflow import tiny_photo

REPO = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.M | re.S)


def blocks(tested: bool) -> list[tuple[str, str]]:
    """(language, text) of the README's fenced blocks, the ``test``-marked ones or the others."""
    found = BLOCK.findall((REPO / "README.md").read_text())
    return [(lang, text) for lang, info, text in found if ("test" in info.split()) == tested]


def test_the_readme_marks_fast_commands_to_run():
    langs = [lang for lang, _ in blocks(tested=True)]
    assert langs.count("sh") >= 3 and langs.count("python") >= 2


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, fixture_files):  # noqa: F811
    """A project as the README's setup leaves it after a run, with the commands on PATH."""
    root = tmp_path_factory.mktemp("readme")
    project, home, bin_dir = root / "project", root / "home", root / "bin"
    project.mkdir()
    copy_workflow(project)
    shutil.copy(REPO / "config/config.yaml", project / "config/config.yaml")
    layout = {
        "images": "results/images/d/shard-0.parquet",
        "variants": "results/variants/d/jpeg/shard-0.parquet",
        "originals": "results/predictions/d/m/original/shard-0.parquet",
        "metrics": "results/metrics/d/jpeg/shard-0.parquet",
    }
    for name, rel in layout.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(fixture_files[name][0], project / rel)
    (home / "photos").mkdir(parents=True)
    for name in ("chelsea", "coffee"):
        im = tiny_photo(name)
        im.resize((160, round(im.height * 160 / im.width))).save(home / "photos" / f"{name}.png")
    # The environment's own bin (python, snakemake, codecsweep). An environment installed before
    # the console script existed lacks `codecsweep`: a shim runs the same main (test_cli checks
    # that pyproject declares it).
    bin_dir.mkdir()
    venv_bin = pathlib.Path(sys.executable).parent
    if not (venv_bin / "codecsweep").exists():
        shim = bin_dir / "codecsweep"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m codecsweep "$@"\n')
        shim.chmod(0o755)
    env = {
        **os.environ,
        "HOME": str(home),
        "TORCH_HOME": str(home / "torch"),
        "PATH": f"{bin_dir}{os.pathsep}{venv_bin}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return project, env


@pytest.mark.parametrize("n", range(len(blocks(tested=True))))
def test_readme_block_runs(scratch, n):
    project, env = scratch
    lang, text = blocks(tested=True)[n]
    cmd = ["bash", "-e", "-o", "pipefail", "-c", text] if lang == "sh" else [sys.executable, "-c", text]
    proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"README block failed ({proc.returncode}):\n{text}\n{proc.stderr[-4000:]}"
    assert proc.stdout.strip(), f"README block printed nothing:\n{text}"


def _command_lines() -> list[list[str]]:
    lines = []
    for lang, text in blocks(tested=False):
        if lang != "sh":
            continue
        for line in text.replace("\\\n", " ").splitlines():
            if line.startswith("codecsweep "):
                lines.append(shlex.split(line.split(" #")[0])[1:])
    return lines


@pytest.mark.parametrize("argv", _command_lines(), ids=" ".join)
def test_other_readme_commands_parse(argv):
    args = cli.parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    assert args.command == argv[0]
    if args.command == "run":  # names of encoders, models and grids as the command checks them
        for value in cli._names(args.grid) or []:
            cli._grid_file(REPO, value)
        for name in cli._names(args.encoders) or []:
            get_encoder(name)
        for name in cli._names(args.models) or []:
            get_spec(name)


# -- the output paths the README names exist (issue 26, item 10) ---------------------------------

#: Outputs of an optional encoder that the smoke config does not run: the README names them
#: beside it (checked below), and tests/test_machine_jpeg*.py / test_workflow cover them.
ONLY_WITH = {"results/sensitivity/": "jpeg_mo", "results/splits/": "jpeg_mo"}


def readme_results_paths() -> list[str]:
    """Every ``results/…`` path the README names (prose, tables, code), as written there."""
    text = (REPO / "README.md").read_text()
    return sorted({m.rstrip(".,:;") for m in re.findall(r"results/[^\s`'\")\]]*", text)})


def results_globs(path: str) -> list[str]:
    """The globs a README path stands for: ``<dataset>`` (any name), ``shard-N``, ``…``, and
    ``{original,<encoder>}`` (each alternative; ``{table}``, a format field: any)."""
    path = re.sub(r"<[^>]+>", "*", path.replace("…", "**")).replace("shard-N", "shard-*")
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    alternatives = m.group(1).split(",") if "," in m.group(1) else ["*"]
    return [g for a in alternatives for g in results_globs(path[: m.start()] + a + path[m.end() :])]


def test_the_readme_paths_are_found():
    paths = readme_results_paths()
    assert {"results/rejected/<dataset>/shard-N.csv", "results/manifests/<dataset>/shard-N.jsonl"} <= set(paths)
    assert results_globs("results/predictions/<dataset>/<model>/{original,<encoder>}/shard-N.parquet") == [
        "results/predictions/*/*/original/shard-*.parquet",
        "results/predictions/*/*/*/shard-*.parquet",
    ]


@pytest.mark.slow
def test_every_results_path_the_readme_names_exists_after_the_smoke_run(tmp_path):
    """The README named ``results/rejected/<dataset>.csv`` and ``results/manifests/<dataset>.jsonl``
    when both had become per shard. Runs config/smoke.yaml (about a minute) in a copy."""
    from tests.workflow import Project

    p = Project(tmp_path / "project", tmp_path / "cache")
    for rel in ("config/smoke.yaml", "config/datasets/smoke.tsv"):
        (p.root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, p.root / rel)
    p.run("--configfile", "config/smoke.yaml")
    out = p.root / "runs/smoke"  # the smoke config is a named run: the README's layout under runs/smoke/
    text = (REPO / "README.md").read_text()
    missing = []
    for path in readme_results_paths():
        if path in ONLY_WITH:
            at = text.index(path)
            assert ONLY_WITH[path] in text[max(0, at - 600) : at], f"the README names {path} without its encoder"
            continue
        for g in results_globs(path):  # each alternative of {original,<encoder>} too
            found = list(out.glob(g.rstrip("/")))
            if not found or any(f.is_dir() and not any(f.iterdir()) for f in found):
                missing.append(g)
    assert not missing, f"the README names these, the smoke run wrote none of them: {missing}"
