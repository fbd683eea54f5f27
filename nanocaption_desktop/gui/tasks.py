"""Short jobs off the GUI thread (file writes, small reads): a QRunnable with result signals."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class TaskSignals(QObject):
    finished = Signal(object)  # the function's return value
    failed = Signal(str)  # a plain reason


class Task(QRunnable):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = TaskSignals()

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:
            log.warning("background task failed: %s", exc)
            self.signals.failed.emit(str(exc) or type(exc).__name__)
        else:
            self.signals.finished.emit(result)


_pool: QThreadPool | None = None


def pool() -> QThreadPool:
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(1)
    return _pool


def run_task(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> Task:
    """Run ``fn`` in the task pool; the callbacks run on the GUI thread (queued signals)."""
    task = Task(fn)
    if on_done is not None:
        task.signals.finished.connect(on_done)
    if on_error is not None:
        task.signals.failed.connect(on_error)
    task.setAutoDelete(True)
    _keep.add(task.signals)
    task.signals.finished.connect(lambda *_: _keep.discard(task.signals))
    task.signals.failed.connect(lambda *_: _keep.discard(task.signals))
    pool().start(task)
    return task


_keep: set[TaskSignals] = set()


def wait_for_tasks(timeout_ms: int = 5000) -> bool:
    return pool().waitForDone(timeout_ms) if _pool is not None else True
