"""What a batch yields: one ``BatchResult`` per image, each carrying the batch's progress."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ResultStatus(str, Enum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True)
class BatchProgress:
    """Counts so far. ``total`` is None until the background count of the folder has finished."""

    captioned: int = 0  # captioned in this run
    failed: int = 0  # failed in this run
    skipped: int = 0  # done (or failed) in an earlier run and unchanged: not redone
    total: int | None = None
    elapsed: float = 0.0
    rate: float = 0.0  # images per second captioned or failed in this run
    eta: float | None = None  # seconds left, when total and rate are known

    @property
    def finished(self) -> int:
        return self.captioned + self.failed + self.skipped


@dataclass(frozen=True)
class BatchResult:
    """One image (or one unreadable folder) of a batch.

    ``path`` is the file system path; ``relpath`` the path relative to the batch folder as
    written to the outputs (``/`` separators, bytes that are not UTF-8 shown as ``\\xNN``).
    ``resumed`` is true when the result comes from an earlier run (the image was not redone).
    ``sidecar`` says what happened to the ``.txt`` sidecar (``written``, ``unchanged``,
    ``kept``, ``failed``) or is None when no sidecars were asked for. ``alt_text`` says what
    writing the caption into the photo did (``jobs/photo_writes.py``: where, sidecar, fields,
    skipped, unchanged) or is None when that was not asked for (or the image failed before).
    """

    path: str
    relpath: str
    status: ResultStatus
    caption: str = ""
    score: float | None = None
    error: str | None = None
    seconds: float = 0.0
    resumed: bool = False
    sidecar: str | None = None
    alt_text: dict[str, Any] | None = None
    progress: BatchProgress | None = None

    @property
    def ok(self) -> bool:
        return self.status is ResultStatus.OK

    def row(self) -> dict[str, Any]:
        """The output row (CSV/JSONL fields)."""
        return {
            "path": self.relpath,
            "caption": self.caption,
            "score": self.score,
            "status": self.status.value,
            "error": self.error,
        }


class ProgressTracker:
    """Counts results and derives rate and ETA (monotonic clock)."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self.captioned = 0
        self.failed = 0
        self.skipped = 0
        self.total: int | None = None

    def add(self, result: BatchResult) -> BatchProgress:
        if result.resumed:
            self.skipped += 1
        elif result.ok:
            self.captioned += 1
        else:
            self.failed += 1
        return self.snapshot()

    def snapshot(self) -> BatchProgress:
        elapsed = time.monotonic() - self._start
        worked = self.captioned + self.failed
        rate = worked / elapsed if elapsed > 0 else 0.0
        eta = None
        if self.total is not None and rate > 0:
            left = max(0, self.total - self.captioned - self.failed - self.skipped)
            eta = left / rate
        return BatchProgress(
            self.captioned, self.failed, self.skipped, self.total, elapsed, rate, eta
        )
