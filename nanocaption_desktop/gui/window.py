"""The main window: drop area and caption on one page, folder batches on the other.

The window builds the widgets and wires them to the controllers, which own the state: the model
(``model_controller.py``), single images (``caption_controller.py``), folder batches
(``batch_controller.py``) and what comes in by drop, paste or Open (``input_controller.py``).
All work happens elsewhere: captions in the worker thread (``worker.py``), previews and
thumbnails in a loader thread (``imaging.py``), file writes in the task pool (``tasks.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QMainWindow,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .batch_controller import BatchController
from .batch_panel import BatchPanel
from .caption_controller import CaptionController
from .caption_panel import CaptionPanel
from .drop_area import DropArea, Dropped
from .geometry import PREFERRED, Rect, clamp_geometry, first_geometry
from .history import HistoryModel
from .history_panel import HistoryPanel
from .imaging import ImageLoader
from .input_controller import InputController
from .menus import build_menus
from .metadata_controller import MetadataController
from .model_controller import ModelController
from .model_panel import MissingModelPanel
from .model_picker import ModelPicker
from .results_model import THUMB, ResultsModel
from .settings import Settings
from .widgets import LiveLabel
from .window_drops import WindowDrops
from .worker import CaptionWorker
from .workspace_page import ReviewPage
from .workspace_script import start_script
from .workspace_session import use_cleanup

log = logging.getLogger(__name__)


def _rect(r: QRect) -> Rect:
    return (r.x(), r.y(), r.width(), r.height())


PREVIEW_SIDE = 1024


class MainWindow(QMainWindow):
    model_state_changed = Signal(str)  # loading | ready | missing
    caption_shown = Signal(str)  # the caption text now on screen
    caption_error_shown = Signal(str)  # a per-file error now on screen
    batch_progressed = Signal(object)  # BatchUpdate, once shown
    batch_done = Signal(object)  # BatchSummary
    drop_handled = Signal(object)  # SortedDrop: its captions or batch have been asked for

    def __init__(self, settings: Settings, worker: CaptionWorker, model_dir: str | None = None):
        super().__init__()
        self.settings = settings
        self.worker = worker
        self.setWindowTitle("NanoCaption")
        self.setAcceptDrops(True)
        self._quit_after_write = False
        self._build()
        self._compose(model_dir)
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
        self.tabs.addTab(page, "Ca&ption")

        self.thumbs = ImageLoader(THUMB, parent=self)
        self.previews = ImageLoader(PREVIEW_SIDE, limit=8, parent=self)
        self.results_model = ResultsModel(self.thumbs, self)
        self.batch_panel = BatchPanel(self.results_model)
        self.tabs.addTab(self.batch_panel, "Ba&tch")
        use_cleanup(self.settings.review_cleanup)
        self.review = ReviewPage(
            send=self._send_for_review,
            options=lambda: (
                self.caption_panel.chosen_beams(),
                self.caption_panel.chosen_max_tokens(),
            ),
            target=self.settings.review_write_to,
            dialog_parent=self,
        )
        self.tabs.addTab(self.review.panel, "Review")  # Ctrl+3 (every letter of it is taken)

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
        self.model_picker = ModelPicker()
        self.statusBar().addPermanentWidget(self.model_picker.label)
        self.statusBar().addPermanentWidget(self.model_picker)

    def _compose(self, model_dir: str | None) -> None:
        """The controllers, each given the widgets it drives; then the window's own signals."""
        self.model = ModelController(
            self.worker,
            self.settings,
            model_dir,
            left=self.left,
            drop_area=self.drop_area,
            missing_panel=self.missing_panel,
            label=self.model_label,
            busy=self.model_busy,
            dialog_parent=self,
        )
        self.captions = CaptionController(
            self.worker,
            self.model,
            self.settings,
            drop_area=self.drop_area,
            caption_panel=self.caption_panel,
            history_model=self.history_model,
            history_panel=self.history_panel,
            previews=self.previews,
            tabs=self.tabs,
            batch_running=lambda: self.batches.running(),
        )
        self.batches = BatchController(
            self.worker,
            self.model,
            self.settings,
            batch_panel=self.batch_panel,
            results_model=self.results_model,
            caption_panel=self.caption_panel,
            tabs=self.tabs,
        )
        self.inputs = InputController(
            self.captions,
            self.batches,
            self.settings,
            drop_area=self.drop_area,
            batch_panel=self.batch_panel,
            tabs=self.tabs,
            status=self.statusBar(),
            dialog_parent=self,
        )
        self.metadata = MetadataController(self.captions, self.caption_panel, dialog_parent=self)
        build_menus(
            self,
            model=self.model,
            inputs=self.inputs,
            captions=self.captions,
            batches=self.batches,
            history_panel=self.history_panel,
            tabs=self.tabs,
            review=self.review,
            save_to_photo=self.metadata.save,
        )
        self._compose_review()
        self.model.state_changed.connect(self.model_state_changed)
        self.model.state_changed.connect(self._model_state)
        self.model_picker.chosen.connect(self._pick_model)
        self.captions.caption_shown.connect(self.caption_shown)
        self.captions.caption_error_shown.connect(self.caption_error_shown)
        self.batches.progressed.connect(self.batch_progressed)
        self.batches.finished.connect(self.batch_done)
        self.inputs.drop_handled.connect(self.drop_handled)
        self.drops = WindowDrops(self, self.drop_area)
        self.drops.dropped.connect(self.inputs.handle_dropped)
        self.single_instance: object = None  # app.py's InstanceServer, when this window serves
        said_by = (self.model.message, self.captions.message, self.batches.message)
        for said in (*said_by, self.metadata.message):
            said.connect(self.show_message)
        self.history_panel.message.connect(self.show_message)
        self.history_panel.export_folder_chosen.connect(self.settings.set_last_export_folder)
        QShortcut(
            QKeySequence("Ctrl+Shift+C"),
            self,
            self.copy_caption,
            context=Qt.ShortcutContext.WindowShortcut,
        )

    def _compose_review(self) -> None:
        """The Review page hears every caption and batch result (``workspace_page.py``)."""
        review = self.review
        self.worker.caption_ready.connect(review.controller.caption_ready)
        self.worker.caption_ready.connect(review.photo_captioned)
        self.worker.batch_results.connect(review.batch_results)
        self.batches.started.connect(review.batch_started)
        self.caption_panel.edit.textChanged.connect(
            lambda: review.photo_edited(self.captions.current_path(), self.caption_panel.text())
        )
        review.opened.connect(lambda title: self.show_message(f"Workspace: {title}"))
        review.message.connect(self.show_message)
        start_script(self)

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
        b.write_metadata.setChecked(s.batch_write_metadata())
        self.history_panel.last_folder = s.last_export_folder()
        self._place(self.restoreGeometry(s.window_geometry()))
        self.restoreState(s.window_state())

    def _place(self, restored: bool) -> None:
        """A first window fits the screen's free area (any scaling); a remembered one is kept
        on the screens present (``geometry.py``)."""
        screens = [_rect(sc.availableGeometry()) for sc in QGuiApplication.screens()]
        primary = QGuiApplication.primaryScreen()
        if not screens or primary is None:
            self.resize(*PREFERRED)
            return
        home = _rect(primary.availableGeometry())
        if restored and not self.isMaximized() and not self.isFullScreen():
            placed = clamp_geometry(_rect(self.geometry()), screens, home)
        elif restored:
            return
        else:
            placed = first_geometry(home)
        self.setGeometry(QRect(*placed))

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
        s.set_batch_write_metadata(b.write_metadata.isChecked())
        s.sync()

    # ================================================================= model picker
    def _model_state(self, state: str) -> None:
        self.model_picker.setEnabled(state != "loading")
        if state == "ready" and self.model.info is not None:
            self.model_picker.refresh(Path(self.model.info.path))

    def _pick_model(self, name: str) -> None:
        if self.batches.running():
            self.show_message("Finish or cancel the batch before switching models")
            self.model_picker.refresh(Path(self.model.info.path) if self.model.info else None)
            return
        self.model.use_model(name)

    # ================================================================= one key, the page's meaning
    def on_caption_page(self) -> bool:
        return self.tabs.currentIndex() == 0

    def copy_caption(self) -> bool:
        """Ctrl+Shift+C: the caption on the page in front (the Caption page's, or the Review
        page's current image; the Batch page shows the Review page's)."""
        if self.on_caption_page():
            return self.caption_panel.copy_caption()
        return self.review.controller.copy_current()

    def save(self) -> None:
        """Ctrl+S, one binding: on the Caption page its caption into the photo ("Save to
        Photo"); elsewhere the Review page's approved captions to the chosen target (which
        covers the current image once it is approved)."""
        if self.on_caption_page():
            self.metadata.save()
        else:
            self.review.controller.write_approved()

    def regenerate(self) -> None:
        if self.on_caption_page():
            self.captions.regenerate()
        else:
            self.review.controller.regenerate()

    def cancel_work(self) -> None:
        """Esc: stop what runs (the Review page's captions, the batch)."""
        if not self.review.controller.cancel():
            self.batches.cancel()

    def _send_for_review(self, request: object) -> bool:
        if self.model.state != "ready":
            self.show_message("The model is not ready yet: try again when it has loaded.")
            return False
        self.worker.caption(request)  # type: ignore[arg-type]
        return True

    # ================================================================= misc
    def open_paths(self, paths: list[str]) -> None:
        """Files and folders from the command line or a later launch: open them here, and come
        to the front (a later launch's paths arrive while another window may be active)."""
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()
        if paths:
            self.inputs.handle_dropped(Dropped(paths=list(paths)))

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 6000)

    def _may_close(self) -> bool:
        """Approved captions not yet written: Write / Quit without writing / Cancel. The edits
        are in the store whatever the answer; Write quits once the writes are done."""
        if self._quit_after_write:
            return not self.review.controller.writing()
        answer = self.review.ask_before_quitting()
        if answer == "write":
            self._quit_after_write = True
            self.review.controller.written.connect(lambda *_: self.close())
            if not self.review.controller.write_approved():
                return True
            return False
        return answer == "quit"

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._may_close():
            event.ignore()
            return
        self.batches.stop()
        self.review.close()
        self._save()
        # gone at once: the wait below (for a model that is still loading, which the first
        # time also derives its optimized graphs: seconds) must not look like a frozen window
        self.hide()
        self.thumbs.close()
        self.previews.close()
        self.worker.shutdown()
        event.accept()
