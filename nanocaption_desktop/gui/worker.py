"""The worker: one QObject in its own QThread that owns the Captioner and the image decoders.

The GUI thread calls the request methods (``load_model``, ``caption``, ``run_batch``,
``fetch_model``); each emits a private signal connected to a slot of this object with a queued
connection, so the work runs in the worker's thread. Results come back as the public signals
below, named for what happened and carrying the frozen dataclasses of ``messages.py``. Every
exception inside a slot becomes a signal; the thread never dies with it.

The engine calls (``locate``, ``searched``, ``preparing``, ``load``, ``fetch``) are methods
here: they run in the worker's thread, and tests override them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from ..review.files import identity_if_readable
from .convert import Announcing, batch_row, batch_update, plain_error, qimage_to_pil
from .imaging import preview_to_qimage
from .messages import (
    BatchRequest,
    BatchRow,
    BatchSummary,
    BatchUpdate,
    CaptionOutcome,
    CaptionRequest,
    FetchProgress,
    FileStarted,
    Latest,
    ModelInfo,
    ModelProblem,
)

if TYPE_CHECKING:
    from ..engine.captioner import Caption, Captioner
    from ..engine.isolation import DecodePool

#: The model store's labels of the places it looks, in a window user's words.
PLACE_WORDS = {
    "--model": "the model folder you chose",
    "NANOCAPTION_MODEL_DIR": "set by NANOCAPTION_MODEL_DIR",
    "bundled": "inside the app",
    "checkout": "beside the program",
    "user data": "the app's model folder",
}

log = logging.getLogger(__name__)

DEFAULT_MODEL = "vit-gpt2"
EMIT_INTERVAL = 0.1  # seconds between batched result/progress signals: keeps the GUI queue short
_QUEUED = Qt.ConnectionType.QueuedConnection


class CaptionWorker(QObject):
    model_loading = Signal(str)  # where it is loading from
    model_preparing = Signal(str)  # ... and it derives the optimized graphs first (seconds)
    model_loaded = Signal(object)  # ModelInfo
    model_missing = Signal(object)  # ModelProblem
    preview_ready = Signal(int, QImage)  # request id, the preview of its file (preview_side)
    caption_ready = Signal(object)  # CaptionOutcome (ok, failed or cancelled)
    batch_progress = Signal(object)  # BatchUpdate
    batch_file_started = Signal(object)  # Latest holding the newest FileStarted (take() it)
    batch_results = Signal(object)  # list of BatchRow, in order
    batch_finished = Signal(object)  # BatchSummary
    fetch_progress = Signal(object)  # FetchProgress
    fetch_finished = Signal(str)  # the bundle folder
    fetch_failed = Signal(str)  # a plain reason

    _load_requested = Signal(object)  # folder or None
    _caption_requested = Signal(object)  # CaptionRequest
    _batch_requested = Signal(object)  # BatchRequest
    _fetch_requested = Signal(object)  # threading.Event (cancel)
    _megapixels_requested = Signal(float)  # the largest image to decode (Settings)

    def __init__(self) -> None:
        super().__init__()
        self._captioner: Captioner | None = None
        self._pool: DecodePool | None = None
        self._max_megapixels: float | None = None  # None: the engine's default
        self._cancels: list[threading.Event] = []
        self._lock = threading.Lock()
        self._stopped: bool | None = None  # once shut down: whether the thread stopped in time
        self._thread = QThread()
        self._thread.setObjectName("caption-worker")
        self.moveToThread(self._thread)
        self._load_requested.connect(self._load, _QUEUED)
        self._caption_requested.connect(self._caption, _QUEUED)
        self._batch_requested.connect(self._run_batch, _QUEUED)
        self._fetch_requested.connect(self._fetch, _QUEUED)
        self._megapixels_requested.connect(self._set_megapixels, _QUEUED)

    # ================================================================= GUI thread
    def start(self) -> None:
        self._thread.start()

    def load_model(self, folder: str | None) -> None:
        self._load_requested.emit(folder or None)

    def set_max_megapixels(self, megapixels: float) -> None:
        """The largest image to decode from now on (the model and its decoder stay loaded)."""
        self._megapixels_requested.emit(float(megapixels))

    def caption(self, request: CaptionRequest) -> None:
        self._track(request.cancel)
        self._caption_requested.emit(request)

    def run_batch(self, request: BatchRequest) -> None:
        self._track(request.cancel)
        self._batch_requested.emit(request)

    def fetch_model(self) -> threading.Event:
        """Download the default model; set the returned event to cancel."""
        cancel = threading.Event()
        self._track(cancel)
        self._fetch_requested.emit(cancel)
        return cancel

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel whatever runs, stop the thread and wait for it. True if it stopped in time."""
        if self._stopped is not None:
            return self._stopped
        with self._lock:
            for event in self._cancels:
                event.set()
            self._cancels.clear()
        self._thread.quit()
        self._stopped = self._thread.wait(timeout_ms)
        if self._stopped:
            self._captioner = None
            self._close_pool()
        else:
            log.warning("worker thread did not stop within %d ms", timeout_ms)
        return self._stopped

    def _track(self, event: threading.Event) -> None:
        with self._lock:
            self._cancels = [e for e in self._cancels if not e.is_set()][-64:]
            self._cancels.append(event)

    # ================================================================= engine calls
    def locate(self, explicit: str | None) -> Path | None:
        from ..modelstore.locate import find_bundle

        return find_bundle(explicit or None)  # raises ModelError when ``explicit`` is no bundle

    def searched(self, explicit: str | None) -> list[str]:
        try:
            from ..modelstore.locate import candidate_dirs

            return [
                f"{path} ({PLACE_WORDS.get(label, label)})"
                for label, path in candidate_dirs(explicit or None)
            ]
        except Exception:  # the list is only shown to people: never fail on it
            return [explicit] if explicit else []

    def preparing(self, path: Path) -> bool:
        """Whether loading ``path`` first derives its optimized graphs (seconds, once)."""
        from ..engine.bundle import Bundle
        from ..engine.derive import derive_pending

        try:
            bundle = Bundle.open(path)
        except Exception:  # noqa: BLE001 - the load itself reports what is wrong
            return False
        return derive_pending(bundle.encoder) or derive_pending(bundle.decoder)

    def load(self, path: Path) -> Captioner:
        from ..engine.captioner import Captioner
        from ..engine.sessions import physical_cores, threads_for_lanes

        # two lanes for folder batches; the encoder keeps every core for one image alone
        return Captioner.load(
            path,
            threads=threads_for_lanes(2),
            encoder_threads=physical_cores(),
            max_megapixels=self._max_megapixels,
        )

    def fetch(
        self, *, progress: Callable[[int, int | None], None], cancel: threading.Event
    ) -> Path:
        from ..modelstore.fetch import fetch

        def report(done: int, total: int | None = None, *_: Any) -> None:
            progress(done, total)

        return Path(fetch(DEFAULT_MODEL, progress=report, cancel=cancel))

    def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # ================================================================= worker thread
    @Slot(float)
    def _set_megapixels(self, megapixels: float) -> None:
        if megapixels == self._max_megapixels:
            return
        self._max_megapixels = megapixels
        captioner = self._captioner
        if captioner is not None:  # a new decode pool with the new limit; the model stays
            from ..engine.isolation import DecodePool

            captioner.max_megapixels = megapixels
            self._close_pool()
            self._pool = DecodePool(
                captioner.preprocess_config, workers=1, max_megapixels=megapixels
            )

    @Slot(object)
    def _load(self, folder: str | None) -> None:
        try:
            path = self.locate(folder)
            if path is None:
                self._captioner = None
                self.model_missing.emit(ModelProblem(tuple(self.searched(folder))))
                return
            self.model_loading.emit(str(path))
            if self.preparing(path):
                self.model_preparing.emit(str(path))
            start = time.perf_counter()
            captioner = self.load(path)
            seconds = time.perf_counter() - start
            from ..engine.isolation import DecodePool

            # untrusted images are decoded in subprocesses, with the bundle's preprocessing
            self._close_pool()
            self._pool = DecodePool(
                captioner.preprocess_config,
                workers=1,
                max_megapixels=getattr(captioner, "max_megapixels", None),
            )
            self._captioner = captioner
            name = captioner.model_name or path.name
            log.info("model %s loaded from %s in %.2f s", name, path, seconds)
            positions = captioner.settings.max_positions
            most = positions - 1 if positions is not None and positions > 1 else None
            self.model_loaded.emit(ModelInfo(name, str(path), seconds, most))
        except Exception as exc:  # ModelError or anything from onnxruntime
            log.exception("model load failed")
            self._captioner = None
            searched = tuple(self.searched(folder))
            self.model_missing.emit(ModelProblem(searched, reason=plain_error(exc)))

    @Slot(object)
    def _fetch(self, cancel: threading.Event) -> None:
        def progress(done: int, total: int | None) -> None:
            self.fetch_progress.emit(FetchProgress(int(done), total))

        try:
            path = self.fetch(progress=progress, cancel=cancel)
        except Exception as exc:
            log.warning("model download failed: %s", exc)
            self.fetch_failed.emit(plain_error(exc))
            return
        self.fetch_finished.emit(str(path))

    @Slot(object)
    def _caption(self, request: CaptionRequest) -> None:
        from ..engine.errors import Cancelled, ImageError

        def outcome(**result: Any) -> CaptionOutcome:
            return CaptionOutcome(request.id, request.name, request.source, **result)

        if request.cancel.is_set():
            self.caption_ready.emit(outcome(cancelled=True))
            return
        if self._captioner is None or self._pool is None:
            self.caption_ready.emit(outcome(error="No model is loaded."))
            return
        identity = None
        if request.identity and isinstance(request.source, (str, Path)):
            identity = identity_if_readable(request.source, with_hash=True)
        try:
            cap = self._caption_one(self._captioner, self._pool, request)
        except Cancelled:
            self.caption_ready.emit(outcome(cancelled=True))
            return
        except Exception as exc:
            if not isinstance(exc, ImageError):
                log.exception("caption failed for %s", request.name)
            self.caption_ready.emit(outcome(error=plain_error(exc)))
            return
        self.caption_ready.emit(
            outcome(
                text=cap.text,
                score=cap.score,
                seconds=cap.seconds,
                error=cap.error,
                alternatives=cap.alternatives,
                identity=identity,
            )
        )

    def _caption_one(
        self, captioner: Captioner, pool: DecodePool, request: CaptionRequest
    ) -> Caption:
        options: dict[str, Any] = dict(
            beams=request.beams, max_new_tokens=request.max_new_tokens, cancel=request.cancel
        )
        source = request.source
        if not isinstance(source, (str, bytes, Path)):  # a QImage Qt already decoded
            return captioner.caption(qimage_to_pil(source), **options)
        if request.preview_side:  # one decode for the screen and the model
            pixels, preview = pool.prepare_with_preview(
                source, request.preview_side, name=request.name
            )
            image = preview_to_qimage(preview.width, preview.height, preview.rgb)
            self.preview_ready.emit(request.id, image)
        else:
            pixels = pool.prepare(source, name=request.name)
        return captioner.caption_pixels(pixels, source=request.name, **options)

    @Slot(object)
    def _run_batch(self, request: BatchRequest) -> None:
        from ..engine.errors import Cancelled

        start = time.perf_counter()
        done = failed = skipped = 0
        pending: list[BatchRow] = []
        last_emit = 0.0
        latest: BatchUpdate | None = None
        spec = request.spec
        outputs = tuple(str(p) for p in spec.outputs)
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
            for result in self._folder_results(self._captioner, request, started):
                row = batch_row(result)
                pending.append(row)
                if row.status == "failed":
                    failed += 1
                elif row.status == "done earlier":
                    skipped += 1
                done += 1
                latest = batch_update(request.id, result) or latest
                now = time.perf_counter()
                if now - last_emit >= EMIT_INTERVAL:
                    last_emit = now
                    self._flush(pending, latest)
        except Cancelled:
            pass
        except Exception as exc:
            log.exception("batch failed")
            error = plain_error(exc)
        self._flush(pending, latest)
        cancelled = request.cancel.is_set()
        seconds = time.perf_counter() - start
        log.info("batch %s: %d done, %d failed, cancelled=%s", spec.folder, done, failed, cancelled)
        self.batch_finished.emit(
            BatchSummary(request.id, done, failed, skipped, seconds, cancelled, outputs, error)
        )

    def _folder_results(
        self, captioner: Captioner, request: BatchRequest, started: Callable[[str], None]
    ) -> Any:
        from ..jobs import caption_folder

        return caption_folder(
            request.spec,
            captioner=Announcing(captioner, started),
            cancel=request.cancel,
            preparer=self._pool.prepare if self._pool is not None else None,
        )

    def _flush(self, pending: list[BatchRow], progress: BatchUpdate | None) -> None:
        if pending:
            self.batch_results.emit(list(pending))
            pending.clear()
        if progress is not None:
            self.batch_progress.emit(progress)
