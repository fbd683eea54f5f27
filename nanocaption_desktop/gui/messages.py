"""Plain data that travels between the window and the worker thread (frozen dataclasses)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..jobs.results import BatchProgress
from ..jobs.spec import BatchSpec


@dataclass(frozen=True)
class CaptionRequest:
    """Caption one image. ``source`` is a path (str), encoded bytes, or a ``QImage``."""

    id: int
    source: Any
    name: str
    beams: int | None = None  # None: the model's own generation settings
    max_new_tokens: int | None = None
    #: a file's preview comes from the same decode as its pixels (``CaptionWorker.preview_ready``)
    preview_side: int | None = None
    #: the photo's identity with its quick hash (``review.files``) is taken on the worker's
    #: thread before it is read, so a photo only touched later is not taken for a changed one
    identity: bool = False
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class CaptionOutcome:
    """What became of a ``CaptionRequest``: a caption, or a plain-language error."""

    id: int
    name: str
    source: Any
    text: str = ""
    score: float | None = None
    seconds: float = 0.0
    error: str | None = None
    cancelled: bool = False
    #: beam search's other captions, (text, score) best first (``Caption.alternatives``)
    alternatives: tuple[tuple[str, float], ...] = ()
    identity: Any = None  # ``review.model.Identity`` when the request asked for it


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    seconds: float
    #: most new tokens this model can make (its positions less the start token); None: unknown
    max_new_tokens: int | None = None


@dataclass(frozen=True)
class ModelProblem:
    """No usable bundle: ``searched`` lists the places looked at, ``reason`` what was wrong."""

    searched: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True)
class BatchRequest:
    """Run the batch ``spec`` (``jobs.BatchSpec``: every choice of the batch); ``id`` and
    ``cancel`` are the window's, to match its replies and to stop it."""

    id: int
    spec: BatchSpec
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class BatchRow:
    path: str
    caption: str = ""
    score: float | None = None
    status: str = "ok"  # ok | failed | skipped
    error: str = ""
    identity: Any = None  # ``review.model.Identity`` with its quick hash (``convert.batch_row``)


@dataclass(frozen=True)
class BatchUpdate:
    """Batch ``id`` has got this far: the batch's own counts (``jobs.BatchProgress``) and the
    file that finished last (relative to the batch folder)."""

    id: int
    progress: BatchProgress
    current: str


@dataclass(frozen=True)
class BatchSummary:
    id: int
    done: int
    failed: int
    skipped: int
    seconds: float
    cancelled: bool
    outputs: tuple[str, ...]
    error: str = ""


class Latest:
    """A one-slot mailbox: the newest value wins; ``put`` says whether the slot was empty.

    The worker sends a signal only when it fills an empty slot, and the window empties it when
    the signal arrives: at most one such signal waits in the GUI queue however fast values come,
    and the window always ends up with the newest one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: Any = None
        self._full = False

    def put(self, value: Any) -> bool:
        with self._lock:
            was_empty = not self._full
            self._value, self._full = value, True
            return was_empty

    def take(self) -> Any:
        with self._lock:
            value, self._value, self._full = self._value, None, False
            return value


@dataclass(frozen=True)
class FileStarted:
    """The model of batch ``id`` started on ``path`` (relative to the batch folder)."""

    id: int
    path: str


@dataclass(frozen=True)
class FetchProgress:
    done: int
    total: int | None
