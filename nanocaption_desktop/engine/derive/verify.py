"""`models verify` for derived copies: every copy of a bundle's graphs, beside the bundle and in
the user cache, the rows copy of each derived step graph and the own copy of each rows graph,
hashed against its manifest (copycheck.py), whatever was remembered."""

from __future__ import annotations

from pathlib import Path

from ..bundle import OPTIMIZED as FOLDER
from .cache import cache_folder, cache_root
from .copycheck import content_problems
from .manifest import MANIFEST, read_manifest, source_facts
from .recipes import ROWS, STEP, Recipe, recipe_for


def _copies(root: Path) -> list[Path]:
    """The folder of every derived copy of a graph of the bundle at `root`: beside the bundle
    (optimized/<stem>/) and in the user cache (<stem>-<source SHA-256>)."""
    found = []
    for manifest in sorted((root / FOLDER).glob(f"*/{MANIFEST}")):
        found.append(manifest.parent)
    graphs = sorted({*root.glob("*.onnx"), *root.glob("onnx/*.onnx")})
    found += _cached(graphs)
    steps = [folder / STEP for folder in found if (folder / STEP).is_file()]
    for step in steps:  # the rows copy of a derived step graph: beside it, or in the cache
        beside = step.parent / FOLDER / step.stem
        found += [beside] if (beside / MANIFEST).is_file() else []
    found += _cached(steps)
    rows = [folder / ROWS for folder in found if (folder / ROWS).is_file()]
    for graph in rows:  # the own copy of a rows graph (derive/own.py), the same way
        beside = graph.parent / FOLDER / graph.stem
        found += [beside] if (beside / MANIFEST).is_file() else []
    return found + _cached(rows)


def _cached(graphs: list[Path]) -> list[Path]:
    """The user cache's copies of these graphs (the bundle's folder was read-only)."""
    cache = cache_root() / FOLDER
    found = []
    for graph in graphs:
        if graph.is_file() and any(cache.glob(f"{graph.stem}-*")):
            folder = cache_folder(graph, source_facts(graph))
            if (folder / MANIFEST).is_file():
                found.append(folder)
    return found


def _recipe(folder: Path) -> Recipe:
    """The recipe of a copy's folder: named after its source graph's stem (`<stem>-<SHA-256>`
    in the cache)."""
    return recipe_for(Path(folder.name.split("-", 1)[0] + ".onnx"))


def verify_copies(root: Path) -> list[str]:
    """`models verify`: every derived copy of the bundle at `root` hashed against its manifest
    (what a load would use; a copy recorded as unusable holds no graph)."""
    problems = []
    for folder in _copies(root):
        try:
            doc = read_manifest(folder)
            files = _recipe(folder).files
            alone = doc.get("shipped_alone") is True
            if not doc.get("usable", True):
                continue
        except (OSError, ValueError, AttributeError) as e:
            problems.append(f"{folder / MANIFEST}: cannot be read ({e})")
            continue
        then = (
            "refused at load: it ships without its stock graph"
            if alone
            else "a cache: the next load derives it again"
        )
        problems += [f"{p} ({then})" for p in content_problems(folder, doc, files, force=True)]
    return problems
