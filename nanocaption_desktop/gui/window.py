"""The main window: drop area and caption on one page, folder batches on the other.

All work happens elsewhere: captions in the worker thread (``service.py``), previews and
thumbnails in a loader thread (``imaging.py``), file writes in the task pool (``tasks.py``).
"""

from __future__ import annotations

import gc
import logging
from itertools import count

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QMainWindow,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .batch_flow import BatchFlow
from .batch_panel import BatchPanel
from .caption_flow import CaptionFlow
from .caption_panel import CaptionPanel
from .drop_area import DropArea
from .history import HistoryModel
from .history_panel import HistoryPanel
from .imaging import ImageLoader
from .input_flow import InputFlow
from .menus import build_menus
from .messages import BatchRequest, CaptionRequest, ModelInfo, ModelProblem
from .model_panel import MissingModelPanel
from .model_setup import ModelSetup
from .results_model import THUMB, ResultsModel
from .service import CaptionService
from .settings import Settings
from .widgets import LiveLabel

log = logging.getLogger(__name__)

PREVIEW_SIDE = 1024


class MainWindow(CaptionFlow, BatchFlow, InputFlow, QMainWindow):
    model_state_changed = Signal(str)  # loading | ready | missing
    caption_shown = Signal(str)  # the caption text now on screen
    caption_error_shown = Signal(str)  # a per-file error now on screen
    batch_progressed = Signal(object)  # BatchProgress, once shown
    batch_done = Signal(object)  # BatchSummary
    drop_handled = Signal(object)  # SortedDrop: its captions or batch have been asked for

    def __init__(self, settings: Settings, service: CaptionService, model_dir: str | None = None):
        super().__init__()
        self.settings = settings
        self.service = service
        self.model_dir = model_dir
        self.model_state = "loading"
        self.model_info: ModelInfo | None = None
        self._ids = count(1)
        self._pending: list[CaptionRequest] = []
        self._pending_batch: BatchRequest | None = None
        self._batch: BatchRequest | None = None
        self._request_key: dict[int, int] = {}  # request id -> history key
        self._latest: dict[int, CaptionRequest] = {}  # history key -> newest request
        self._shown_key: int | None = None
        self.setWindowTitle("NanoCaption")
        self.setAcceptDrops(True)
        self._build()
        self._init_input()
        self._connect()
        build_menus(self)
        self._restore()

    # ================================================================= layout
    def _build(self) -> None:
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Pages")
        self.tabs.setToolTip("Caption single images, or a whole folder (Ctrl+1, Ctrl+2)")
        self.setCentralWidget(self.tabs)

        self.drop_area = DropArea()
        self.missing_panel = MissingModelPanel()
        self.left = QStackedWidget()
        self.left.addWidget(self.drop_area)
        self.left.addWidget(self.missing_panel)
        self.caption_panel = CaptionPanel()
        self.history_model = HistoryModel(self)
        self.history_panel = HistoryPanel(self.history_model)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_splitter = QSplitter(Qt.Orientation.Vertical)
        right_splitter.addWidget(self.caption_panel)
        right_splitter.addWidget(self.history_panel)
        right_splitter.setStretchFactor(0, 0)  # the caption panel at its size; history the rest
        right_splitter.setStretchFactor(1, 1)
        right_splitter.setChildrenCollapsible(False)
        right_layout.addWidget(right_splitter)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([600, 400])  # proportions: the same split whatever the contents
        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.addWidget(self.splitter)
        self.tabs.addTab(page, "&Caption")

        self.thumbs = ImageLoader(THUMB, parent=self)
        self.previews = ImageLoader(PREVIEW_SIDE, limit=8, parent=self)
        self.results_model = ResultsModel(self.thumbs, self)
        self.batch_panel = BatchPanel(self.results_model)
        self.tabs.addTab(self.batch_panel, "&Batch")

        self.model_label = LiveLabel("Model status")
        self.model_label.setText("Loading model…")
        self.model_label.setToolTip("The captioning model and its state")
        self.model_busy = QProgressBar()
        self.model_busy.setRange(0, 0)
        self.model_busy.setMaximumWidth(90)
        self.model_busy.setAccessibleName("Model loading")
        self.model_busy.setToolTip("The model is loading")
        self.statusBar().addPermanentWidget(self.model_busy)
        self.statusBar().addPermanentWidget(self.model_label)
        self.model_setup = ModelSetup(self)

    def _connect(self) -> None:
        w = self.service.worker
        w.model_loading.connect(self._model_loading)
        w.model_preparing.connect(self._model_preparing)
        w.model_loaded.connect(self._model_loaded)
        w.model_missing.connect(self._model_missing)
        w.caption_ready.connect(self._caption_ready)
        w.batch_progress.connect(self._batch_progress)
        w.batch_file_started.connect(self._batch_file_started)
        w.batch_results.connect(self.results_model.append)
        w.batch_finished.connect(self._batch_finished)
        w.worker_error.connect(self.show_message)
        self.drop_area.dropped.connect(self.handle_dropped)
        self.drop_area.open_requested.connect(self.open_files)
        self.missing_panel.download_requested.connect(self.model_setup.download)
        self.missing_panel.choose_requested.connect(self.model_setup.choose_folder)
        self.previews.image_ready.connect(self._preview_ready)
        self.previews.image_failed.connect(self._preview_failed)
        self.caption_panel.regenerate_requested.connect(self.regenerate)
        self.caption_panel.options_changed.connect(self._options_changed)
        self.caption_panel.auto_copy_changed.connect(self.settings.set_auto_copy)
        self.caption_panel.edit.textChanged.connect(self._caption_edited)
        self.history_panel.entry_selected.connect(self.show_entry)
        self.history_panel.message.connect(self.show_message)
        self.history_panel.export_folder_chosen.connect(self.settings.set_last_export_folder)
        self.batch_panel.start_requested.connect(self.start_batch)
        self.batch_panel.cancel_requested.connect(self.cancel_batch)
        QShortcut(
            QKeySequence("Ctrl+Shift+C"),
            self,
            self.caption_panel.copy_caption,
            context=Qt.ShortcutContext.WindowShortcut,
        )

    def _restore(self) -> None:
        s = self.settings
        self.caption_panel.set_options(s.beams(), s.max_new_tokens())
        self.caption_panel.auto_copy.setChecked(s.auto_copy())
        b = self.batch_panel
        b.set_folder(s.batch_last_folder())
        b.recursive.setChecked(s.batch_recursive())
        b.csv.setChecked(s.batch_write_csv())
        b.jsonl.setChecked(s.batch_write_jsonl())
        b.set_sidecar_policy(s.batch_sidecars())
        b.resume.setChecked(s.batch_resume())
        self.history_panel.last_folder = s.last_export_folder()
        if not self.restoreGeometry(s.window_geometry()):
            self.resize(1180, 760)
        self.restoreState(s.window_state())

    def _save(self) -> None:
        s = self.settings
        s.set_window_geometry(self.saveGeometry())
        s.set_window_state(self.saveState())
        b = self.batch_panel
        s.set_batch_last_folder(b.folder_path())
        s.set_batch_recursive(b.recursive.isChecked())
        s.set_batch_write_csv(b.csv.isChecked())
        s.set_batch_write_jsonl(b.jsonl.isChecked())
        s.set_batch_sidecars(b.sidecar_policy())
        s.set_batch_resume(b.resume.isChecked())
        s.sync()

    # ================================================================= model state
    def start_model(self) -> None:
        """Ask the worker to load the model (call once the window is on screen)."""
        self._set_state("loading", "Loading model…")
        self.service.load_model(self.model_dir or self.settings.model_folder() or None)

    def _set_state(self, state: str, label: str, busy: str = "Loading model…") -> None:
        self.model_state = state
        self.model_label.setText(label)
        self.model_busy.setVisible(state == "loading")
        self.left.setCurrentWidget(self.missing_panel if state == "missing" else self.drop_area)
        # nothing can caption without a model (while loading, a request waits for it instead)
        self.caption_panel.regenerate.setEnabled(state != "missing")
        if state == "loading":
            waiting = len(self._pending)
            extra = f" {waiting} image(s) waiting." if waiting else ""
            self.caption_panel.set_busy(
                f"{busy} images you drop now are captioned as soon as it is ready.{extra}"
            )
        self.model_state_changed.emit(state)

    def _model_loading(self, where: str) -> None:
        self._set_state("loading", "Loading model…")
        self.model_label.setToolTip(f"Loading the model from {where}")

    def _model_preparing(self, where: str) -> None:
        self._set_state(
            "loading",
            "Preparing model…",
            "Preparing the model for this computer (only this once, a few seconds)…",
        )
        self.model_label.setToolTip(f"Deriving the optimized graphs of the model in {where}")

    def _model_loaded(self, info: ModelInfo) -> None:
        self.model_info = info
        # Everything alive now (Qt, numpy, onnxruntime, the model) lives as long as the app: keep
        # it out of the cyclic GC, whose full passes otherwise stall the GUI thread 70-170 ms.
        gc.freeze()
        self._set_state("ready", f"Model: {info.name}")
        self.model_label.setToolTip(f"{info.name} from {info.path}, loaded in {info.seconds:.1f} s")
        self.caption_panel.set_token_limit(info.max_new_tokens)
        self.caption_panel.set_busy("" if self._pending else "Ready. Drop a photo to caption it.")
        pending, self._pending = self._pending, []
        for request in pending:
            self.service.caption(request)
        if self._pending_batch is not None:
            batch, self._pending_batch = self._pending_batch, None
            self._send_batch(batch)

    def _model_missing(self, problem: ModelProblem) -> None:
        self.model_info = None
        self.missing_panel.show_problem(problem)
        self._set_state("missing", "No model")
        self.caption_panel.set_busy("Install or choose the model to start captioning.")

    def use_model_folder(self, folder: str) -> None:
        self.settings.set_model_folder(folder)
        self.model_dir = None
        self.start_model()

    # ================================================================= misc
    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 6000)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._batch is not None:
            self._batch.cancel.set()
        self._save()
        # gone at once: the wait below (for a model that is still loading, which the first
        # time also derives its optimized graphs: seconds) must not look like a frozen window
        self.hide()
        self.thumbs.close()
        self.previews.close()
        self.service.shutdown()
        event.accept()
