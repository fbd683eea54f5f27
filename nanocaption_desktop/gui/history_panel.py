"""The history list with its Copy all and Export buttons."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QItemSelection, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .history import (
    EXPORT_KINDS,
    HistoryEntry,
    HistoryModel,
    export_choice,
    format_history,
    write_text_file,
)
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
        self.relative_paths = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("H&istory")
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
        self.export = QPushButton("E&xport…")
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
        dialog = self.export_dialog()
        if dialog.exec():
            self.export_chosen(dialog)

    def export_dialog(self) -> QFileDialog:
        """Qt's own Save dialog (a platform one takes no extra controls) with a Relative paths
        box: a CSV that travels with its photos opens anywhere."""
        dialog = QFileDialog(self, "Export history", str(Path(self.last_folder or Path.home())))
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters(list(EXPORT_KINDS.values()))
        dialog.selectFile("captions.csv")
        relative = QCheckBox("Paths &relative to the exported file", dialog)
        relative.setObjectName("relativePaths")
        relative.setToolTip("Write photo paths from the export's folder (e.g. photos/cat.jpg)")
        relative.setChecked(self.relative_paths)
        layout = dialog.layout()
        if isinstance(layout, QGridLayout):
            layout.addWidget(relative, layout.rowCount(), 0, 1, layout.columnCount())
        return dialog

    def export_chosen(self, dialog: QFileDialog) -> None:
        files = dialog.selectedFiles()
        if not files:
            return
        box = dialog.findChild(QCheckBox, "relativePaths")
        self.relative_paths = bool(box and box.isChecked())
        path, kind = export_choice(files[0], dialog.selectedNameFilter())
        self.export_to(path, kind, relative=self.relative_paths)

    def export_to(self, path: str, kind: str, *, relative: bool = False) -> None:
        folder = os.path.dirname(os.path.abspath(path)) if relative else None
        text = format_history(list(reversed(self.model.entries())), kind, relative_to=folder)
        self.last_folder = str(Path(path).parent)
        self.export_folder_chosen.emit(self.last_folder)
        run_task(
            lambda: write_text_file(path, text),
            lambda _r: self.message.emit(f"Exported to {path}"),
            lambda reason: self.message.emit(f"Could not export: {reason}"),
        )
