"""The workspace as a Qt table: thumbnail, file, caption and a state badge for each image.

Rows are the workspace's items (``review.model.Item``, frozen); the model never edits them,
it shows the newest record the controller hands it. Thumbnails come lazily from the imaging
loader (only for rows the view paints): a 10,000-image workspace opens at the cost of its
records.
The proxy below filters by state and caption text and sorts.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from ..review.model import is_flagged
from .imaging import ImageLoader

Index = QModelIndex | QPersistentModelIndex
COLUMNS = ("Image", "File", "Caption", "State")
THUMB = 44
CACHE_LIMIT = 600
STATE_COLUMN = 3
CAPTION_COLUMN = 2
ITEM_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's record
STATE_ROLE = Qt.ItemDataRole.UserRole + 2  # its state name

#: each state's badge: a symbol and a word (never colour alone) and a standard icon
BADGES: dict[str, tuple[str, QStyle.StandardPixmap]] = {
    "new": ("○ new", QStyle.StandardPixmap.SP_FileIcon),
    "captioned": ("◐ captioned", QStyle.StandardPixmap.SP_FileDialogDetailedView),
    "edited": ("✎ edited", QStyle.StandardPixmap.SP_FileDialogContentsView),
    "approved": ("✓ approved", QStyle.StandardPixmap.SP_DialogApplyButton),
    "written": ("⬇ written", QStyle.StandardPixmap.SP_DialogSaveButton),
    "failed": ("✗ failed", QStyle.StandardPixmap.SP_MessageBoxCritical),
}
STATES = tuple(BADGES)


def state_of(item: Any) -> str:
    """The state's name (``review.model.State`` is a str Enum; its hash is not the name's)."""
    return str(getattr(item.state, "value", item.state))


def badge_text(item: Any) -> str:
    state = state_of(item)
    text = BADGES[state][0] if state in BADGES else state
    if item.changed:
        text += " · photo changed"
    elif is_flagged(item) and state != "failed":
        text += " · flagged"
    return text


def accessible_state(item: Any) -> str:
    """What a screen reader says for the badge: the state in words, and the reason."""
    state = state_of(item)
    words = f"State: {state}"
    if item.changed:
        words += ", the photo changed on disk since it was captioned"
    if is_flagged(item):
        words += ", flagged for review"
    if state == "failed" and item.reason:
        words += f": {item.reason}"
    return words


class WorkspaceModel(QAbstractTableModel):
    def __init__(self, loader: ImageLoader | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[Any] = []
        self._row_of: dict[str, int] = {}
        self._root = ""
        self._thumbs: OrderedDict[str, QPixmap] = OrderedDict()
        self._failed_thumbs: set[str] = set()
        self._icons: dict[str, QPixmap] = {}
        self._loader = loader
        if loader is not None:
            loader.image_ready.connect(self._thumbnail_ready)
            loader.image_failed.connect(self._thumbnail_failed)

    # ---------------------------------------------------------------- content
    def reset(self, root: str, items: Sequence[Any]) -> None:
        self.beginResetModel()
        self._root = root
        self._items = list(items)
        self._row_of = {item.path: n for n, item in enumerate(self._items)}
        self._thumbs.clear()
        self._failed_thumbs.clear()
        if self._loader is not None:
            self._loader.clear()
        self.endResetModel()

    def put(self, item: Any) -> None:
        """Show the newest record of an image: replaced in place, or added at the end."""
        number = self._row_of.get(item.path)
        if number is None:
            number = len(self._items)
            self.beginInsertRows(QModelIndex(), number, number)
            self._items.append(item)
            self._row_of[item.path] = number
            self.endInsertRows()
            return
        self._items[number] = item
        self.dataChanged.emit(self.index(number, 1), self.index(number, STATE_COLUMN))

    def put_many(self, items: Sequence[Any]) -> None:
        fresh = [i for i in items if i.path not in self._row_of]
        for item in items:
            if item.path in self._row_of:
                self.put(item)
        if fresh:
            first = len(self._items)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for offset, item in enumerate(fresh):
                self._row_of[item.path] = first + offset
            self._items.extend(fresh)
            self.endInsertRows()

    def item(self, row: int) -> Any:
        return self._items[row]

    def item_of(self, path: str) -> Any | None:
        number = self._row_of.get(path)
        return None if number is None else self._items[number]

    def row_of(self, path: str) -> int | None:
        return self._row_of.get(path)

    def items(self) -> list[Any]:
        return list(self._items)

    @property
    def root(self) -> str:
        return self._root

    def display_name(self, path: str) -> str:
        if self._root:
            try:
                rel = os.path.relpath(path, self._root)
                if not rel.startswith(".."):
                    return rel
            except ValueError:
                pass
        return os.path.basename(path) or path

    # ---------------------------------------------------------------- Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        column = index.column()
        if role == ITEM_ROLE:
            return item
        if role == STATE_ROLE:
            return state_of(item)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, column)
        if role == Qt.ItemDataRole.DecorationRole:
            if column == 0:
                return self._thumbnail(item)
            if column == STATE_COLUMN:
                return self._icon(state_of(item))
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == STATE_COLUMN:
                return accessible_state(item)
            return item.text if column == CAPTION_COLUMN else item.path
        if role == Qt.ItemDataRole.AccessibleTextRole:
            if column == STATE_COLUMN:
                return accessible_state(item)
            return self._display(item, column) or self.display_name(item.path)
        return None

    def _display(self, item: Any, column: int) -> str | None:
        if column == 1:
            return self.display_name(item.path)
        if column == CAPTION_COLUMN:
            return item.text or (item.reason or "" if state_of(item) == "failed" else "")
        if column == STATE_COLUMN:
            return badge_text(item)
        return None

    def _icon(self, state: str) -> QPixmap | None:
        """The state's icon at 16 px (a pixmap keeps its size; the thumbnails set the view's
        icon size to 44)."""
        icon = self._icons.get(state)
        if icon is None and state in BADGES:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                icon = app.style().standardIcon(BADGES[state][1]).pixmap(16, 16)
                self._icons[state] = icon
        return icon

    # ---------------------------------------------------------------- thumbnails
    def _thumbnail(self, item: Any) -> QPixmap | None:
        pix = self._thumbs.get(item.path)
        if pix is not None:
            self._thumbs.move_to_end(item.path)
            return pix
        if item.path not in self._failed_thumbs and self._loader is not None:
            self._loader.request(item.path, item.path)
        return None

    def _thumbnail_ready(self, key: Any, image: QImage) -> None:
        if not isinstance(key, str) or key not in self._row_of:
            return
        self._thumbs[key] = QPixmap.fromImage(image)
        while len(self._thumbs) > CACHE_LIMIT:
            self._thumbs.popitem(last=False)
        index = self.index(self._row_of[key], 0)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def _thumbnail_failed(self, key: Any, _reason: str) -> None:
        if isinstance(key, str):
            self._failed_thumbs.add(key)


class WorkspaceFilter(QSortFilterProxyModel):
    """Filter by state ("" = all, "flagged" = weak or failed) and by words in the caption."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state = ""
        self._words = ""
        self.setSortRole(Qt.ItemDataRole.DisplayRole)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_state(self, state: str) -> None:
        self._refilter(lambda: setattr(self, "_state", state))

    def set_search(self, words: str) -> None:
        self._refilter(lambda: setattr(self, "_words", words.strip().casefold()))

    def _refilter(self, change: Callable[[], None]) -> None:
        """Qt 6.10+ wants begin/endFilterChange (invalidateFilter is deprecated there)."""
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange()
        else:  # pragma: no cover (older PySide6)
            change()
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        if not isinstance(model, WorkspaceModel):
            return True
        item = model.item(row)
        if self._state == "flagged":
            if not is_flagged(item):
                return False
        elif self._state and state_of(item) != self._state:
            return False
        if self._words:
            haystack = f"{item.text} {model.display_name(item.path)}".casefold()
            return self._words in haystack
        return True
