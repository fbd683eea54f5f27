"""Where a batch's journal lives, and the unit of work of the prefetch queue."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .lock import LOCK_SUFFIX
from .results import BatchResult
from .scan import ScanEntry
from .spec import BatchSpec


@dataclass(frozen=True)
class Work:
    """What the prefetch thread hands to the model loop for one scan entry."""

    entry: ScanEntry
    display: str
    size: int = -1
    mtime_ns: int = -1
    pixels: Any = None
    done: BatchResult | None = None  # already decided (skipped, failed) without the model


def default_journal(settings: BatchSpec) -> Path | None:
    """Next to the CSV (or JSONL) output; in the user data dir for batches with sidecars or alt
    text in the photos and no CSV/JSONL, and when the photo folder is read-only (an SD card, a
    share: the results went elsewhere, and the record of what is done stays with the app, keyed
    by the folder and the outputs)."""
    from .places import folder_writable

    outputs = [out for out in (settings.csv, settings.jsonl) if out is not None]
    if outputs and folder_writable(settings.folder):
        return outputs[0].with_name(journal_name(outputs[0].name))
    if settings.sidecars is None and not outputs and not settings.write_metadata:
        return None
    parts = [os.path.realpath(settings.folder), str(settings.recursive)]
    parts += [os.path.realpath(out) for out in outputs]  # none: the key of old journals
    if settings.write_metadata:  # its own journal: a sidecar batch of the folder keeps its own
        parts.append("alt-text")
    name = hashlib.sha256("\0".join(parts).encode("utf-8", "replace")).hexdigest()[:20]
    return _user_data_dir() / "batches" / f"{name}.jsonl"


#: Longest file name (bytes) most file systems take (NAME_MAX on Linux, macOS, NTFS in UTF-16).
NAME_MAX = 255
JOURNAL_SUFFIX = ".journal.jsonl"


def journal_name(output_name: str) -> str:
    """``FILE.journal.jsonl`` for the output ``FILE``; when that would be longer than a file
    name may be, ``FILE`` is cut and a hash of the whole name keeps it unique and the same in
    every run (so resume finds it). Room is left for its lock file's suffix (``.lock``); its
    temp files are shortened by the writers on their own."""
    name = output_name + JOURNAL_SUFFIX
    most = NAME_MAX - len(LOCK_SUFFIX)
    if len(os.fsencode(name)) <= most:
        return name
    digest = hashlib.sha256(os.fsencode(output_name)).hexdigest()[:16]
    room = most - len(JOURNAL_SUFFIX) - len(digest) - 1
    short = output_name
    while len(os.fsencode(short)) > room:
        short = short[:-1]
    return f"{short}~{digest}{JOURNAL_SUFFIX}"


def _user_data_dir() -> Path:
    from ..ground.paths import user_data_dir

    return Path(user_data_dir())
