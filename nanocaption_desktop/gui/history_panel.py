"""The history list with its Copy all and Export buttons."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelection, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .history import EXPORT_KINDS, HistoryEntry, HistoryModel, format_history, write_text_file
from .tasks import run_task

THUMB_SIZE = 56
EMPTY_TEXT = "Images you caption in this session are listed here."


class HistoryView(QListView):
    """The list, with a quiet hint instead of a blank box while it is empty."""

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            rect = self.viewport().rect().adjusted(12, 12, -12, -12)
            flags = Qt.AlignmentFlag.AlignCenter.value | Qt.TextFlag.TextWordWrap.value
            painter.drawText(rect, flags, EMPTY_TEXT)
            painter.end()


class HistoryPanel(QWidget):
    entry_selected = Signal(object)  # HistoryEntry
    message = Signal(str)  # for the status bar
    export_folder_chosen = Signal(str)

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.last_folder = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("&History")
        title.setObjectName("sectionTitle")
        self.view = HistoryView()
        title.setBuddy(self.view)
        self.view.setModel(model)
        self.view.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.view.setUniformItemSizes(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setAccessibleName("History")
        self.view.setToolTip("Images captioned in this session; select one to show it again")
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        layout.addWidget(title)
        layout.addWidget(self.view, 1)

        buttons = QHBoxLayout()
        self.copy_all = QPushButton("Copy &all")
        self.copy_all.setAccessibleName("Copy all captions")
        self.copy_all.setToolTip("Copy every caption in the history, one per line")
        self.copy_all.clicked.connect(self._copy_all)
        self.export = QPushButton("&Export…")
        self.export.setAccessibleName("Export history")
        self.export.setToolTip("Save the history as CSV, JSON Lines or plain text")
        self.export.clicked.connect(self.export_history)
        buttons.addWidget(self.copy_all)
        buttons.addWidget(self.export)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        model.rowsInserted.connect(self._update_buttons)
        model.modelReset.connect(self._update_buttons)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.model.rowCount() > 0
        self.copy_all.setEnabled(has)
        self.export.setEnabled(has)

    def select_key(self, key: int) -> None:
        row = self.model.row_of(key)
        if row >= 0:
            self.view.selectionModel().blockSignals(True)
            self.view.setCurrentIndex(self.model.index(row))
            self.view.selectionModel().blockSignals(False)

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            entry = indexes[0].data(HistoryModel.EntryRole)
            if isinstance(entry, HistoryEntry):
                self.entry_selected.emit(entry)

    def _copy_all(self) -> None:
        text = format_history(list(reversed(self.model.entries())), "txt")
        QGuiApplication.clipboard().setText(text)
        self.message.emit(f"Copied {text.count(chr(10))} captions")

    def export_history(self) -> None:
        filters = ";;".join(EXPORT_KINDS.values())
        start = str(Path(self.last_folder or Path.home()) / "captions.csv")
        path, chosen = QFileDialog.getSaveFileName(self, "Export history", start, filters)
        if not path:
            return
        kind = next((k for k, f in EXPORT_KINDS.items() if f == chosen), "")
        kind = kind or Path(path).suffix.lstrip(".").lower()
        if kind not in EXPORT_KINDS:
            kind = "csv"
        if not Path(path).suffix:
            path += "." + kind
        self.export_to(path, kind)

    def export_to(self, path: str, kind: str) -> None:
        text = format_history(list(reversed(self.model.entries())), kind)
        self.last_folder = str(Path(path).parent)
        self.export_folder_chosen.emit(self.last_folder)
        run_task(
            lambda: write_text_file(path, text),
            lambda _r: self.message.emit(f"Exported to {path}"),
            lambda reason: self.message.emit(f"Could not export: {reason}"),
        )
