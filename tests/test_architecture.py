"""The package's shape (docs/architecture.md), read from the source without importing it.

Every module's imports are parsed (module level, inside functions, under ``TYPE_CHECKING``: a lazy
import is still a dependency) and checked against three rules, each failure naming file:line:

1. layers import one way: ``app -> gui -> review -> jobs -> engine -> modelstore -> ground``
   (``metadata`` beside ``jobs``: ``jobs`` may use it, it uses only ``ground``; ``evaluation``
   beside ``review``, used by the app only); the app layer (``cli*``,
   ``__main__``, the package's ``__init__``) reaches ``gui`` only lazily, for the window command;
2. Qt (PySide6, shiboken6) is imported in ``gui/`` only, and the two lowest layers use only the
   third-party packages docs/architecture.md names for them;
3. no import cycles among modules (the cycle is printed), except the one listed below.

The checker is tested on small made-up packages too, so that each rule is known to fail.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "nanocaption_desktop"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

#: Subpackages that are a layer of their own.
LAYER_PACKAGES = (
    "gui",
    "evaluation",
    "review",
    "scale",
    "jobs",
    "metadata",
    "engine",
    "modelstore",
    "ground",
)
#: What each layer may import (itself included); the arrows of docs/architecture.md.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "app": frozenset({"app", *LAYER_PACKAGES}),  # every layer
    # beside gui: scores captions the batch runner made; nothing but the app imports it
    "evaluation": frozenset({"evaluation", "jobs", "metadata", "engine", "modelstore", "ground"}),
    "gui": frozenset({"gui", "review", "jobs", "metadata", "engine", "modelstore", "ground"}),
    # beside evaluation: the review workspace (states, store, writing out), no Qt; gui shows it
    "review": frozenset({"review", "jobs", "metadata", "engine", "modelstore", "ground"}),
    "scale": frozenset({"scale", "jobs", "metadata", "engine", "modelstore", "ground"}),
    "jobs": frozenset({"jobs", "metadata", "engine", "modelstore", "ground"}),
    "metadata": frozenset({"metadata", "ground"}),
    "engine": frozenset({"engine", "modelstore", "ground"}),
    "modelstore": frozenset({"modelstore", "ground"}),
    "ground": frozenset({"ground"}),
}
#: Layers the app may reach only inside a function: Qt (the window command) and Ray (--ray).
LAZY_FROM_APP = ("gui", "scale")
#: Top-level modules: the app layer, and two compatibility names for ground modules.
TOP_LEVEL = {"__init__": "app", "__main__": "app", "paths": "ground"}
APP_PREFIX = "cli"  # cli.py, cli_batch.py, cli_models.py, ...
QT = ("PySide6", "shiboken6")
#: Third-party packages a layer may use, where docs/architecture.md limits them (None: any).
THIRD_PARTY: dict[str, frozenset[str] | None] = {
    "ground": frozenset({"platformdirs"}),
    "modelstore": frozenset({"platformdirs", "onnx"}),
}

#: Import cycles that are known and being removed; each entry is the exact set of modules of
#: one cycle. A cycle that grows, shrinks or appears anew fails, and so does an entry whose cycle
#: is gone (delete it then). None today.
ALLOWED_CYCLES: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (ours: the longest existing module; else the full name)
    where: str  # file:line
    lazy: bool  # inside a function (or class body), not at module level


def module_files(package_dir: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest prefix of ``name`` that is one of our modules (``a.b.func`` -> ``a.b``)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return name


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, bool]]:
    """Every node with whether it sits inside a function or class body (a lazy import)."""
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, nested = stack.pop()
        yield node, nested
        inner = nested or isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
        )
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))


def imports_of(module: str, path: Path, modules: dict[str, Path], top: Path) -> list[Import]:
    """The imports of one module; ``where`` is relative to ``top`` (the package's parent)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    rel = path.relative_to(top).as_posix()
    found: list[tuple[int, Import]] = []
    for node, lazy in _walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for name in names:
            target = _resolve(name, modules)
            found.append((node.lineno, Import(module, target, f"{rel}:{node.lineno}", lazy)))
    return [imp for _, imp in sorted(found, key=lambda item: item[0])]


def layer_of(module: str, package: str = PACKAGE) -> str | None:
    parts = module.split(".")
    if parts[0] != package:
        return None
    if len(parts) == 1:
        return TOP_LEVEL["__init__"]
    head = parts[1]
    if len(parts) > 2 or head in LAYER_PACKAGES:
        return head if head in LAYER_PACKAGES else None
    if head in TOP_LEVEL:
        return TOP_LEVEL[head]
    return "app" if head.startswith(APP_PREFIX) else None


def _third_party(top: str) -> bool:
    return top not in sys.stdlib_module_names and top != "__future__"


def layer_problems(graph: list[Import], package: str = PACKAGE) -> list[str]:
    problems = []
    for imp in graph:
        source = layer_of(imp.source, package)
        if source is None:
            problems.append(f"{imp.where}: {imp.source} is in no layer (docs/architecture.md)")
            continue
        top = imp.target.split(".")[0]
        if top in QT:
            if source != "gui":
                problems.append(f"{imp.where}: Qt ({imp.target}) imported outside gui/")
            continue
        if top != package:
            allowed = THIRD_PARTY.get(source)
            if _third_party(top) and allowed is not None and top not in allowed:
                problems.append(f"{imp.where}: the {source} layer may not use {top}")
            continue
        target = layer_of(imp.target, package)
        if target is None:
            problems.append(f"{imp.where}: {imp.target} is in no layer (docs/architecture.md)")
        elif target not in MAY_IMPORT[source]:
            problems.append(
                f"{imp.where}: upward import: {imp.source} ({source}) imports "
                f"{imp.target} ({target})"
            )
        elif source == "app" and target in LAZY_FROM_APP and not imp.lazy:
            why = "Qt is lazy" if target == "gui" else "Ray is lazy"
            problems.append(f"{imp.where}: {imp.target} imported at module level ({why})")
    return list(dict.fromkeys(problems))  # `from x import a, b`: one line, once


def _cycles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself
    (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, {}):
                    found.append(sorted(component))
    return found


def _one_loop(component: list[str], edges: dict[str, dict[str, str]]) -> list[str]:
    """One closed path through a cycle's modules, as ``a (file:line) -> b ...``."""
    members = set(component)
    path = [component[0]]
    seen = {component[0]: 0}
    while True:
        here = path[-1]
        nxt = next(m for m in sorted(edges[here]) if m in members)
        if nxt in seen:
            loop = path[seen[nxt] :] + [nxt]
            steps = zip(loop[:-1], loop[1:], strict=True)
            return [f"{a} ({edges[a][b]})" for a, b in steps] + [loop[-1]]
        seen[nxt] = len(path)
        path.append(nxt)


def cycle_problems(
    graph: list[Import], allowed: tuple[frozenset[str], ...] = ALLOWED_CYCLES
) -> list[str]:
    edges: dict[str, dict[str, str]] = {}
    for imp in graph:
        if imp.target.split(".")[0] == imp.source.split(".")[0]:
            edges.setdefault(imp.source, {}).setdefault(imp.target, imp.where)
    problems = []
    seen = set()
    for component in _cycles(edges):
        key = frozenset(component)
        seen.add(key)
        if key in allowed:
            continue
        problems.append("import cycle: " + " -> ".join(_one_loop(component, edges)))
    for key in allowed:
        if key not in seen:
            problems.append(f"allowed cycle no longer there, delete it: {sorted(key)}")
    return problems


def package_graph(package_dir: Path, package: str) -> list[Import]:
    modules = module_files(package_dir, package)
    top = package_dir.parent
    return [
        imp for module, path in modules.items() for imp in imports_of(module, path, modules, top)
    ]


# --- the real package -------------------------------------------------------------------------


def test_layers_are_one_way_and_qt_stays_in_gui():
    problems = layer_problems(package_graph(PACKAGE_DIR, PACKAGE))
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    problems = cycle_problems(package_graph(PACKAGE_DIR, PACKAGE))
    assert not problems, "\n".join(problems)


def test_every_module_is_in_a_layer():
    modules = module_files(PACKAGE_DIR, PACKAGE)
    assert len(modules) > 50  # the walk found the package
    assert [m for m in modules if layer_of(m) is None] == []


def test_only_ground_paths_knows_frozen_paths_and_platformdirs():
    modules = module_files(PACKAGE_DIR, PACKAGE)
    found = set()
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] == "platformdirs" for n in names) or (
                isinstance(node, ast.Attribute) and node.attr == "_MEIPASS"
            ):
                found.add(module)
    assert found - {f"{PACKAGE}.ground.paths"} == set()


# --- the checker itself, on made-up packages ---------------------------------------------------


def _make(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(text)
    return root


def _check(tmp_path: Path, files: dict[str, str]) -> list[str]:
    graph = package_graph(_make(tmp_path, files), "pkg")
    return layer_problems(graph, "pkg") + cycle_problems(graph, allowed=())


def test_checker_reports_an_upward_import_with_its_line(tmp_path):
    problems = _check(
        tmp_path,
        {
            "engine/errors.py": "",
            "modelstore/trust.py": "import os\n\nfrom ..engine.errors import X\n",
        },
    )
    assert problems == [
        "pkg/modelstore/trust.py:3: upward import: pkg.modelstore.trust (modelstore) imports "
        "pkg.engine.errors (engine)"
    ]


def test_checker_counts_lazy_and_type_checking_imports(tmp_path):
    problems = _check(
        tmp_path,
        {
            "jobs/batch.py": "",
            "engine/a.py": "def f():\n    from ..jobs import batch\n",
            "engine/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    import pkg.gui.window\n",
            "gui/window.py": "",
        },
    )
    assert len(problems) == 2
    assert problems[0].startswith("pkg/engine/a.py:2: upward import")
    assert problems[1].startswith("pkg/engine/b.py:3: upward import")


def test_checker_reports_qt_below_gui_and_eager_gui_in_the_cli(tmp_path):
    problems = _check(
        tmp_path,
        {
            "jobs/x.py": "def f():\n    from PySide6.QtCore import QObject\n",
            "gui/app.py": "from PySide6 import QtWidgets\n",
            "cli.py": "from .gui import app\n\ndef g():\n    from .gui import app\n",
            "ground/p.py": "import numpy\nimport platformdirs\n",
        },
    )
    assert problems == [
        "pkg/cli.py:1: pkg.gui.app imported at module level (Qt is lazy)",
        "pkg/ground/p.py:1: the ground layer may not use numpy",
        "pkg/jobs/x.py:2: Qt (PySide6.QtCore) imported outside gui/",
    ]


def test_checker_reports_scale_imported_eagerly_or_from_below(tmp_path):
    """Ray is optional: the app reaches scale/ only inside a function, and nothing below uses it."""
    problems = _check(
        tmp_path,
        {
            "cli.py": "from .scale import run\n\ndef g():\n    from .scale import run\n",
            "jobs/x.py": "def f():\n    from ..scale import run\n",
            "scale/run.py": "from ..jobs import y\n",
            "jobs/y.py": "",
        },
    )
    assert problems == [
        "pkg/cli.py:1: pkg.scale.run imported at module level (Ray is lazy)",
        "pkg/jobs/x.py:2: upward import: pkg.jobs.x (jobs) imports pkg.scale.run (scale)",
    ]


def test_checker_reports_a_cycle_with_each_line(tmp_path):
    problems = _check(
        tmp_path,
        {
            "engine/a.py": "from . import b\n",
            "engine/b.py": "\n\ndef f():\n    from .c import g\n",
            "engine/c.py": "from .a import h\n",
        },
    )
    assert problems == [
        "import cycle: pkg.engine.a (pkg/engine/a.py:1) -> pkg.engine.b (pkg/engine/b.py:4) -> "
        "pkg.engine.c (pkg/engine/c.py:1) -> pkg.engine.a"
    ]


def test_checker_allows_only_the_exact_listed_cycle(tmp_path):
    files = {"gui/a.py": "from . import b\n", "gui/b.py": "from . import a\n"}
    graph = package_graph(_make(tmp_path, files), "pkg")
    pair = frozenset({"pkg.gui.a", "pkg.gui.b"})
    assert cycle_problems(graph, allowed=(pair,)) == []
    assert cycle_problems(graph, allowed=(pair | {"pkg.gui.c"},))[0].startswith("import cycle")
    stale = cycle_problems([], allowed=(pair,))
    assert stale == ["allowed cycle no longer there, delete it: ['pkg.gui.a', 'pkg.gui.b']"]


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("nanocaption_desktop", "app"),
        ("nanocaption_desktop.cli_models", "app"),
        ("nanocaption_desktop.paths", "ground"),
        ("nanocaption_desktop.engine.derive", "engine"),
        ("nanocaption_desktop.review.store", "review"),
        ("nanocaption_desktop.ground.errors", "ground"),
        ("nanocaption_desktop.scale.backend", "scale"),
        ("nanocaption_desktop.stray", None),
        ("nanocaption_desktop.stray.inner", None),
    ],
)
def test_layer_of(module, layer):
    assert layer_of(module) == layer


# --- the same rule at run time -----------------------------------------------------------------

_IMPORT_LAYERS = """
import importlib, sys
names = sys.argv[1:]
for name in names:
    importlib.import_module(name)
print(" ".join(sorted(m for m in sys.modules if m.startswith("nanocaption_desktop"))))
"""


@pytest.mark.parametrize("layer", ["ground", "modelstore", "engine", "scale"])
def test_importing_a_layer_loads_nothing_above_it(layer):
    """Every module of `layer` and the layers it may use, imported in a fresh interpreter, loads
    no module of a layer above (a dynamic import the static check cannot see would show here)."""
    import subprocess

    modules = module_files(PACKAGE_DIR, PACKAGE)
    wanted = [m for m in modules if layer_of(m) in MAY_IMPORT[layer] and m != PACKAGE]
    assert any(layer_of(m) == layer for m in wanted)
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_LAYERS, *wanted], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert set(wanted) <= set(loaded)
    above = [m for m in loaded if m != PACKAGE and layer_of(m) not in MAY_IMPORT[layer]]
    assert above == []
