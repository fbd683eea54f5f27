"""Folder batches on a Ray cluster (the optional ``scale`` extra: ``ray[data]``).

``caption_folder_ray(spec, ray="local")`` yields the same ``BatchResult``s as
``jobs.caption_folder(spec)`` and writes the same outputs: the driver (this process) scans the
folder (or reads its file list, or lists an ``s3://``/``gs://``/``file://`` folder: inputs.py),
keeps the journal (exactly once, resume, skip what is done), writes the sidecars and renders the
CSV/JSONL atomically; a pool of ``CaptionActor``s on the cluster (one per CPU, the model loaded
once each) reads, decodes and captions the images (Ray Data ``map_batches``).
Example::

    from nanocaption_desktop.scale import RayOptions, caption_folder_ray
    for r in caption_folder_ray("photos", csv="captions.csv", ray=RayOptions("auto")):
        print(r.relpath, r.caption or r.error)

See docs/scale.md: running on a real cluster, how the model reaches the nodes, the cost model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..ground.errors import ModelError
from ..jobs import BatchProgress, BatchResult, BatchSpec, checked_spec
from ..jobs.batch import BatchRun
from ..jobs.runner import CancelFlag
from ..jobs.spec import spec_of
from .options import RayOptions, options_of, require_ray

__all__ = ["RayOptions", "caption_folder_ray", "require_ray", "start"]

PathArg = str | os.PathLike[str]


def caption_folder_ray(
    path_or_spec: BatchSpec | PathArg,
    *,
    ray: RayOptions | str | None = None,
    cancel: CancelFlag | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    **fields: Any,
) -> Iterator[BatchResult]:
    """``jobs.caption_folder`` on a Ray cluster: ``ray`` is a ``RayOptions`` or an address
    (``"auto"``, ``"local"``, ``"ray://head:10001"``). Checks the spec and the outputs, joins
    the cluster and gets the model to the workers before the first image; raises
    ``ClusterError`` when the extra is missing or the cluster cannot be reached, ``ModelError``
    for a model that is not a folder here, as ``caption_folder`` does otherwise."""
    spec = checked_spec(spec_of(path_or_spec, fields, caller="caption_folder_ray"), remote=True)
    run, _backend = start(spec, options_of(ray), cancel, progress)
    return run.results()


def start(
    spec: BatchSpec,
    options: RayOptions,
    cancel: CancelFlag | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
) -> tuple[BatchRun, Any]:
    """The ``BatchRun`` of a checked spec with its ``RayBackend`` (tests read the backend)."""
    require_ray()
    from .backend import RayBackend
    from .cluster import alive_nodes, connect
    from .shipping import plan, probe, ship

    bundle = _bundle_path(spec.model)
    from ..engine.bundle import Bundle

    name = Bundle.open(bundle).name  # reads JSON only: a broken bundle fails here, once
    from .inputs import Inputs

    inputs = Inputs.of(spec)  # URI inputs listed here, once, before the cluster starts
    ray = connect(options)
    model = plan(bundle, name)
    if options.ship_model == "always":
        model = ship(ray, model, always=True)
    elif options.ship_model == "auto" and probe(ray, model, alive_nodes(ray)):
        model = ship(ray, model, always=False)
    backend = RayBackend(ray, model, options, inputs)
    scan = inputs.scan if inputs.entries is not None else None
    run = BatchRun(spec, _Named(name), _no_preparer, cancel, progress, backend=backend, scan=scan)
    return run, backend


def _bundle_path(model: Path | None) -> Path:
    """The bundle folder on the driver; a name to fetch on the nodes is refused (docs/scale.md)."""
    if model is None:
        from ..modelstore.locate import find_bundle

        found = find_bundle()
        if found is None:
            raise ModelError("model", "no model installed: run `nanocaption-desktop models fetch`")
        return Path(found).resolve()
    if not model.is_dir():
        raise ModelError(
            str(model),
            "not a model folder on this machine; with --ray the model is read here and reaches "
            "the workers at the same path or shipped through Ray (--ray-ship-model); to fetch "
            "it on each node run `nanocaption-desktop models fetch` there (docs/scale.md)",
        )
    return model.resolve()


class _Named:
    """What ``BatchRun`` asks of a captioner it never calls: the model's name (journal header)."""

    def __init__(self, name: str) -> None:
        self.model_name = name


def _no_preparer(path: str, *, name: str | None = None) -> Any:
    raise AssertionError("a batch on a cluster decodes on the workers")
