"""Folder batches: start (or wait for the model), progress, the file being captioned, cancel."""

from __future__ import annotations

from itertools import count
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QTabWidget

from ..jobs.places import default_output_folder
from ..jobs.spec import BatchSpec
from ..jobs.writers import SidecarPolicy
from .batch_panel import BatchPanel
from .caption_panel import CaptionPanel
from .messages import BatchRequest, BatchSummary, BatchUpdate, Latest
from .model_controller import ModelController
from .results_model import ResultsModel
from .settings import Settings
from .tasks import run_task
from .worker import CaptionWorker


class BatchController(QObject):
    """Owns the running batch (at most one) and the one waiting for the model."""

    started = Signal(object)  # BatchRequest, sent to the worker
    progressed = Signal(object)  # BatchUpdate, once shown
    finished = Signal(object)  # BatchSummary
    folder_wanted = Signal()  # Start without a folder: ask the person for one
    message = Signal(str)  # for the status bar

    def __init__(
        self,
        worker: CaptionWorker,
        model: ModelController,
        settings: Settings,
        *,
        batch_panel: BatchPanel,
        results_model: ResultsModel,
        caption_panel: CaptionPanel,  # its beam and length options apply to batches too
        tabs: QTabWidget,
    ) -> None:
        super().__init__(tabs)
        self.worker, self.model, self.settings = worker, model, settings
        self.panel, self.caption_panel, self.tabs = batch_panel, caption_panel, tabs
        self._ids = count(1)
        self._batch: BatchRequest | None = None
        self._pending: BatchRequest | None = None
        model.state_changed.connect(self._model_state)
        worker.batch_progress.connect(self._progress)
        worker.batch_file_started.connect(self._file_started)
        worker.batch_results.connect(results_model.append)
        worker.batch_finished.connect(self._finished)
        batch_panel.start_requested.connect(self.start)
        batch_panel.cancel_requested.connect(self.cancel)
        batch_panel.folder.textChanged.connect(self._folder_changed)

    def running(self) -> bool:
        return self._batch is not None

    def start(self) -> None:
        if self._batch is not None:
            self.message.emit("A batch is already running.")
            return
        folder = self.panel.folder_path()
        if not folder:
            self.folder_wanted.emit()
            return
        if not self.panel.knows_output_of(folder):  # not looked at yet: one access() call
            self.panel.set_auto_output(folder, str(default_output_folder(folder)))
        request = BatchRequest(next(self._ids), self.spec())
        self.settings.set_batch_last_folder(folder)
        self.tabs.setCurrentWidget(self.panel)
        if self.model.state != "ready":
            self._pending = request
            self.panel.counts.setText("Waiting for the model…")
            return
        self._send(request)

    def spec(self) -> BatchSpec:
        """The batch the panels ask for now. The window's worker decodes in its own process
        pool, so the batch is isolated as on the command line."""
        p, options = self.panel, self.caption_panel
        csv, jsonl, policy = p.csv_path(), p.jsonl_path(), p.sidecar_policy()
        return BatchSpec(
            p.folder_path(),
            recursive=p.recursive.isChecked(),
            csv=Path(csv) if csv else None,
            jsonl=Path(jsonl) if jsonl else None,
            sidecars=None if policy == "off" else SidecarPolicy(policy),
            resume=p.resume.isChecked(),
            beams=options.chosen_beams(),
            max_new_tokens=options.chosen_max_tokens(),
            isolate=True,
            write_metadata=p.write_metadata.isChecked(),
        )

    def _folder_changed(self, folder: str) -> None:
        """Where this folder's results would go, looked up off the GUI thread (a sleeping
        share must not freeze typing) and said on the page when it is not the folder."""
        folder = folder.strip()
        if not folder:
            self.panel.set_auto_output("", "")
            return

        def answer(output: object) -> None:
            self.panel.set_auto_output(folder, str(output))

        run_task(lambda: default_output_folder(folder), answer, lambda _reason: None)

    def cancel(self) -> None:
        if self._batch is not None:
            self._batch.cancel.set()
            self.panel.counts.setText("Cancelling…")
            self.panel.cancel.setEnabled(False)
        elif self._pending is not None:
            self._pending = None
            self.panel.counts.setText("Cancelled.")

    def stop(self) -> None:
        """The window closes: stop the running batch (its finished images are written)."""
        if self._batch is not None:
            self._batch.cancel.set()

    def _model_state(self, state: str) -> None:
        if state == "ready" and self._pending is not None:
            request, self._pending = self._pending, None
            self._send(request)

    def _send(self, request: BatchRequest) -> None:
        self._batch = request
        self.panel.batch_started(request.spec.folder, self.panel.output_folder())
        self.worker.run_batch(request)
        self.started.emit(request)

    def _progress(self, progress: BatchUpdate) -> None:
        if self._batch is None or progress.id != self._batch.id:
            return
        self.panel.show_progress(progress)
        self.progressed.emit(progress)

    def _file_started(self, box: Latest) -> None:
        started = box.take()
        if started is None or self._batch is None or started.id != self._batch.id:
            return
        self.panel.show_current(started.path)

    def _finished(self, summary: BatchSummary) -> None:
        if self._batch is None or summary.id != self._batch.id:
            return
        self._batch = None
        self.panel.batch_finished(summary)
        self.finished.emit(summary)
