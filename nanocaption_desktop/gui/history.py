"""This session's captions: a list with thumbnails; select to show again; copy or export all."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QPixmap

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

EXPORT_KINDS = {"csv": "CSV (*.csv)", "jsonl": "JSON Lines (*.jsonl)", "txt": "Plain text (*.txt)"}


def format_history(entries: list[HistoryEntry], kind: str) -> str:
    """The entries as CSV (path,caption,score,status,error), JSON Lines or plain text
    (``name<TAB>caption``, captioned ones only), written by the batch's writers
    (``jobs/writers.py``): one escaping rule for every spreadsheet cell the app writes."""
    return export_rows((_row(e, name_only=kind == "txt") for e in entries), kind).decode("utf-8")


def _row(entry: HistoryEntry, *, name_only: bool) -> dict[str, Any]:
    return {
        "path": entry.name if name_only else entry.path or entry.name,
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
        self.thumb_size = 56

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            body = entry.error or entry.text or (EMPTY_CAPTION if entry.done else "Captioning…")
            return f"{entry.name}\n{body}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.error or entry.text or entry.name
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{entry.name}: {entry.error or entry.text}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbs.get(entry.key) or self._blank()
        if role == self.EntryRole:
            return entry
        return None

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
        self._thumbs[key] = pixmap
        row = self.row_of(key)
        if row >= 0:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
