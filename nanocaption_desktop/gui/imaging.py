"""Previews and thumbnails, made off the GUI thread (a QThreadPool of one thread per loader).

Untrusted files are decoded in the engine's isolated decoder processes (``DecodePool.preview``:
EXIF orientation applied, limits enforced); a crash or hang there costs one thumbnail. Only
``QImage`` objects cross back to the GUI thread, never ``QPixmap``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage

log = logging.getLogger(__name__)


_pool_lock = threading.Lock()
_pool: Any = None
_pool_closed = False


def preview_pool() -> Any:
    """The decoder processes used for previews and thumbnails (started on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None and not _pool_closed:
            from ..engine.isolation import DecodePool
            from ..engine.preprocess import PreprocessConfig

            _pool = DecodePool(PreprocessConfig(), workers=1, timeout=20.0)
        return _pool


def close_preview_pool() -> None:
    """Stop the preview decoders (at exit). A later ``preview_pool()`` starts new ones."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


def preview_to_qimage(width: int, height: int, rgb: bytes) -> QImage:
    image = QImage(rgb, width, height, width * 3, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: ``rgb`` goes away


def make_image(source: Any, max_side: int) -> QImage:
    """Decode ``source`` (path, bytes or QImage) scaled to fit ``max_side``. Raises on failure."""
    if isinstance(source, QImage):
        if max(source.width(), source.height()) <= max_side:
            return source.copy()
        return source.scaled(
            max_side,
            max_side,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    pool = preview_pool()
    if pool is None:
        raise RuntimeError("closing")
    preview = pool.preview(source, max_side)
    return preview_to_qimage(preview.width, preview.height, preview.rgb)


class _Signals(QObject):
    image_ready = Signal(object, QImage)  # key, image
    image_failed = Signal(object, str)  # key, reason


class ImageLoader(QObject):
    """Loads images by key, most recent request first; stale requests beyond ``limit`` drop."""

    image_ready = Signal(object, QImage)
    image_failed = Signal(object, str)

    def __init__(self, max_side: int, limit: int = 256, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_side = max_side
        self._limit = limit
        self._queue: deque[tuple[Any, Any]] = deque()
        self._queued: set[Any] = set()
        self._lock = threading.Lock()
        self._running = False
        self._closed = False
        self.requested = 0  # how many loads were asked for (tests check thumbnails are lazy)
        self._pool = QThreadPool()
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals()
        self._signals.image_ready.connect(self.image_ready)
        self._signals.image_failed.connect(self.image_failed)

    def request(self, key: Any, source: Any) -> None:
        with self._lock:
            if self._closed or key in self._queued:
                return
            self.requested += 1
            self._queue.append((key, source))
            self._queued.add(key)
            while len(self._queue) > self._limit:
                old, _ = self._queue.popleft()
                self._queued.discard(old)
            if self._running:
                return
            self._running = True
        self._pool.start(_Drain(self))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._queued.clear()

    def close(self, timeout_ms: int = 5000) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._queued.clear()
        self._pool.waitForDone(timeout_ms)

    def _next(self) -> tuple[Any, Any] | None:
        with self._lock:
            if not self._queue or self._closed:
                self._running = False
                return None
            key, source = self._queue.pop()  # newest first: what is on screen now
            self._queued.discard(key)
            return key, source

    def _work(self) -> None:
        while (item := self._next()) is not None:
            key, source = item
            try:
                image = make_image(source, self.max_side)
            except Exception as exc:  # ImageError or anything else: one image, not the app
                reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
                self._signals.image_failed.emit(key, str(reason))
            else:
                self._signals.image_ready.emit(key, image)


class _Drain(QRunnable):
    def __init__(self, loader: ImageLoader) -> None:
        super().__init__()
        self._loader = loader

    def run(self) -> None:
        self._loader._work()
