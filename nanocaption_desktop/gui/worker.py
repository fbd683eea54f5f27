"""The worker: one QObject, living in its own QThread, that owns the Captioner.

The window never calls it directly: it emits requests (queued signals, see ``service.py``) and
listens to the signals below, each named for what happened and carrying plain data. Every
exception inside a slot becomes a signal; the thread never dies with it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from . import backend
from .messages import (
    BatchProgress,
    BatchRequest,
    BatchRow,
    BatchSummary,
    CaptionOutcome,
    CaptionRequest,
    FetchProgress,
    FileStarted,
    Latest,
    ModelInfo,
    ModelProblem,
)

log = logging.getLogger(__name__)

EMIT_INTERVAL = 0.1  # seconds between batched result/progress signals: keeps the GUI queue short


class CaptionWorker(QObject):
    model_loading = Signal(str)  # where it is loading from
    model_preparing = Signal(str)  # ... and it derives the optimized graphs first (seconds)
    model_loaded = Signal(object)  # ModelInfo
    model_missing = Signal(object)  # ModelProblem
    caption_started = Signal(int)  # request id
    caption_ready = Signal(object)  # CaptionOutcome (ok, failed or cancelled)
    batch_started = Signal(object)  # BatchRequest
    batch_progress = Signal(object)  # BatchProgress
    batch_file_started = Signal(object)  # Latest holding the newest FileStarted (take() it)
    batch_results = Signal(object)  # list of BatchRow, in order
    batch_finished = Signal(object)  # BatchSummary
    fetch_progress = Signal(object)  # FetchProgress
    fetch_finished = Signal(str)  # the bundle folder
    fetch_failed = Signal(str)  # a plain reason
    worker_error = Signal(str)  # anything unexpected, already logged

    def __init__(self, api: backend.Backend | None = None) -> None:
        super().__init__()
        self._api = api or backend.Backend()
        self._captioner: Any = None

    def close(self) -> None:
        """Release the decoder processes. Call after the thread has stopped."""
        self._captioner = None
        close = getattr(self._api, "close", None)
        if close is not None:
            close()

    # ----------------------------------------------------------------- model
    @Slot(object)
    def load_model(self, folder: str | None) -> None:
        try:
            path = self._api.locate(folder or None)
            if path is None:
                self._captioner = None
                self.model_missing.emit(ModelProblem(tuple(self._api.searched(folder or None))))
                return
            self.model_loading.emit(str(path))
            preparing = getattr(self._api, "preparing", None)
            if preparing is not None and preparing(path):
                self.model_preparing.emit(str(path))
            start = time.perf_counter()
            captioner = self._api.load(path)
            seconds = time.perf_counter() - start
            self._captioner = captioner
            name = str(getattr(captioner, "model_name", "") or path.name)
            log.info("model %s loaded from %s in %.2f s", name, path, seconds)
            positions = getattr(getattr(captioner, "settings", None), "max_positions", None)
            most = positions - 1 if isinstance(positions, int) and positions > 1 else None
            self.model_loaded.emit(ModelInfo(name, str(path), seconds, most))
        except Exception as exc:  # ModelError or anything from onnxruntime
            log.exception("model load failed")
            self._captioner = None
            searched = tuple(self._api.searched(folder or None))
            self.model_missing.emit(ModelProblem(searched, reason=backend.plain_error(exc)))

    @Slot(object)
    def fetch_model(self, cancel: Any) -> None:
        def progress(done: int, total: int | None, message: str = "") -> None:
            self.fetch_progress.emit(FetchProgress(int(done), total, message))

        try:
            path = self._api.fetch(progress=progress, cancel=cancel)
        except Exception as exc:
            log.warning("model download failed: %s", exc)
            self.fetch_failed.emit(backend.plain_error(exc))
            return
        self.fetch_finished.emit(str(path))

    # ----------------------------------------------------------------- one image
    @Slot(object)
    def caption(self, request: CaptionRequest) -> None:
        base = dict(
            id=request.id,
            name=request.name,
            source=request.source,
            beams=request.beams,
            max_new_tokens=request.max_new_tokens,
        )
        if request.cancel.is_set():
            self.caption_ready.emit(CaptionOutcome(cancelled=True, **base))
            return
        if self._captioner is None:
            self.caption_ready.emit(CaptionOutcome(error="No model is loaded.", **base))
            return
        self.caption_started.emit(request.id)
        try:
            cap = self._api.caption(self._captioner, request)
        except backend.Cancelled:
            self.caption_ready.emit(CaptionOutcome(cancelled=True, **base))
            return
        except Exception as exc:
            if not backend.is_image_error(exc):
                log.exception("caption failed for %s", request.name)
            self.caption_ready.emit(CaptionOutcome(error=backend.plain_error(exc), **base))
            return
        error = getattr(cap, "error", None)
        self.caption_ready.emit(
            CaptionOutcome(
                text=str(getattr(cap, "text", "")),
                score=getattr(cap, "score", None),
                seconds=float(getattr(cap, "seconds", 0.0) or 0.0),
                error=str(error) if error else None,
                **base,
            )
        )

    # ----------------------------------------------------------------- folders
    @Slot(object)
    def run_batch(self, request: BatchRequest) -> None:
        start = time.perf_counter()
        done = failed = skipped = 0
        pending: list[BatchRow] = []
        last_emit = 0.0
        latest: BatchProgress | None = None
        outputs = tuple(p for p in (request.csv, request.jsonl) if p)
        self.batch_started.emit(request)
        if self._captioner is None:
            self.batch_finished.emit(
                BatchSummary(request.id, 0, 0, 0, 0.0, False, outputs, "No model is loaded.")
            )
            return
        error = ""
        current = Latest()

        def started(path: str) -> None:
            if current.put(FileStarted(request.id, path)):
                self.batch_file_started.emit(current)

        try:
            for row, progress in self._api.run_batch(self._captioner, request, started):
                if row is not None:
                    pending.append(row)
                    if row.status == "failed":
                        failed += 1
                    elif row.status == "done earlier":
                        skipped += 1
                    done += 1
                elapsed = time.perf_counter() - start
                latest = progress or self._estimate(request.id, done, failed, elapsed, row)
                now = time.perf_counter()
                if now - last_emit >= EMIT_INTERVAL:
                    last_emit = now
                    self._flush(pending, latest)
        except backend.Cancelled:
            pass
        except Exception as exc:
            log.exception("batch failed")
            error = backend.plain_error(exc)
        self._flush(pending, latest)
        cancelled = request.cancel.is_set()
        seconds = time.perf_counter() - start
        log.info(
            "batch %s: %d done, %d failed, cancelled=%s", request.folder, done, failed, cancelled
        )
        self.batch_finished.emit(
            BatchSummary(request.id, done, failed, skipped, seconds, cancelled, outputs, error)
        )

    def _flush(self, pending: list[BatchRow], progress: BatchProgress | None) -> None:
        if pending:
            self.batch_results.emit(list(pending))
            pending.clear()
        if progress is not None:
            self.batch_progress.emit(progress)

    @staticmethod
    def _estimate(
        batch_id: int, done: int, failed: int, elapsed: float, row: BatchRow | None
    ) -> BatchProgress:
        rate = done / elapsed if elapsed > 0 else 0.0
        return BatchProgress(batch_id, done, None, failed, rate, None, row.path if row else "")
