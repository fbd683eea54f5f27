"""This session's captions: a list with thumbnails; select to show again; copy or export all."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    Qt,
)
from PySide6.QtGui import QPainter, QPixmap

from ..jobs.writers import export_rows

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class HistoryEntry:
    key: int  # stable per image in this session
    name: str
    source: Any  # path, bytes or QImage: what a regenerate captions again
    text: str = ""
    score: float | None = None
    seconds: float = 0.0
    error: str = ""
    done: bool = False  # the model has answered (an empty caption is still an answer)

    @property
    def path(self) -> str:
        return self.source if isinstance(self.source, str) else ""


#: shown when a caption has no words (the model ended it at once, or its tokens decode to nothing)
EMPTY_CAPTION = "(empty: the model gave no words for this image)"

FAILED_MARK = "⚠ Failed:"
EXPORT_KINDS = {"csv": "CSV (*.csv)", "jsonl": "JSON Lines (*.jsonl)", "txt": "Plain text (*.txt)"}


def format_history(
    entries: list[HistoryEntry], kind: str, *, relative_to: str | None = None
) -> str:
    """The entries as CSV (path,caption,score,status,error), JSON Lines or plain text
    (``name<TAB>caption``, captioned ones only), written by the batch's writers
    (``jobs/writers.py``): one escaping rule for every spreadsheet cell the app writes.
    ``relative_to``: a folder that paths are written relative to (the export's own folder)."""
    rows = (_row(e, name_only=kind == "txt", relative_to=relative_to) for e in entries)
    return export_rows(rows, kind).decode("utf-8")


def export_choice(path: str, chosen_filter: str) -> tuple[str, str]:
    """``(path, kind)`` of a Save dialog's answer: the typed name's extension wins over the
    filter (``hist.jsonl`` is JSON Lines whatever filter was shown); a name without one takes
    the filter's kind and its extension; anything else is CSV."""
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix in EXPORT_KINDS:
        return path, suffix
    kind = next((k for k, f in EXPORT_KINDS.items() if f == chosen_filter), "csv")
    return (path if suffix else f"{path}.{kind}"), kind


def _shown_path(path: str, relative_to: str | None) -> str:
    if not relative_to or not path:
        return path
    try:
        return os.path.relpath(path, relative_to)
    except ValueError:  # another drive (Windows): only the full path leads there
        return path


def _row(entry: HistoryEntry, *, name_only: bool, relative_to: str | None) -> dict[str, Any]:
    return {
        "path": entry.name if name_only else _shown_path(entry.path, relative_to) or entry.name,
        "caption": entry.text,
        "score": entry.score,
        "status": "failed" if entry.error else "ok",
        "error": entry.error or None,
    }


def write_text_file(path: str, text: str) -> None:
    """Write an export atomically (runs off the GUI thread), with the rules of a batch's
    outputs: never over an image (by name or content), never through a symlink or into a FIFO
    or device; ``OutputError`` naming the file otherwise."""
    from ..jobs.outputs import check_output_path
    from ..jobs.writers import atomic_write

    target = Path(path)
    check_output_path("the export", target)
    atomic_write(target, text.encode("utf-8"))


class HistoryModel(QAbstractListModel):
    EntryRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[HistoryEntry] = []
        self._thumbs: dict[int, QPixmap] = {}
        self._placeholder: QPixmap | None = None
        self._failed: QPixmap | None = None
        self.thumb_size = 56

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if entry.error:  # a word and an icon, not colour alone
                return f"{entry.name}\n{FAILED_MARK} {entry.error}"
            body = entry.text or (EMPTY_CAPTION if entry.done else "Captioning…")
            return f"{entry.name}\n{body}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Failed: {entry.error}" if entry.error else entry.text or entry.name
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return (
                f"{entry.name}: {FAILED_MARK} {entry.error}"
                if entry.error
                else (f"{entry.name}: {entry.text}")
            )
        if role == Qt.ItemDataRole.ForegroundRole and entry.error:
            from .theme import failure_colour

            return failure_colour()
        if role == Qt.ItemDataRole.DecorationRole:
            thumb = self._thumbs.get(entry.key)
            return thumb or (self._failed_icon() if entry.error else self._blank())
        if role == self.EntryRole:
            return entry
        return None

    def _failed_icon(self) -> QPixmap:
        if self._failed is None:
            from PySide6.QtWidgets import QApplication, QStyle

            icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            self._failed = self._boxed(icon.pixmap(self.thumb_size * 2 // 3))
        return self._failed

    def _boxed(self, pixmap: QPixmap) -> QPixmap:
        """``pixmap`` centred in a transparent thumb-size square: portrait, landscape and icon
        rows all start their text at the same place."""
        ratio = pixmap.devicePixelRatio() or 1.0
        side = round(self.thumb_size * ratio)
        if pixmap.width() == side and pixmap.height() == side:
            return pixmap
        box = QPixmap(side, side)
        box.setDevicePixelRatio(ratio)
        box.fill(Qt.GlobalColor.transparent)
        painter = QPainter(box)
        size = pixmap.deviceIndependentSize()
        x = (self.thumb_size - size.width()) / 2
        y = (self.thumb_size - size.height()) / 2
        painter.drawPixmap(QPointF(x, y), pixmap)
        painter.end()
        return box

    def _blank(self) -> QPixmap:
        """A transparent square so every row has the thumbnail's height from the start."""
        if self._placeholder is None:
            self._placeholder = QPixmap(self.thumb_size, self.thumb_size)
            self._placeholder.fill(Qt.GlobalColor.transparent)
        return self._placeholder

    def entries(self) -> list[HistoryEntry]:
        return list(self._entries)

    def row_of(self, key: int) -> int:
        for row, entry in enumerate(self._entries):
            if entry.key == key:
                return row
        return -1

    def entry(self, key: int) -> HistoryEntry | None:
        row = self.row_of(key)
        return self._entries[row] if row >= 0 else None

    def upsert(self, entry: HistoryEntry) -> int:
        """Add ``entry`` at the top, or replace the one with the same key. Returns its row."""
        row = self.row_of(entry.key)
        if row >= 0:
            self._entries[row] = entry
            index = self.index(row)
            self.dataChanged.emit(index, index)
            return row
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._entries.insert(0, entry)
        self.endInsertRows()
        return 0

    def update_text(self, key: int, text: str) -> None:
        row = self.row_of(key)
        if row >= 0 and self._entries[row].text != text and not self._entries[row].error:
            self._entries[row] = replace(self._entries[row], text=text)
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def has_thumbnail(self, key: int) -> bool:
        return key in self._thumbs

    def set_thumbnail(self, key: int, pixmap: QPixmap) -> None:
        self._thumbs[key] = self._boxed(pixmap)
        row = self.row_of(key)
        if row >= 0:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
