"""What the project declares is what it uses: pins in one place, every import declared."""

import ast
import importlib.metadata
import pathlib
import re
import sys
import tomllib

import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent


def _pyproject_pins() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {d.replace(" ", "") for d in project["dependencies"]}


def _no_deps_pins(path: str = "Makefile") -> set[str]:
    """Packages installed with --no-deps (their metadata conflicts with our pins)."""
    pins = set()
    for line in (REPO / path).read_text().splitlines():
        if "--no-deps" in line:
            pins |= set(re.findall(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9_.]*", line))
    return pins


def test_conda_env_pins_equal_pyproject_pins():
    """pip's setup (pyproject + the Makefile's --no-deps line) and conda's (the env file + its
    post-deploy script's --no-deps line) install the same pinned packages."""
    env = yaml.safe_load((REPO / "envs/codecsweep.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _no_deps_pins("envs/codecsweep.post-deploy.sh") == _no_deps_pins()
    assert set(pip) | _no_deps_pins("envs/codecsweep.post-deploy.sh") == _pyproject_pins() | _no_deps_pins()


def _imported_top_level_modules() -> set[str]:
    found = set()
    for folder in ("codecsweep", "workflow_scripts"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"codecsweep", "__future__"}


def test_every_imported_package_is_declared():
    declared = {re.split(r"[=<>]", p)[0].lower().replace("_", "-") for p in _pyproject_pins() | _no_deps_pins()}
    dists = importlib.metadata.packages_distributions()
    undeclared = {
        module: dists.get(module)
        for module in _imported_top_level_modules()
        if not {d.lower().replace("_", "-") for d in dists.get(module, [module])} & declared
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
