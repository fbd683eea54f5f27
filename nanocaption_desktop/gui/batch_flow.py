"""The folder-batch flow of the main window: start, progress, cancel, finish (a mixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .messages import BatchRequest, Latest

if TYPE_CHECKING:
    from .window import MainWindow

    _Base = MainWindow
else:
    _Base = object


class BatchFlow(_Base):
    def start_batch(self) -> None:
        if self._batch is not None:
            self.show_message("A batch is already running.")
            return
        folder = self.batch_panel.folder_path()
        if not folder:
            self.open_folder()
            return
        b = self.batch_panel
        request = BatchRequest(
            next(self._ids),
            folder,
            b.recursive.isChecked(),
            b.csv_path(),
            b.jsonl_path(),
            b.sidecar_policy(),
            b.resume.isChecked(),
            self.caption_panel.chosen_beams(),
            self.caption_panel.chosen_max_tokens(),
        )
        self.settings.set_batch_last_folder(folder)
        self.tabs.setCurrentWidget(self.batch_panel)
        if self.model_state != "ready":
            self._pending_batch = request
            self.batch_panel.counts.setText("Waiting for the model…")
            return
        self._send_batch(request)

    def _send_batch(self, request: BatchRequest) -> None:
        self._batch = request
        self.batch_panel.batch_started(request.folder)
        self.service.run_batch(request)

    def _batch_progress(self, progress: object) -> None:
        if self._batch is None or getattr(progress, "id", None) != self._batch.id:
            return
        self.batch_panel.show_progress(progress)  # type: ignore[arg-type]
        self.batch_progressed.emit(progress)

    def _batch_file_started(self, box: object) -> None:
        started = box.take() if isinstance(box, Latest) else None
        if started is None or self._batch is None or started.id != self._batch.id:
            return
        self.batch_panel.show_current(started.path)

    def cancel_batch(self) -> None:
        if self._batch is not None:
            self._batch.cancel.set()
            self.batch_panel.counts.setText("Cancelling…")
            self.batch_panel.cancel.setEnabled(False)
        elif self._pending_batch is not None:
            self._pending_batch = None
            self.batch_panel.counts.setText("Cancelled.")

    def batch_running(self) -> bool:
        return self._batch is not None

    def _batch_finished(self, summary: object) -> None:
        if self._batch is None or getattr(summary, "id", None) != self._batch.id:
            return
        self._batch = None
        self.batch_panel.batch_finished(summary)  # type: ignore[arg-type]
        self.batch_done.emit(summary)
