"""Batch results as a Qt table model: fast at 10,000+ rows, thumbnails fetched only when seen."""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QImage, QPixmap

from .history import EMPTY_CAPTION
from .imaging import ImageLoader
from .messages import BatchRow

Index = QModelIndex | QPersistentModelIndex
COLUMNS = ("Image", "File", "Caption", "Status")
THUMB = 44
CACHE_LIMIT = 600


class ResultsModel(QAbstractTableModel):
    def __init__(self, loader: ImageLoader | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[BatchRow] = []
        self._root = ""
        self._thumbs: OrderedDict[str, QPixmap] = OrderedDict()
        self._failed_thumbs: set[str] = set()
        self._row_of: dict[str, int] = {}
        self._loader = loader
        if loader is not None:
            loader.image_ready.connect(self._thumbnail_ready)
            loader.image_failed.connect(self._thumbnail_failed)

    # ---------------------------------------------------------------- content
    def reset(self, root: str) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._row_of.clear()
        self._thumbs.clear()
        self._failed_thumbs.clear()
        self._root = root
        if self._loader is not None:
            self._loader.clear()
        self.endResetModel()

    def append(self, rows: list[BatchRow]) -> None:
        if not rows:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        for offset, row in enumerate(rows):
            self._row_of[row.path] = first + offset
        self._rows.extend(rows)
        self.endInsertRows()

    def row(self, number: int) -> BatchRow:
        return self._rows[number]

    def rows(self) -> list[BatchRow]:
        return list(self._rows)

    def display_name(self, path: str) -> str:
        if self._root:
            try:
                return os.path.relpath(path, self._root)
            except ValueError:
                pass
        return os.path.basename(path) or path

    # ---------------------------------------------------------------- Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 1:
                return self.display_name(row.path)
            if column == 2:
                return row.caption or (EMPTY_CAPTION if row.status != "failed" else "")
            if column == 3:
                return row.error if row.status == "failed" and row.error else row.status
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return self._thumbnail(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 3 and row.error:
                return row.error
            if column == 2:
                return row.caption
            return row.path
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.data(index, Qt.ItemDataRole.DisplayRole) or self.display_name(row.path)
        if role == Qt.ItemDataRole.ForegroundRole and column == 3 and row.status == "failed":
            return QBrush(QColor("#d9534f"))
        return None

    # ---------------------------------------------------------------- thumbnails
    def _thumbnail(self, row: BatchRow) -> QPixmap | None:
        pix = self._thumbs.get(row.path)
        if pix is not None:
            self._thumbs.move_to_end(row.path)
            return pix
        if row.status != "failed" and row.path not in self._failed_thumbs and self._loader:
            self._loader.request(row.path, row.path)
        return None

    def _thumbnail_ready(self, key: Any, image: QImage) -> None:
        if not isinstance(key, str):
            return
        self._thumbs[key] = QPixmap.fromImage(image)
        while len(self._thumbs) > CACHE_LIMIT:
            self._thumbs.popitem(last=False)
        self._changed(key)

    def _thumbnail_failed(self, key: Any, _reason: str) -> None:
        if isinstance(key, str):
            self._failed_thumbs.add(key)

    def _changed(self, key: str) -> None:
        number = self._row_of.get(key)
        if number is not None:
            index = self.index(number, 0)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
