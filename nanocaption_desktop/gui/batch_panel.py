"""Caption a whole folder: choose it and the outputs, watch progress, cancel, read results."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .messages import BatchSummary, BatchUpdate
from .results_model import THUMB, ResultsModel
from .widgets import ElidedLabel, LiveLabel

SIDECAR_LABELS = {
    "off": "No .txt sidecars",
    "skip": "Sidecars: keep existing",
    "overwrite": "Sidecars: overwrite",
    "append": "Sidecars: append",
}
CSV_NAME = "captions.csv"
JSONL_NAME = "captions.jsonl"


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class BatchPanel(QWidget):
    start_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, model: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._output_folder = ""
        self._auto_output: tuple[str, str] = ("", "")  # (photo folder, where results go)
        self._total: int | None = None  # images in the running batch's folder, once counted
        layout = QVBoxLayout(self)
        # top to bottom, each part made and placed in turn (Qt's tab order follows it)
        grid = self._build_folder_row()
        self._build_choices(grid)
        self._build_output_row(grid)
        layout.addLayout(grid)
        layout.addLayout(self._build_controls())
        layout.addLayout(self._build_status())
        layout.addWidget(self._build_table(model), 1)
        model.rowsInserted.connect(self._follow)

    def _build_folder_row(self) -> QGridLayout:
        grid = QGridLayout()
        folder_label = QLabel("F&older:")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("Choose a folder of images, or drop one on the window")
        self.folder.setAccessibleName("Batch folder")
        self.folder.setToolTip("The folder whose images get captions")
        folder_label.setBuddy(self.folder)
        self.choose = QPushButton("&Choose…")
        self.choose.setAccessibleName("Choose batch folder")
        self.choose.setToolTip("Pick the folder to caption (Ctrl+Shift+O)")
        self.choose.clicked.connect(self._choose_folder)
        grid.addWidget(folder_label, 0, 0)
        grid.addWidget(self.folder, 0, 1)
        grid.addWidget(self.choose, 0, 2)
        return grid

    def _build_choices(self, grid: QGridLayout) -> None:
        """The options (subfolders, resume) and the outputs, in two short rows of ``grid``."""
        options = QHBoxLayout()
        self.recursive = QCheckBox("Include s&ubfolders")
        self.recursive.setAccessibleName("Include subfolders")
        self.recursive.setToolTip("Also caption images in folders inside this folder")
        self.csv = QCheckBox("C&SV")
        self.csv.setAccessibleName("Write CSV")
        self.csv.setToolTip(f"Write {CSV_NAME} in the folder (path, caption, score, status)")
        self.jsonl = QCheckBox("&JSON Lines")
        self.jsonl.setAccessibleName("Write JSON Lines")
        self.jsonl.setToolTip(f"Write {JSONL_NAME} in the folder, one JSON object per image")
        self.sidecars = QComboBox()
        for key, label in SIDECAR_LABELS.items():
            self.sidecars.addItem(label, key)
        self.sidecars.setAccessibleName("Text sidecars")
        self.sidecars.setAccessibleDescription(  # Qt names a combo box by its current item
            "Text sidecars: none, keep existing, overwrite, or append"
        )
        self.sidecars.view().setAccessibleName("Sidecar policies")
        self.sidecars.setToolTip(
            "Write photo.txt next to photo.jpg: skip existing ones, overwrite them, or append"
        )
        self.resume = QCheckBox("Skip &done images (resume)")
        self.resume.setAccessibleName("Resume previous batch")
        self.resume.setToolTip("Skip images an earlier batch of this folder already captioned")
        self.write_metadata = QCheckBox("&Write alt text into the photos")
        self.write_metadata.setAccessibleName("Write alt text into the photos")
        self.write_metadata.setToolTip(
            "Write each caption into its photo (XMP alt text; a sidecar for formats that hold "
            "none); a description a person wrote is kept"
        )
        # two short rows, not one long one: the page (and the window) stays narrow
        for widget in (self.recursive, self.resume, self.write_metadata):
            options.addWidget(widget)
        options.addStretch(1)
        outputs = QHBoxLayout()
        # a label names the box for screen readers (Qt on Linux announces a combo box by its
        # value; the label is its name through the buddy relation)
        sidecar_label = QLabel("Te&xt files:")
        sidecar_label.setBuddy(self.sidecars)
        for output in (self.csv, self.jsonl, sidecar_label, self.sidecars):
            outputs.addWidget(output)
        outputs.addStretch(1)
        grid.addLayout(options, 1, 1, 1, 2)
        grid.addLayout(outputs, 2, 1, 1, 2)

    def _build_output_row(self, grid: QGridLayout) -> None:
        """Save results in: the photo folder by default, another folder when chosen or when the
        photo folder is read-only (then said in the note below it)."""
        label = QLabel("Save results i&n:")
        self.output = QLineEdit()
        self.output.setPlaceholderText("The photo folder")
        self.output.setAccessibleName("Results folder")
        self.output.setToolTip(
            "Where the CSV and JSON Lines files go (empty: the photo folder, or a folder in "
            "your documents when the photo folder is read-only)"
        )
        label.setBuddy(self.output)
        self.choose_output = QPushButton("Ch&ange…")
        self.choose_output.setAccessibleName("Choose results folder")
        self.choose_output.setToolTip("Save results to another folder")
        self.choose_output.clicked.connect(self._choose_output)
        self.output_note = QLabel("")
        self.output_note.setObjectName("notice")
        self.output_note.setWordWrap(True)
        self.output_note.setAccessibleName("Where results go")
        self.output_note.hide()
        self.output.textChanged.connect(
            lambda text: self.output_note.setVisible(
                bool(self.output_note.text()) and not text.strip()
            )
        )
        grid.addWidget(label, 3, 0)
        grid.addWidget(self.output, 3, 1)
        grid.addWidget(self.choose_output, 3, 2)
        grid.addWidget(self.output_note, 4, 1, 1, 2)

    def _build_controls(self) -> QHBoxLayout:
        controls = QHBoxLayout()
        self.start = QPushButton("Sta&rt batch")
        self.start.setAccessibleName("Start batch")
        self.start.setToolTip("Caption every image in the folder (Ctrl+Return)")
        self.start.clicked.connect(self.start_requested)
        self.cancel = QPushButton("Cancel batch")
        self.cancel.setAccessibleName("Cancel batch")
        self.cancel.setToolTip("Stop after the current image; finished results are kept (Esc)")
        self.cancel.clicked.connect(self.cancel_requested)
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Batch progress")
        self.progress.setToolTip("How much of the folder is done")
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.open_output = QPushButton("Open output fo&lder")
        self.open_output.setAccessibleName("Open output folder")
        self.open_output.setToolTip("Show the folder with the CSV / JSON Lines files")
        self.open_output.setEnabled(False)
        self.open_output.clicked.connect(self._open_output)
        controls.addWidget(self.start)
        controls.addWidget(self.cancel)
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.open_output)
        return controls

    def _build_status(self) -> QHBoxLayout:
        self.counts = LiveLabel("Batch counts")
        self.counts.setToolTip("Images done, failures, speed and time left")
        self.current = ElidedLabel("Current file")
        self.current.setToolTip("The image being captioned now")
        self.current.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        status = QHBoxLayout()
        status.addWidget(self.counts)
        status.addWidget(self.current, 1)
        return status

    def _build_table(self, model: ResultsModel) -> QTableView:
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setAccessibleName("Batch results")
        self.table.setToolTip("One row per image: thumbnail, file, caption, and status or error")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)
        vheader = self.table.verticalHeader()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vheader.setDefaultSectionSize(THUMB + 6)
        vheader.hide()
        self.table.setIconSize(QSize(THUMB, THUMB))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, THUMB + 12)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(1, 200)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(3, 160)
        return self.table

    # ---------------------------------------------------------------- choices
    def folder_path(self) -> str:
        return self.folder.text().strip()

    def set_folder(self, folder: str) -> None:
        self.folder.setText(folder)

    def output_folder(self) -> str:
        """Where the CSV and JSONL go: the chosen folder, else the default for this photo
        folder once known (``set_auto_output``), else the photo folder."""
        chosen = self.output.text().strip()
        if chosen:
            return chosen
        folder, auto = self._auto_output
        return auto if auto and folder == self.folder_path() else self.folder_path()

    def knows_output_of(self, folder: str) -> bool:
        return self._auto_output[0] == folder

    def set_auto_output(self, folder: str, output: str) -> None:
        """The default results folder of ``folder``; said on screen when it is not the folder."""
        self._auto_output = (folder, output)
        moved = bool(output) and output != folder and folder == self.folder_path()
        self.output_note.setText(
            f"This folder is read-only: results will be saved in {output}" if moved else ""
        )
        self.output_note.setAccessibleDescription(self.output_note.text())
        self.output_note.setVisible(moved and not self.output.text().strip())

    def csv_path(self) -> str | None:
        return str(Path(self.output_folder()) / CSV_NAME) if self.csv.isChecked() else None

    def jsonl_path(self) -> str | None:
        return str(Path(self.output_folder()) / JSONL_NAME) if self.jsonl.isChecked() else None

    def sidecar_policy(self) -> str:
        return str(self.sidecars.currentData())

    def set_sidecar_policy(self, policy: str) -> None:
        index = self.sidecars.findData(policy)
        self.sidecars.setCurrentIndex(max(0, index))

    def _choose_folder(self) -> None:
        start = self.folder_path() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder to caption", start)
        if folder:
            self.set_folder(folder)

    def _choose_output(self) -> None:
        start = self.output_folder() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Save results in", start)
        if folder:
            self.output.setText(folder)
            self.output_note.hide()

    # ---------------------------------------------------------------- running state
    def batch_started(self, folder: str, output_folder: str = "") -> None:
        self.model.reset(folder)
        self._output_folder = output_folder or folder
        self._total = None
        self.set_running(True)
        self.progress.setRange(0, 0)  # busy until the first count arrives
        self.counts.setText("Starting…")
        self.current.set_full_text("")
        self.open_output.setEnabled(False)

    def set_running(self, running: bool) -> None:
        self.start.setEnabled(not running)
        self.cancel.setEnabled(running)
        for widget in (
            self.folder,
            self.choose,
            self.recursive,
            self.csv,
            self.jsonl,
            self.sidecars,
            self.resume,
            self.write_metadata,
            self.output,
            self.choose_output,
        ):
            widget.setEnabled(not running)

    def show_progress(self, update: BatchUpdate) -> None:
        p = update.progress
        self._total = p.total
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(min(p.finished, p.total))
            self.progress.setFormat("%v / %m")
        else:
            self.progress.setRange(0, 0)
        failed = f", {p.failed} failed" if p.failed else ""
        total = f" of {p.total}" if p.total else ""
        eta = f" · about {format_duration(p.eta)} left" if p.eta is not None else ""
        self.counts.setText(f"{p.finished}{total} done{failed} · {p.rate:.1f} images/s{eta}")

    def show_current(self, relpath: str) -> None:
        """The image the model is captioning now (``relpath``: relative to the batch folder)."""
        self.current.set_full_text(f"Captioning {relpath}")
        self.current.setToolTip(f"The image being captioned now: {relpath}")

    def batch_finished(self, s: BatchSummary) -> None:
        self.set_running(False)
        # a cancelled batch keeps the folder's count: 105 / 600, not a full bar
        total = max(s.done, self._total or 0, 1) if s.cancelled else max(s.done, 1)
        self.progress.setRange(0, total)
        self.progress.setValue(s.done if s.done else 0)
        # nothing done and no count to show (a batch refused before it began): an empty bar,
        # not "0 / 1"
        self.progress.setFormat("%v / %m" if s.done or (s.cancelled and self._total) else "")
        verb = "Cancelled" if s.cancelled else "Stopped" if s.error else "Finished"
        failed = f", {s.failed} failed" if s.failed else ""
        skipped = f", {s.skipped} already done" if s.skipped else ""
        error = f" — {s.error}" if s.error else ""
        self.counts.setText(
            f"{verb}: {s.done} images{failed}{skipped} in {format_duration(s.seconds)}{error}"
        )
        self.current.set_full_text("")
        self.open_output.setEnabled(bool(self._output_folder))

    def _follow(self) -> None:
        bar = self.table.verticalScrollBar()
        if bar.value() >= bar.maximum() - 2 * (THUMB + 6):
            self.table.scrollToBottom()

    def _open_output(self) -> None:
        if self._output_folder and os.path.isdir(self._output_folder):
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._output_folder))
