"""How the model reaches the workers: at the same path, or shipped once through Ray's object
store into a per-node cache, each file checked by SHA-256 before it is used.

The driver lists the files a load reads (the bundle's manifest when it has one; else the
configs, the tokenizer, the two graphs a load opens and their derived copies), hashes them
(``ground.hashing``) and ``ray.put``s each file's bytes once. On a node that cannot see the
driver's path, the first captioner writes the files into
``<cache>/<digest of the file list>/<bundle name>/`` (cache: ``NANOCAPTION_RAY_CACHE`` or the
system temp folder), checks each file's size and SHA-256 against the driver's (and the
manifest's), and moves the folder into place (``ground.durable.rename``); the other captioners
of that node find it there. ``NANOCAPTION_RAY_UNSEEN`` (paths, ``os.pathsep``-separated) makes
a worker treat those paths as absent: how tests stand for a node without the driver's disk.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ground import durable
from ..ground.errors import ClusterError, ModelError
from ..ground.hashing import file_sha256

log = logging.getLogger(__name__)

UNSEEN_ENV = "NANOCAPTION_RAY_UNSEEN"
CACHE_ENV = "NANOCAPTION_RAY_CACHE"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ModelPlan:
    """What a captioner needs to find the model: the driver's ``path`` and the bundle's
    ``files`` (``relpath -> (size, sha256)``); ``refs`` (``relpath -> ObjectRef``) when the
    files are shipped, and ``ship_always`` to use the shipped copy even where the path is seen."""

    path: str
    name: str
    files: Mapping[str, tuple[int, str]]
    refs: Mapping[str, Any] | None = None
    ship_always: bool = False
    mtimes: Mapping[str, int] | None = None  # kept on the node: derived copies stay current


def load_files(path: Path) -> list[str]:
    """The bundle's files a load reads (relative, ``/``): the manifest's list when there is one."""
    from ..engine.bundle import Bundle
    from ..engine.derive.cache import derived_files
    from ..modelstore.manifest import read_manifest

    manifest = read_manifest(path)
    if manifest is not None:
        return sorted([*manifest["files"], MANIFEST])
    bundle = Bundle.open(path)
    graphs = {bundle.encoder, bundle.decoder}
    for graph in list(graphs):
        graphs.update(p for p in derived_files(graph) if p.is_file())
    found = {p.name for p in path.iterdir() if p.is_file() and not p.name.startswith(".")}
    # a derived copy kept in the user cache (outside the bundle) is derived again on the node
    inside = [g for g in graphs if g.is_file() and g.resolve().is_relative_to(path.resolve())]
    found.update(g.resolve().relative_to(path.resolve()).as_posix() for g in inside)
    # a derived graph's folder (optimized/...) holds its manifest and data files too
    for graph in graphs:
        folder = graph.parent
        if folder.name != "onnx" and graph in inside:
            for p in folder.rglob("*"):
                if p.is_file():
                    found.add(p.relative_to(path).as_posix())
    return sorted(found)


def plan(path: Path, name: str) -> ModelPlan:
    """The files of the bundle at ``path`` with their sizes (hashes come when shipped)."""
    files = {rel: (os.stat(path / rel).st_size, "") for rel in load_files(path)}
    return ModelPlan(str(path), name, files)


def probe(ray: Any, model: ModelPlan, nodes: list[str]) -> list[str]:
    """The nodes (of ``nodes``) where a task cannot see the bundle at the driver's path."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0, max_retries=2)(can_see)
    refs = [
        task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote(
            model.path, model.files
        )
        for n in nodes
    ]
    return [n for n, seen in zip(nodes, ray.get(refs), strict=True) if not seen]


def ship(ray: Any, model: ModelPlan, *, always: bool) -> ModelPlan:
    """``model`` with each file hashed and its bytes put once into the object store."""
    refs, files, mtimes = {}, {}, {}
    for rel in model.files:
        files[rel] = file_sha256(Path(model.path, rel))
        mtimes[rel] = os.stat(Path(model.path, rel)).st_mtime_ns
        refs[rel] = ray.put(Path(model.path, rel).read_bytes())
    total = sum(size for size, _ in files.values())
    log.info("shipping %s: %d files, %.1f MB", model.path, len(refs), total / 1e6)
    return ModelPlan(model.path, model.name, files, refs, always, mtimes)


def can_see(path: str, files: Mapping[str, tuple[int, str]]) -> bool:
    """Whether this process sees the bundle at ``path``: every file there, with its size."""
    unseen = [p for p in os.environ.get(UNSEEN_ENV, "").split(os.pathsep) if p]
    if any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in unseen):
        return False
    try:
        return all(os.stat(os.path.join(path, r)).st_size == n for r, (n, _) in files.items())
    except OSError:
        return False


def model_dir(ray: Any, model: ModelPlan) -> tuple[Path, str]:
    """Where this worker loads the model from, and how it got there (``"path"``/``"shipped"``)."""
    if not model.ship_always and can_see(model.path, model.files):
        return Path(model.path), "path"
    if model.refs is None:
        raise ClusterError(
            model.path,
            "the model is not at this path on a worker node; ship it with "
            "--ray-ship-model auto (or always), or install it at the same path on every node",
        )
    return materialise(ray, model), "shipped"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or tempfile.gettempdir()) / "nanocaption-ray-models"


def materialise(ray: Any, model: ModelPlan) -> Path:
    """The shipped bundle in this node's cache (written and checked once per node)."""
    assert model.refs is not None
    listing = "\n".join(f"{rel}\0{sha}" for rel, (_, sha) in sorted(model.files.items()))
    digest = hashlib.sha256(listing.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    root = cache_root()
    final = root / digest
    if can_see(str(final / model.name), model.files):
        return final / model.name
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest}.", suffix=".staging", dir=root))
    try:
        for rel, (size, sha) in model.files.items():
            target = staging / model.name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as f:
                f.write(ray.get(model.refs[rel]))
            if model.mtimes:  # a derived graph's manifest names its source's mtime
                mtime = model.mtimes[rel]
                os.utime(target, ns=(mtime, mtime))
            got = file_sha256(target)
            if got != (size, sha):
                raise ModelError(str(target), f"shipped file differs from the driver's ({rel})")
        _check_manifest(staging / model.name, model.files)
        try:
            durable.rename(staging, final)
        except OSError:  # another captioner of this node was first: its copy is the same
            if not can_see(str(final / model.name), model.files):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("model shipped to %s", final / model.name)
    return final / model.name


def _check_manifest(folder: Path, files: Mapping[str, tuple[int, str]]) -> None:
    """A shipped manifest's hashes must be the ones the files arrived with."""
    from ..modelstore.manifest import read_manifest

    manifest = read_manifest(folder)
    if manifest is None:
        return
    for rel, entry in manifest["files"].items():
        if files.get(rel) != (entry["size"], entry["sha256"]):
            raise ModelError(str(folder / rel), "differs from the bundle's manifest")
