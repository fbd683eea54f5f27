"""Single images: requests to the worker, their results, previews and the history."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QTabWidget

from .caption_panel import CaptionPanel
from .drop_area import DropArea
from .history import HistoryEntry, HistoryModel
from .history_panel import THUMB_SIZE, HistoryPanel
from .imaging import ImageLoader
from .messages import CaptionOutcome, CaptionRequest
from .model_controller import ModelController
from .settings import Settings
from .worker import CaptionWorker


class CaptionController(QObject):
    """Owns the single-image requests: which one is newest per history entry, which is shown,
    which wait for the model. A late result for a replaced request is dropped."""

    caption_shown = Signal(str)  # the caption text now on screen
    caption_error_shown = Signal(str)  # a per-file error now on screen
    message = Signal(str)  # for the status bar
    image_shown = Signal(str)  # the image now on screen: its file's path ("" for pasted data)

    def __init__(
        self,
        worker: CaptionWorker,
        model: ModelController,
        settings: Settings,
        *,
        drop_area: DropArea,
        caption_panel: CaptionPanel,
        history_model: HistoryModel,
        history_panel: HistoryPanel,
        previews: ImageLoader,
        tabs: QTabWidget,
        batch_running: Callable[[], bool],  # whether a folder batch holds the worker now
    ) -> None:
        super().__init__(tabs)
        self.worker, self.model, self.settings = worker, model, settings
        self.drop_area, self.panel = drop_area, caption_panel
        self.history_model, self.history_panel = history_model, history_panel
        self.previews, self.tabs = previews, tabs
        self._batch_running = batch_running
        self._ids = count(1)
        self._pending: list[CaptionRequest] = []  # waiting for the model
        self._request_key: dict[int, int] = {}  # request id -> history key
        self._latest: dict[int, CaptionRequest] = {}  # history key -> newest request
        self._shown_key: int | None = None
        self._preview_due: set[int] = set()  # request ids whose preview the worker sends
        model.state_changed.connect(self._model_state)
        worker.caption_ready.connect(self._caption_ready)
        worker.preview_ready.connect(self._decoded)
        previews.image_ready.connect(self._preview_ready)
        previews.image_failed.connect(self._preview_failed)
        caption_panel.regenerate_requested.connect(self.regenerate)
        caption_panel.options_changed.connect(self._options_changed)
        caption_panel.auto_copy_changed.connect(settings.set_auto_copy)
        caption_panel.edit.textChanged.connect(self._caption_edited)
        history_panel.entry_selected.connect(self.show_entry)

    def caption_source(
        self, source: object, name: str, *, show: bool, key: int | None = None
    ) -> CaptionRequest:
        key = key if key is not None else next(self._ids)
        existing = self.history_model.entry(key)
        wants_preview = show or existing is None or not self.history_model.has_thumbnail(key)
        # a file or encoded bytes the worker can start on now: one decode for preview and pixels
        # (while the model loads or a batch runs, the preview comes from the loader at once)
        one_decode = (
            wants_preview
            and isinstance(source, (str, bytes))
            and self.model.state == "ready"
            and not self._batch_running()
        )
        request = CaptionRequest(
            next(self._ids),
            source,
            name,
            self.panel.chosen_beams(),
            self.panel.chosen_max_tokens(),
            preview_side=self.previews.max_side if one_decode else None,
        )
        old = self._latest.get(key)
        if old is not None:
            old.cancel.set()  # replaced: stop it, and drop its result if it still arrives
        self._latest[key] = request
        self._request_key[request.id] = key
        self.history_model.upsert(existing or HistoryEntry(key, name, source))
        if one_decode:
            self._preview_due.add(request.id)
        elif wants_preview:
            self.previews.request(key, source)
        if show:
            self._shown_key = key
            self.image_shown.emit(source if isinstance(source, str) else "")
            self.history_panel.select_key(key)
            self.drop_area.show_loading(name)
            self.panel.clear()
        if self.model.state == "ready":
            self.worker.caption(request)
            if show:
                busy = " (after the running batch)" if self._batch_running() else ""
                self.panel.set_busy(f"Captioning {name}…{busy}")
        else:
            self._pending.append(request)
            if self.model.state == "loading":
                self._show_loading()
        return request

    def regenerate(self) -> None:
        entry = self.history_model.entry(self._shown_key) if self._shown_key else None
        if entry is None:
            self.message.emit("Drop an image first.")
            return
        self.caption_source(entry.source, entry.name, show=True, key=entry.key)

    def current_path(self) -> str:
        """The file of the image on screen ("" when none, or it came as data: a paste)."""
        entry = self.history_model.entry(self._shown_key) if self._shown_key else None
        return entry.path if entry is not None else ""

    def show_entry(self, entry: HistoryEntry) -> None:
        self._shown_key = entry.key
        self.image_shown.emit(entry.path)
        self.tabs.setCurrentIndex(0)
        self.previews.request(entry.key, entry.source)
        self.drop_area.show_loading(entry.name)
        if entry.error:
            self.panel.show_error(f"{entry.name}: {entry.error}")
        elif entry.text:
            self.panel.show_caption(entry.text, entry.seconds, entry.score)
        else:
            self.panel.clear()
            self.panel.set_busy(f"Captioning {entry.name}…")

    # ================================================================= the model
    def _model_state(self, state: str) -> None:
        # nothing can caption without a model (while loading, a request waits for it instead)
        self.panel.regenerate.setEnabled(state != "missing")
        if state == "loading":
            self._show_loading()
        elif state == "missing":
            self.panel.set_busy("Install or choose the model to start captioning.")
        elif state == "ready":
            info = self.model.info
            self.panel.set_token_limit(info.max_new_tokens if info else None)
            self.panel.set_busy("" if self._pending else "Ready. Drop a photo to caption it.")
            pending, self._pending = self._pending, []
            for request in pending:
                self.worker.caption(request)

    def _show_loading(self) -> None:
        waiting = len(self._pending)
        extra = f" {waiting} image(s) waiting." if waiting else ""
        self.panel.set_busy(
            f"{self.model.busy_text} images you drop now are captioned as soon as it is ready."
            f"{extra}"
        )

    # ================================================================= results
    def _decoded(self, request_id: int, image: QImage) -> None:
        self._preview_due.discard(request_id)
        key = self._request_key.get(request_id)
        if key is not None:
            self._preview_ready(key, image)

    def _caption_ready(self, outcome: CaptionOutcome) -> None:
        key = self._request_key.pop(outcome.id, None)
        if outcome.id in self._preview_due:  # the file's one decode did not happen or failed
            self._preview_due.discard(outcome.id)
            if key is not None and outcome.error:
                self._preview_failed(key, outcome.error)
        latest = self._latest.get(key) if key is not None else None
        if key is None or latest is None or latest.id != outcome.id or outcome.cancelled:
            return  # a late result for a replaced image or a cancelled request: dropped
        entry = HistoryEntry(
            key,
            outcome.name,
            outcome.source,
            outcome.text,
            outcome.score,
            outcome.seconds,
            outcome.error or "",
            done=True,
        )
        self.history_model.upsert(entry)
        if key != self._shown_key:
            return
        if outcome.error:
            self.panel.show_error(f"{outcome.name}: {outcome.error}")
            self.caption_error_shown.emit(outcome.error)
            return
        self.panel.show_caption(outcome.text, outcome.seconds, outcome.score)
        if self.panel.auto_copy.isChecked():
            self.panel.copy_caption()
        self.caption_shown.emit(outcome.text)

    def _caption_edited(self) -> None:
        if self._shown_key is not None:
            self.history_model.update_text(self._shown_key, self.panel.text())

    def _preview_ready(self, key: object, image: QImage) -> None:
        if not isinstance(key, int):
            return
        thumb = image.scaled(
            THUMB_SIZE,
            THUMB_SIZE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.history_model.set_thumbnail(key, QPixmap.fromImage(thumb))
        if key == self._shown_key:
            entry = self.history_model.entry(key)
            self.drop_area.show_image(image, entry.name if entry else "")

    def _preview_failed(self, key: object, reason: str) -> None:
        if key == self._shown_key:
            self.drop_area.show_message(f"Cannot show this file:\n{reason}")

    def _options_changed(self, beams: int, max_new_tokens: int) -> None:
        self.settings.set_beams(beams)
        self.settings.set_max_new_tokens(max_new_tokens)
