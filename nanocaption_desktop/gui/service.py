"""The window's handle on the worker thread: start it, send it requests, stop it cleanly."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, QThread, Signal

from .backend import Backend
from .messages import BatchRequest, CaptionRequest
from .worker import CaptionWorker

log = logging.getLogger(__name__)


class CaptionService(QObject):
    """Owns the QThread and the worker in it. Requests travel as queued signals."""

    _load_requested = Signal(object)
    _caption_requested = Signal(object)
    _batch_requested = Signal(object)
    _fetch_requested = Signal(object)

    def __init__(self, api: Backend | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("caption-worker")
        self.worker = CaptionWorker(api)
        self.worker.moveToThread(self._thread)
        self._load_requested.connect(self.worker.load_model)
        self._caption_requested.connect(self.worker.caption)
        self._batch_requested.connect(self.worker.run_batch)
        self._fetch_requested.connect(self.worker.fetch_model)
        self._cancels: list[threading.Event] = []
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def _track(self, event: threading.Event) -> None:
        with self._lock:
            self._cancels = [e for e in self._cancels if not e.is_set()][-64:]
            self._cancels.append(event)

    def load_model(self, folder: str | None) -> None:
        self._load_requested.emit(folder or None)

    def caption(self, request: CaptionRequest) -> None:
        self._track(request.cancel)
        self._caption_requested.emit(request)

    def run_batch(self, request: BatchRequest) -> None:
        self._track(request.cancel)
        self._batch_requested.emit(request)

    def fetch_model(self) -> threading.Event:
        cancel = threading.Event()
        self._track(cancel)
        self._fetch_requested.emit(cancel)
        return cancel

    def cancel_all(self) -> None:
        with self._lock:
            for event in self._cancels:
                event.set()
            self._cancels.clear()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel whatever runs, stop the thread and wait for it. True if it stopped in time."""
        if self._stopped:
            return True
        self._stopped = True
        self.cancel_all()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if stopped:
            self.worker.close()
        else:
            log.warning("worker thread did not stop within %d ms", timeout_ms)
        return stopped
