"""Getting a model: download it in the worker (with a progress dialog) or choose a folder."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog

from .messages import FetchProgress

if TYPE_CHECKING:
    from .window import MainWindow


class ModelSetup(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: QProgressDialog | None = None
        self.error_box: QMessageBox | None = None
        self._cancel: threading.Event | None = None
        worker = window.service.worker
        worker.fetch_progress.connect(self._progress)
        worker.fetch_finished.connect(self._finished)
        worker.fetch_failed.connect(self._failed)

    def download(self) -> None:
        if self.dialog is not None:
            return
        dialog = QProgressDialog("Downloading the captioning model…", "Cancel", 0, 0, self.window)
        dialog.setWindowTitle("Download model")
        dialog.setAccessibleName("Model download progress")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(self._cancel_download)
        self.dialog = dialog
        dialog.show()
        self._cancel = self.window.service.fetch_model()

    def _cancel_download(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        if self.dialog is not None:
            self.dialog.setLabelText("Cancelling…")

    def _progress(self, p: FetchProgress) -> None:
        if self.dialog is None:
            return
        mb = p.done / 1e6
        if p.total:
            self.dialog.setRange(0, 1000)
            self.dialog.setValue(int(1000 * p.done / p.total))
            self.dialog.setLabelText(f"Downloading the model… {mb:.0f} of {p.total / 1e6:.0f} MB")
        else:
            self.dialog.setLabelText(f"Downloading the model… {mb:.0f} MB")

    def _close(self) -> None:
        if self.dialog is not None:
            self.dialog.canceled.disconnect(self._cancel_download)
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = None
        self._cancel = None

    def _finished(self, folder: str) -> None:
        self._close()
        self.window.show_message(f"Model installed in {folder}")
        self.window.start_model()

    def _failed(self, reason: str) -> None:
        cancelled = self._cancel is not None and self._cancel.is_set()
        self._close()
        if cancelled:
            self.window.show_message("Download cancelled. Run it again to resume.")
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "The model could not be downloaded",
            f"The model could not be downloaded. Is this computer online?\n\n{reason}",
            parent=self.window,
        )
        box.setAccessibleName("Download failed")
        self.error_box = box
        box.open()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.window, "Choose the model folder", self.window.settings.model_folder()
        )
        if folder:
            self.window.use_model_folder(folder)
