"""The single-image flow of the main window: requests, results, previews, history (a mixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

from .history import HistoryEntry
from .history_panel import THUMB_SIZE
from .messages import CaptionOutcome, CaptionRequest

if TYPE_CHECKING:
    from .window import MainWindow

    _Base = MainWindow
else:
    _Base = object


class CaptionFlow(_Base):
    def caption_source(self, source: object, name: str, *, show: bool, key: int | None = None):
        key = key if key is not None else next(self._ids)
        request = CaptionRequest(
            next(self._ids),
            source,
            name,
            self.caption_panel.chosen_beams(),
            self.caption_panel.chosen_max_tokens(),
        )
        old = self._latest.get(key)
        if old is not None:
            old.cancel.set()  # replaced: stop it, and drop its result if it still arrives
        self._latest[key] = request
        self._request_key[request.id] = key
        existing = self.history_model.entry(key)
        self.history_model.upsert(existing or HistoryEntry(key, name, source))
        if show:
            self._shown_key = key
            self.history_panel.select_key(key)
            self.drop_area.show_loading(name)
            self.caption_panel.clear()
            self.previews.request(key, source)
        elif not self.history_model.has_thumbnail(key):
            self.previews.request(key, source)
        if self.model_state == "ready":
            self.service.caption(request)
            if show:
                busy = " (after the running batch)" if self._batch is not None else ""
                self.caption_panel.set_busy(f"Captioning {name}…{busy}")
        else:
            self._pending.append(request)
            if self.model_state == "loading":
                self._set_state("loading", "Loading model…")
        return request

    def regenerate(self, *_args: int) -> None:
        entry = self.history_model.entry(self._shown_key) if self._shown_key else None
        if entry is None:
            self.show_message("Drop an image first.")
            return
        self.caption_source(entry.source, entry.name, show=True, key=entry.key)

    def _caption_ready(self, outcome: CaptionOutcome) -> None:
        key = self._request_key.pop(outcome.id, None)
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
            self.caption_panel.show_error(f"{outcome.name}: {outcome.error}")
            self.caption_error_shown.emit(outcome.error)
            return
        self.caption_panel.show_caption(outcome.text, outcome.seconds, outcome.score)
        if self.caption_panel.auto_copy.isChecked():
            self.caption_panel.copy_caption()
        self.caption_shown.emit(outcome.text)

    def show_entry(self, entry: HistoryEntry) -> None:
        self._shown_key = entry.key
        self.tabs.setCurrentIndex(0)
        self.previews.request(entry.key, entry.source)
        self.drop_area.show_loading(entry.name)
        if entry.error:
            self.caption_panel.show_error(f"{entry.name}: {entry.error}")
        elif entry.text:
            self.caption_panel.show_caption(entry.text, entry.seconds, entry.score)
        else:
            self.caption_panel.clear()
            self.caption_panel.set_busy(f"Captioning {entry.name}…")

    def _caption_edited(self) -> None:
        if self._shown_key is not None:
            self.history_model.update_text(self._shown_key, self.caption_panel.text())

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
