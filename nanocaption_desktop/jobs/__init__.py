"""Folder batches without Qt: scan, caption, write CSV/JSONL/sidecars, resume, cancel.

Example::

    from nanocaption_desktop.jobs import caption_folder
    for result in caption_folder("photos", csv="captions.csv", recursive=True):
        print(result.relpath, result.caption or result.error)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from .batch import BatchRun
from .outputs import OutputRefused, check_outputs
from .results import BatchProgress, BatchResult, ResultStatus
from .runner import CancelFlag
from .scan import ScanEntry, scan_images
from .settings import BatchSettings, default_journal
from .writers import OutputError, SidecarPolicy, read_csv, read_jsonl

__all__ = [
    "BatchProgress",
    "BatchResult",
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
    path: PathArg,
    *,
    captioner: Any = None,
    model: PathArg | None = None,
    recursive: bool = False,
    csv: PathArg | None = None,
    jsonl: PathArg | None = None,
    sidecars: SidecarPolicy | str | None = None,
    resume: bool = True,
    retry_failed: bool = True,
    beams: int | None = None,
    max_new_tokens: int | None = None,
    cancel: CancelFlag | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    prefetch: int = 4,
    preparer: Callable[..., Any] | None = None,
    isolate: bool = False,
    journal: PathArg | None = None,
) -> Iterator[BatchResult]:
    """Caption every image in the folder ``path``: a ``BatchResult`` per image as it finishes.

    ``captioner`` (a loaded ``Captioner``) or ``model`` (a bundle folder; default: the installed
    model) does the work. Outputs: ``csv``, ``jsonl`` files and/or ``.txt`` ``sidecars`` with a
    policy for existing ones (``"skip"``, ``"overwrite"``, ``"append"``). With ``resume`` a run of
    the same batch skips images done earlier and unchanged (and, with ``retry_failed``, redoes the
    failed ones). ``cancel`` (a ``threading.Event``): no new image starts once it is set; the
    finished ones are written. Stop iterating to stop too. ``prefetch`` is how many images are
    decoded ahead of the model. With ``isolate`` images are decoded in a worker process (the
    engine's ``DecodePool``), so a decoder crash or hang costs one file;
    ``preparer(path, name=...)`` replaces ``captioner.prepare`` with any other decoder.
    Raises ``FileNotFoundError``/``NotADirectoryError`` for a bad folder, ``ModelError`` for a
    model that cannot load, ``OutputError`` when an output cannot be written and its subclass
    ``OutputRefused`` (also a ``ValueError``), before any work, for outputs that may not be
    written: an image, two outputs that are one file, a symlink, FIFO or folder as CSV/JSONL;
    ``RequestError`` (a ``ValueError``) for ``beams``/``max_new_tokens`` out of range, before
    any image.
    """
    settings = batch_settings(
        path,
        recursive=recursive,
        csv=csv,
        jsonl=jsonl,
        sidecars=sidecars,
        journal=journal,
        resume=resume,
        retry_failed=retry_failed,
        beams=beams,
        max_new_tokens=max_new_tokens,
        prefetch=prefetch,
    )
    if captioner is None:
        from ..engine.captioner import Captioner

        # A folder wants throughput: single-thread sessions let the engine caption one image
        # per core at once (engine/pipeline.py), 2.4x a plain loop on 2 cores, same captions.
        captioner = Captioner.load(model, threads=1)
    settings_of = getattr(captioner, "settings", None)
    if settings_of is not None:  # the model's own positions may bound max_new_tokens further
        settings_of.override(beams=beams, max_new_tokens=max_new_tokens)
    if isolate and preparer is None:
        return _isolated(settings, captioner, cancel, progress)
    run = BatchRun(settings, captioner, preparer or captioner.prepare, cancel, progress)
    return run.results()


def batch_settings(
    path: PathArg,
    *,
    recursive: bool = False,
    csv: PathArg | None = None,
    jsonl: PathArg | None = None,
    sidecars: SidecarPolicy | str | None = None,
    journal: PathArg | None = None,
    resume: bool = True,
    retry_failed: bool = True,
    beams: int | None = None,
    max_new_tokens: int | None = None,
    prefetch: int = 4,
) -> BatchSettings:
    """The checked settings of a batch: the request is within the limits, the folder exists,
    the outputs may be written (``outputs.check_outputs``); raises before any work.
    ``caption_folder`` and the CLI use it."""
    from ..engine.decoding import check_request

    check_request(beams=beams, max_new_tokens=max_new_tokens)
    root = os.fspath(path)
    if not os.path.isdir(root):
        if os.path.exists(root):
            raise NotADirectoryError(f"{root}: not a folder")
        raise FileNotFoundError(f"{root}: no such folder")
    settings = BatchSettings(
        root=root,
        recursive=recursive,
        csv=Path(csv) if csv is not None else None,
        jsonl=Path(jsonl) if jsonl is not None else None,
        sidecars=SidecarPolicy(sidecars) if sidecars is not None else None,
        journal=Path(journal) if journal is not None else None,
        resume=resume,
        retry_failed=retry_failed,
        beams=beams,
        max_new_tokens=max_new_tokens,
        prefetch=max(1, prefetch),
    )
    if settings.journal is None:
        settings = replace(settings, journal=default_journal(settings))
    check_outputs(settings)
    return settings


def _isolated(
    settings: BatchSettings,
    captioner: Any,
    cancel: CancelFlag | None,
    progress: Callable[[BatchProgress], None] | None,
) -> Iterator[BatchResult]:
    from ..engine.isolation import DecodePool

    with DecodePool(captioner.preprocess_config, workers=1) as pool:
        yield from BatchRun(settings, captioner, pool.prepare, cancel, progress).results()
