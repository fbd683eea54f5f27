"""The model's state in the window: loading, ready or missing; download it or choose a folder."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QStackedWidget,
    QWidget,
)

from .drop_area import DropArea
from .messages import FetchProgress, ModelInfo, ModelProblem
from .model_panel import MissingModelPanel
from .settings import Settings
from .worker import CaptionWorker

LOADING = "Loading model…"
PREPARING = "Preparing the model for this computer (only this once, a few seconds)…"


class ModelController(QObject):
    """Owns the model state; shows it in the status bar and on the left of the Caption page."""

    state_changed = Signal(str)  # loading | ready | missing
    message = Signal(str)  # for the status bar

    def __init__(
        self,
        worker: CaptionWorker,
        settings: Settings,
        model_dir: str | None,
        *,
        left: QStackedWidget,
        drop_area: DropArea,
        missing_panel: MissingModelPanel,
        label: QLabel,
        busy: QProgressBar,
        dialog_parent: QWidget,
    ) -> None:
        super().__init__(dialog_parent)
        self.worker = worker
        self.settings = settings
        self.model_dir = model_dir
        self.left, self.drop_area, self.missing_panel = left, drop_area, missing_panel
        self.label, self.busy = label, busy
        self.dialog_parent = dialog_parent
        self.state = "loading"
        self.info: ModelInfo | None = None
        self.busy_text = LOADING  # what the caption panel says while loading
        self.dialog: QProgressDialog | None = None
        self.error_box: QMessageBox | None = None
        self._cancel: threading.Event | None = None
        worker.model_loading.connect(self._loading)
        worker.model_preparing.connect(self._preparing)
        worker.model_loaded.connect(self._loaded)
        worker.model_missing.connect(self._missing)
        worker.fetch_progress.connect(self._fetch_progress)
        worker.fetch_finished.connect(self._fetch_finished)
        worker.fetch_failed.connect(self._fetch_failed)
        missing_panel.download_requested.connect(self.download)
        missing_panel.choose_requested.connect(self.choose_folder)

    # ================================================================= state
    def start(self) -> None:
        """Ask the worker to load the model (call once the window is on screen)."""
        self._set_state("loading", "Loading model…")
        self.worker.set_max_megapixels(self.settings.max_megapixels())  # before the load
        self.worker.load_model(self.model_dir or self.settings.model_folder() or None)

    def use_model(self, name: str) -> None:
        """Switch to the installed model ``name`` and make it the default (``models use``): the
        worker loads it in place of the current one, no restart."""
        from ..ground.errors import ModelError
        from ..modelstore.installed import set_default_model

        try:
            set_default_model(name)
        except (ModelError, OSError) as e:
            self.message.emit(f"Cannot use {name}: {e}")
            return
        self.settings.set_model_folder("")
        self.model_dir = None
        self.start()

    def use_folder(self, folder: str) -> None:
        self.settings.set_model_folder(folder)
        self.model_dir = None
        self.start()

    def _set_state(self, state: str, label: str, busy: str = LOADING) -> None:
        self.state = state
        self.busy_text = busy
        self.label.setText(label)
        self.busy.setVisible(state == "loading")
        self.left.setCurrentWidget(self.missing_panel if state == "missing" else self.drop_area)
        self.state_changed.emit(state)

    def _loading(self, where: str) -> None:
        self._set_state("loading", "Loading model…")
        self.label.setToolTip(f"Loading the model from {where}")

    def _preparing(self, where: str) -> None:
        self._set_state("loading", "Preparing model…", PREPARING)
        self.label.setToolTip(f"Deriving the optimized graphs of the model in {where}")

    def _loaded(self, info: ModelInfo) -> None:
        self.info = info
        # Everything alive now (Qt, numpy, onnxruntime, the model) lives as long as the app: keep
        # it out of the cyclic GC, whose full passes otherwise stall the GUI thread 70-170 ms.
        gc.freeze()
        self.label.setToolTip(f"{info.name} from {info.path}, loaded in {info.seconds:.1f} s")
        self._set_state("ready", f"Model: {info.name}")

    def _missing(self, problem: ModelProblem) -> None:
        self.info = None
        self.missing_panel.show_problem(problem)
        self._set_state("missing", "No model")

    # ================================================================= download
    def download(self) -> None:
        if self.dialog is not None:
            return
        dialog = QProgressDialog(
            "Downloading the captioning model…", "Cancel", 0, 0, self.dialog_parent
        )
        dialog.setWindowTitle("Download model")
        dialog.setAccessibleName("Model download progress")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(self._cancel_download)
        self.dialog = dialog
        dialog.show()
        self._cancel = self.worker.fetch_model()

    def _cancel_download(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        if self.dialog is not None:
            self.dialog.setLabelText("Cancelling…")

    def _fetch_progress(self, p: FetchProgress) -> None:
        if self.dialog is None:
            return
        mb = p.done / 1e6
        if p.total:
            self.dialog.setRange(0, 1000)
            self.dialog.setValue(int(1000 * p.done / p.total))
            self.dialog.setLabelText(f"Downloading the model… {mb:.0f} of {p.total / 1e6:.0f} MB")
        else:
            self.dialog.setLabelText(f"Downloading the model… {mb:.0f} MB")

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.canceled.disconnect(self._cancel_download)
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = None
        self._cancel = None

    def _fetch_finished(self, folder: str) -> None:
        self._close_dialog()
        self.message.emit(f"Model installed in {folder}")
        self.start()

    def _fetch_failed(self, reason: str) -> None:
        cancelled = self._cancel is not None and self._cancel.is_set()
        self._close_dialog()
        if cancelled:
            self.message.emit("Download cancelled. Run it again to resume.")
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "The model could not be downloaded",
            f"The model could not be downloaded. Is this computer online?\n\n{reason}",
            parent=self.dialog_parent,
        )
        box.setAccessibleName("Download failed")
        self.error_box = box
        box.open()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.dialog_parent, "Choose the model folder", self.settings.model_folder()
        )
        if folder:
            self.use_folder(folder)
