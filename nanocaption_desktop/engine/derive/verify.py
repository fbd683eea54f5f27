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
    found += _made_from(found, STEP)  # the rows copy of each derived step graph
    found += _made_from(found, ROWS)  # the own copy of each rows graph (derive/own.py)
    return found


def _made_from(copies: list[Path], graph: str) -> list[Path]:
    """The copies derived from the graph file `graph` of each of `copies`: beside it
    (`<copy>/optimized/<stem>/`) or in the user cache."""
    sources = [folder / graph for folder in copies if (folder / graph).is_file()]
    beside = [s.parent / FOLDER / s.stem for s in sources]
    return [b for b in beside if (b / MANIFEST).is_file()] + _cached(sources)


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
