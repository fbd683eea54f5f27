"""A batch's settings, where its journal lives, and the unit of work of the prefetch queue."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .results import BatchResult
from .scan import ScanEntry
from .writers import SidecarPolicy


@dataclass(frozen=True)
class BatchSettings:
    root: str
    recursive: bool
    csv: Path | None
    jsonl: Path | None
    sidecars: SidecarPolicy | None
    journal: Path | None
    resume: bool
    retry_failed: bool
    beams: int | None
    max_new_tokens: int | None
    prefetch: int


@dataclass(frozen=True)
class Work:
    """What the prefetch thread hands to the model loop for one scan entry."""

    entry: ScanEntry
    display: str
    size: int = -1
    mtime_ns: int = -1
    pixels: Any = None
    done: BatchResult | None = None  # already decided (skipped, failed) without the model


def default_journal(settings: BatchSettings) -> Path | None:
    """Next to the CSV (or JSONL) output; for sidecar-only batches in the user data dir."""
    for out in (settings.csv, settings.jsonl):
        if out is not None:
            return out.with_name(out.name + ".journal.jsonl")
    if settings.sidecars is None:
        return None
    ident = f"{os.path.realpath(settings.root)}\0{settings.recursive}".encode("utf-8", "replace")
    name = hashlib.sha256(ident).hexdigest()[:20] + ".jsonl"
    return _user_data_dir() / "batches" / name


def _user_data_dir() -> Path:
    from ..paths import user_data_dir

    return Path(user_data_dir())
