"""The package's structure: layers, each importing only the layers below it.

The import graph is read from the source (``ast``), imports inside functions included, so a
cycle cannot hide in a function body. Function-level imports are allowed only for the
optional or heavy third-party libraries of ``DEFERRED``, each with its reason.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "codecsweep"

#: Lowest first: a module may import its own subpackage's modules and those of lower layers.
LAYERS = [
    {"core"},
    {"storage"},
    {"codecs", "models"},
    {"metrics", "sensitivity"},
    {"pipeline"},
    {"study", "report"},
    {"cli"},
    {"__main__"},
]

#: Third-party imports a function may defer, and why (one line each).
DEFERRED = {
    "torch": "a job the cache serves entirely never pays torch's start-up (~1 s, ~400 MB)",
    "torchvision": "imports torch",
    "efficientnet_lite_pytorch": "imports torch",
    "onnxruntime": "only jobs whose models run in ONNX Runtime load its native library (~40 ms)",
    "seaborn": "imports scipy.stats (~0.6 s): only a report that draws a scatter pays it",
    "lpips": "imports torch; only when its backbone weights are present",
    "compressai": "optional (installed without dependency resolution); imports torch",
    "glymur": "JPEG 2000 only, and it must be pointed at an OpenJPEG library before its import",
    "pillow_heif": "HEVC only: registers its plugin with Pillow on first use",
    "pillow_jxl": "JPEG XL only: registers its plugin with Pillow on first use",
    "tifffile": "TIFF sources only",
    "scipy": "scipy.stats takes about a second to import: only the tables that use it",
    "numba": "only jobs that compute pixel metrics import it (~0.2 s) and load its compiled kernels",
}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def targets(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> list[str]:
    """The modules an import statement names (for ``from x import y``: x, and x.y if y is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [prefix] + [f"{prefix}.{a.name}" for a in node.names]


def read_graph():
    """(module -> package modules it imports, [(module, line, imported) of function-level imports])."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges, deferred = {}, []
    for mod, path in paths.items():
        tree = ast.parse(path.read_text())
        is_package = path.name == "__init__.py"
        inside = {
            id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(f)
        }
        edges[mod] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                found = targets(mod, node, is_package)
                edges[mod] |= {t for t in found if t in paths and t != mod}
                if id(node) in inside:
                    deferred.append((mod, node.lineno, found[0]))
    return edges, deferred


def layer_of(module: str) -> tuple[int, str]:
    """(layer, subpackage) of a module: ``codecsweep.codecs.classic`` -> (2, "codecs")."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for n, names in enumerate(LAYERS):
        if top in names:
            return n, top
    raise AssertionError(f"{module}: not in any layer of LAYERS (add its subpackage there)")


EDGES, DEFERRED_IMPORTS = read_graph()


def test_every_module_has_a_layer():
    for mod in EDGES:
        if mod != "codecsweep":
            layer_of(mod)


def test_no_module_imports_a_higher_layer_or_a_neighbour_of_its_own():
    upward = []
    for mod, deps in EDGES.items():
        if mod == "codecsweep":
            assert not deps, "codecsweep/__init__.py imports nothing (every layer imports it)"
            continue
        (mine, top) = layer_of(mod)
        for dep in deps:
            if dep == "codecsweep":
                continue
            theirs, dep_top = layer_of(dep)
            if theirs > mine or (theirs == mine and dep_top != top):
                upward.append(f"{mod} (layer {mine}) imports {dep} (layer {theirs})")
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    """Tarjan's strongly connected components over every import, function-level ones included."""
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in EDGES[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in EDGES:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_function_level_imports_are_only_deferred_heavy_dependencies():
    wrong = [
        f"{mod}:{line} imports {name} inside a function"
        for mod, line, name in DEFERRED_IMPORTS
        if name.split(".")[0] not in DEFERRED
    ]
    assert not wrong, "\n".join(wrong)


def test_the_checks_see_a_cycle_and_an_upward_import():
    """The graph reader itself: a function-level import counts, relative imports resolve."""
    tree = ast.parse("def f():\n    from ..report import build\n")
    node = tree.body[0].body[0]
    assert targets("codecsweep.codecs.classic", node, False)[:2] == ["codecsweep.report", "codecsweep.report.build"]
    assert layer_of("codecsweep.report.build") > layer_of("codecsweep.codecs.classic")
    with pytest.raises(AssertionError, match="not in any layer"):
        layer_of("codecsweep.somewhere_new")


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and fn.end_lineno - fn.lineno + 1 > 80:
                long.append(
                    f"{path.relative_to(PACKAGE.parent)}:{fn.lineno} {fn.name}: {fn.end_lineno - fn.lineno + 1}"
                )
    assert not long, long
