"""Folder batches without Qt: scan, caption, write CSV/JSONL/sidecars, resume, cancel.

Example::

    from nanocaption_desktop.jobs import BatchSpec, caption_folder
    for result in caption_folder("photos", csv="captions.csv", recursive=True):
        print(result.relpath, result.caption or result.error)
    spec = BatchSpec("photos", csv="captions.csv", recursive=True)  # the same batch
    results = list(caption_folder(spec))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from .batch import BatchRun
from .outputs import OutputRefused, check_outputs
from .results import BatchProgress, BatchResult, ResultStatus
from .runner import CancelFlag
from .scan import ScanEntry, scan_images
from .settings import default_journal
from .spec import BatchSpec, spec_of
from .writers import OutputError, SidecarPolicy, read_csv, read_jsonl

__all__ = [
    "BatchProgress",
    "BatchResult",
    "BatchSpec",
    "OutputError",
    "OutputRefused",
    "ResultStatus",
    "ScanEntry",
    "SidecarPolicy",
    "caption_folder",
    "read_csv",
    "read_jsonl",
    "scan_images",
]

PathArg = str | os.PathLike[str]


def caption_folder(
    path_or_spec: BatchSpec | PathArg,
    *,
    captioner: Any = None,
    cancel: CancelFlag | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    preparer: Callable[..., Any] | None = None,
    **fields: Any,
) -> Iterator[BatchResult]:
    """Caption every image of a folder: a ``BatchResult`` per image as it finishes.

    Either ``caption_folder(spec)`` with a ``BatchSpec``, or ``caption_folder(path, **fields)``
    with the spec's fields as keywords (``csv=``, ``recursive=``, ``sidecars=``, ``beams=``,
    ...: see ``BatchSpec``), which build the spec; not both. ``captioner`` (a loaded
    ``Captioner``) does the work, else the spec's ``model`` is loaded (default: the installed
    model). ``cancel`` (a ``threading.Event``): no new image starts once it is set; the finished
    ones are written. Stop iterating to stop too. ``progress`` is called with each
    ``BatchProgress``. ``preparer(path, name=...)`` replaces ``captioner.prepare`` (and the
    spec's ``isolate``) with any other decoder.
    Raises ``FileNotFoundError``/``NotADirectoryError`` for a bad folder, ``ModelError`` for a
    model that cannot load, ``OutputError`` when an output cannot be written and its subclass
    ``OutputRefused`` (also a ``ValueError``), before any work, for outputs that may not be
    written: an image, two outputs that are one file, a symlink, FIFO or folder as CSV/JSONL;
    ``RequestError`` (a ``ValueError``) for ``beams``/``max_new_tokens``/``rows`` out of range,
    before any image; ``TypeError`` for an unknown keyword.
    """
    spec = checked_spec(spec_of(path_or_spec, fields, caller="caption_folder"))
    if captioner is None:
        captioner = folder_captioner(spec)
    settings_of = getattr(captioner, "settings", None)
    if settings_of is not None:  # the model's own positions may bound max_new_tokens further
        settings_of.override(beams=spec.beams, max_new_tokens=spec.max_new_tokens)
    if spec.isolate and preparer is None:
        return _isolated(spec, captioner, cancel, progress)
    run = BatchRun(spec, captioner, preparer or captioner.prepare, cancel, progress)
    return run.results()


def folder_captioner(spec: BatchSpec, max_megapixels: float | None = None) -> Any:
    """The captioner a folder batch loads (the CLI's and the API's): single-thread sessions, so
    the engine captions one image per core at once (engine/pipeline.py); for greedy batches of
    several rows, the rows graph in place of the step graph, so the decoder's weights are held
    once (engine/rows.py). Same captions either way. Large freed blocks go back to the system
    (engine/memory.py), set before the model is read: 20 MB less than once sessions open."""
    from ..engine.captioner import Captioner
    from ..engine.memory import return_large_blocks

    rows_graph = spec.rows > 1 and spec.beams in (None, 1)
    if rows_graph:
        return_large_blocks()
    return Captioner.load(
        spec.model, threads=1, rows_graph=rows_graph, max_megapixels=max_megapixels
    )


def checked_spec(spec: BatchSpec, *, remote: bool = False) -> BatchSpec:
    """The spec checked before any work: the request is within the limits, the folder exists,
    the outputs may be written (``outputs.check_outputs``); the journal's default filled in.
    URI inputs (``s3://``...) are refused (``ValueError``) unless the batch is ``remote`` (on a
    Ray cluster), and there with sidecars or metadata writes.
    ``caption_folder`` runs it, and the CLI before it loads the model."""
    from ..engine.decoding import check_request

    check_request(beams=spec.beams, max_new_tokens=spec.max_new_tokens, rows=spec.rows)
    _check_uris(spec, remote)
    root = spec.folder
    if spec.uris and spec.files is None:
        pass  # the folder is a URI: listed on the cluster's side (scale/inputs.py)
    elif not os.path.isdir(root):
        if os.path.exists(root):
            raise NotADirectoryError(f"{root}: not a folder")
        raise FileNotFoundError(f"{root}: no such folder")
    if spec.journal is None:
        spec = replace(spec, journal=default_journal(spec))
    check_outputs(spec)
    return spec


def _check_uris(spec: BatchSpec, remote: bool) -> None:
    uris = spec.uris
    if not uris:
        return
    if not remote:
        raise ValueError(
            f"{uris[0]}: object-store URIs are read only by a batch on a Ray cluster: add --ray "
            "(--ray local for this machine), or mount the bucket and give its path"
        )
    if spec.sidecars is not None or spec.write_metadata:
        raise ValueError(
            f"{uris[0]}: --sidecars and --write-metadata write beside the photos, which a batch "
            "does not do in an object store; use --csv or --jsonl"
        )


def _isolated(
    spec: BatchSpec,
    captioner: Any,
    cancel: CancelFlag | None,
    progress: Callable[[BatchProgress], None] | None,
) -> Iterator[BatchResult]:
    from ..engine.isolation import DecodePool

    megapixels = getattr(captioner, "max_megapixels", None)  # any captioner-like object
    with DecodePool(captioner.preprocess_config, workers=1, max_megapixels=megapixels) as pool:
        yield from BatchRun(spec, captioner, pool.prepare, cancel, progress).results()
