"""The GUI's own shape: no import cycle inside ``gui/``, and the window is composed, not mixed."""

from __future__ import annotations

import ast
from pathlib import Path

from gui_helpers import ROOT

GUI = ROOT / "nanocaption_desktop" / "gui"


def gui_imports(path: Path) -> set[str]:
    """The ``gui`` modules ``path`` imports (relative ``from .x import`` and absolute ones)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import theme
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("nanocaption_desktop.gui."):
                found.add(node.module.split(".")[2])
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of module names, or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for other in sorted(graph.get(name, ())):
            if state.get(other) == 1:
                return path[path.index(other) :] + [other]
            if other not in state and (cycle := visit(other)):
                return cycle
        path.pop()
        state[name] = 2
        return []

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            return cycle
    return []


def test_no_import_cycle_inside_gui():
    graph = {p.stem: gui_imports(p) for p in GUI.glob("*.py")}
    assert graph["window"] >= {"model_controller", "caption_controller", "worker"}  # it looks
    cycle = find_cycle(graph)
    assert cycle == [], " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"window": {"menus"}, "menus": {"window"}}) == ["menus", "window", "menus"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_window_is_a_plain_main_window():
    from PySide6.QtWidgets import QMainWindow

    from nanocaption_desktop.gui.window import MainWindow

    assert MainWindow.__bases__ == (QMainWindow,)  # no mixins sharing its private state
