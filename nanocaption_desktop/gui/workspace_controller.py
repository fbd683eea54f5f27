"""The review workspace's behaviour: the current image, editing with undo, approve, regenerate,
alternatives, bulk actions, writing, and every change handed to the store at once.

The records and their rules (states, alternatives, where the store lives) are the workspace
layer's (``review/``, reached through ``workspace_session.ReviewSession``); this controller
turns keys and clicks into new records, pushes them on the undo stack and shows them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from itertools import count
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QObject, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QUndoStack
from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget

from ..review.model import is_flagged
from ..review.targets import Outcome, Target, WriteOptions, WriteReport, unwritten_ids, write_items
from .messages import BatchRow, CaptionOutcome, CaptionRequest
from .tasks import run_task
from .workspace_model import ITEM_ROLE, WorkspaceModel, state_of
from .workspace_panel import WorkspacePanel
from .workspace_session import ReviewSession
from .workspace_undo import RecordsCommand, TypingCommand

BURST_PAUSE = 2.0  # seconds without typing that end an edit burst (one undo step)
FIRST_ID = 1 << 40  # our caption requests' ids: never one of the caption page's


class WorkspaceController(QObject):
    message = Signal(str)
    changed = Signal(object)  # a record now current (after any change, undo included)
    current_changed = Signal(str)  # the current image's path ("" for none)

    written = Signal(int, int)  # captions written, failed

    def __init__(
        self,
        model: WorkspaceModel,
        panel: WorkspacePanel,
        *,
        send: Callable[[CaptionRequest], bool],
        options: Callable[[], tuple[int | None, int | None]],
        target: Callable[[], str],
        dialog_parent: QWidget,
    ) -> None:
        super().__init__(panel)
        self.store = ReviewSession()
        self.model, self.panel, self._target = model, panel, target
        self._writing = 0
        self._send, self._options, self._parent = send, options, dialog_parent
        self.undo_stack = QUndoStack(self)
        self._ids = count(FIRST_ID)
        self._requests: dict[int, CaptionRequest] = {}
        self._current = ""
        self._burst = 0
        self._last_key = 0.0
        self._showing = False
        table = panel.table
        table.selectionModel().currentRowChanged.connect(self._row_changed)
        panel.editor.textChanged.connect(self._typed)
        panel.picked.connect(self.pick_alternative)
        panel.approve.clicked.connect(self.approve_and_next)
        panel.regenerate.clicked.connect(self.regenerate)
        panel.next_flagged.clicked.connect(self.next_flagged)
        panel.approve_visible.clicked.connect(self.approve_visible)
        panel.replace.clicked.connect(self.find_and_replace)
        panel.retry.clicked.connect(self.retry_failed)
        panel.write.clicked.connect(self.write_approved)
        self._counts = QTimer(self)  # the tally, at most every 300 ms (not per keystroke)
        self._counts.setSingleShot(True)
        self._counts.setInterval(300)
        self._counts.timeout.connect(self._update_counts)
        for changed in (model.modelReset, model.rowsInserted, model.dataChanged):
            changed.connect(lambda *_: self._counts.start())

    # ================================================================= opening
    def show(self, session: ReviewSession) -> None:
        """Show this workspace (a folder's, or the session's photos); its undo history starts
        empty (what was done before is in the store, not undoable across workspaces)."""
        self.store = session
        self.undo_stack.clear()
        self._current = ""
        self.model.reset(session.root, session.items())
        if self.model.rowCount():
            self.select_row(0)
        else:
            self.panel.show_item("", None)

    def current_item(self) -> Any | None:
        return self.model.item_of(self._current) if self._current else None

    # ================================================================= records in, records out
    def apply(self, records: Mapping[str, Any]) -> None:
        """Make these records current: the store first (saved within a second), then the view."""
        for record in records.values():
            self.store.put(record)
            self.model.put(record)
            self.changed.emit(record)
        if self._current in records:
            self._show_current()

    def _change(self, text: str, after: Mapping[str, Any]) -> None:
        before = {path: self.model.item_of(path) for path in after}
        before = {p: r for p, r in before.items() if r is not None}
        self._burst += 1  # anything but typing ends an edit burst
        self.undo_stack.push(RecordsCommand(text, self.apply, before, after))

    def add_results(self, rows: list[BatchRow]) -> None:
        """A batch's results: new captions come in; an image already reviewed keeps its text
        and gets the new caption as an alternative (the store decides)."""
        records = [
            self.store.model_result(r.path, r.caption, r.score, r.error, r.identity) for r in rows
        ]
        self.model.put_many(records)
        if not self._current and self.model.rowCount():
            self.select_row(0)
        elif any(r.path == self._current for r in records):
            self._show_current()

    def caption_ready(self, outcome: CaptionOutcome) -> None:
        request = self._requests.pop(outcome.id, None)
        if request is None or outcome.cancelled:
            return
        self._report(request, outcome)
        path = str(request.source)
        before = self.model.item_of(path)
        after = self.store.regenerated(
            path,
            outcome.text,
            outcome.score,
            outcome.error or "",
            others=outcome.alternatives,
            identity=outcome.identity,
        )
        if before is None:
            self.apply({path: after})
            return
        # undoing a regenerate brings the old text back and keeps the new one as an alternative
        undone = self.store.with_alternative(before, after.text) if after.text else before
        self._burst += 1
        command = RecordsCommand("Regenerate", self.apply, {path: undone}, {path: after})
        self.undo_stack.push(command)

    def _report(self, request: CaptionRequest, outcome: CaptionOutcome) -> None:
        """The status line says what came back ("Captioning…" does not stay once it has)."""
        if self._requests:
            self.message.emit(f"Captioning {len(self._requests)} image(s) again…")
        elif outcome.error:
            self.message.emit(f"{request.name}: {outcome.error}")
        else:
            more = len(outcome.alternatives)
            offered = f"; {more} other beam caption(s) to pick from" if more else ""
            self.message.emit(f"Captioned {request.name} again{offered}.")

    # ================================================================= the current image
    def select_row(self, source_row: int) -> None:
        proxy_index = self.panel.proxy.mapFromSource(self.model.index(source_row, 1))
        if proxy_index.isValid():
            self.panel.table.selectionModel().setCurrentIndex(
                proxy_index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        item = current.data(ITEM_ROLE) if current.isValid() else None
        self._current = item.path if item is not None else ""
        self._burst += 1
        self._show_current()
        self.current_changed.emit(self._current)

    def _show_current(self) -> None:
        item = self.current_item()
        self._showing = True
        try:
            name = self.model.display_name(item.path) if item is not None else ""
            self.panel.show_item(name, item)
        finally:
            self._showing = False

    def _typed(self) -> None:
        item = self.current_item()
        if self._showing or item is None:
            return
        text = self.panel.editor.toPlainText()
        if text == item.text:
            return
        now = time.monotonic()
        if now - self._last_key > BURST_PAUSE:
            self._burst += 1
        self._last_key = now
        after = self.store.edited(item, text)
        self.store.put(after)
        self.model.put(after)
        self.changed.emit(after)
        self.panel.show_item(self.model.display_name(item.path), after)
        self.undo_stack.push(TypingCommand(self.apply, item.path, item, after, self._burst))

    def edit(self) -> None:
        """F2: the caption editor, all its text selected."""
        if self.current_item() is None and self.model.rowCount():
            self.select_row(0)
        self.panel.editor.setFocus()
        self.panel.editor.selectAll()

    # ================================================================= review actions
    def approve_and_next(self) -> None:
        item = self.current_item()
        if item is None:
            self.message.emit("Nothing to approve: open a folder or drop photos first.")
            return
        if state_of(item) == "failed":
            self.message.emit(f"{self.model.display_name(item.path)}: nothing to approve yet.")
            return
        if state_of(item) not in ("approved", "written"):
            self._change("Approve", {item.path: self.store.approved(item)})
        self._go_to(lambda it: state_of(it) not in ("approved", "written"), "not approved")

    def next_flagged(self) -> None:
        self._go_to(is_flagged, "flagged")

    def _go_to(self, wanted: Callable[[Any], bool], what: str) -> None:
        proxy, table = self.panel.proxy, self.panel.table
        rows = proxy.rowCount()
        start = table.currentIndex().row()
        for step in range(1, rows + 1):
            row = (start + step) % rows if rows else 0
            item = proxy.index(row, 1).data(ITEM_ROLE)
            if item is not None and wanted(item) and item.path != self._current:
                # not table.setCurrentIndex: with Ctrl still held (Ctrl+Enter) the view would
                # add the row to the selection instead of moving it
                table.selectionModel().setCurrentIndex(
                    proxy.index(row, 1),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
                table.scrollTo(proxy.index(row, 1))
                return
        self.message.emit(f"No other image is {what}.")

    def pick_alternative(self, text: str) -> None:
        item = self.current_item()
        if item is not None and text != item.text:
            self._change("Pick a caption", {item.path: self.store.picked(item, text)})

    def regenerate(self, paths: list[str] | None = None) -> int:
        """Caption the current image (or these) again; the old text stays as an alternative."""
        targets = paths if paths is not None else ([self._current] if self._current else [])
        beams, max_new_tokens = self._options()
        for path in targets:
            name = self.model.display_name(path)
            request = CaptionRequest(
                next(self._ids), path, name, beams, max_new_tokens, identity=True
            )
            if not self._send(request):
                return 0
            self._requests[request.id] = request
        if targets:
            self.message.emit(f"Captioning {len(targets)} image(s) again…")
        else:
            self.message.emit("Choose an image to caption again.")
        return len(targets)

    def busy(self) -> bool:
        return bool(self._requests)

    def cancel(self) -> bool:
        """Esc: stop the captions asked for here; True when there were any."""
        if not self._requests:
            return False
        for request in self._requests.values():
            request.cancel.set()
        self._requests.clear()
        self.message.emit("Cancelled.")
        return True

    def approve_visible(self) -> None:
        proxy = self.panel.proxy
        after = {}
        for row in range(proxy.rowCount()):
            item = proxy.index(row, 1).data(ITEM_ROLE)
            if item is not None and state_of(item) in ("captioned", "edited") and item.text:
                after[item.path] = self.store.approved(item)
        if after:
            self._change(f"Approve {len(after)} images", after)
        self.message.emit(f"Approved {len(after)} image(s).")

    def selected_items(self) -> list[Any]:
        rows = self.panel.table.selectionModel().selectedRows(1)
        return [i.data(ITEM_ROLE) for i in rows if i.data(ITEM_ROLE) is not None]

    def replace_in_selected(self, find: str, replace: str) -> int:
        after = {}
        for item in self.selected_items():
            if find and find in item.text:
                after[item.path] = self.store.edited(item, item.text.replace(find, replace))
        if after:
            self._change(f"Replace in {len(after)} captions", after)
        return len(after)

    def find_and_replace(self) -> None:
        find, ok = QInputDialog.getText(self._parent, "Find and replace", "Find in the selected:")
        if not ok or not find:
            return
        replace, ok = QInputDialog.getText(
            self._parent, "Find and replace", f"Replace {find!r} with:"
        )
        if ok:
            self.message.emit(f"Replaced in {self.replace_in_selected(find, replace)} caption(s).")

    def retry_failed(self) -> int:
        failed = [it.path for it in self.model.items() if state_of(it) == "failed"]
        if not failed:
            self.message.emit("No failed images.")
            return 0
        return self.regenerate(failed)

    def copy_current(self) -> bool:
        item = self.current_item()
        if item is None or not item.text:
            self.message.emit("No caption to copy.")
            return False
        clipboard = QGuiApplication.clipboard()
        if clipboard is None:
            return False
        clipboard.setText(item.text)
        self.message.emit("Copied.")
        return True

    def _update_counts(self, *_args: object) -> None:
        tally: dict[str, int] = {}
        for item in self.model.items():
            tally[state_of(item)] = tally.get(state_of(item), 0) + 1
        shown = ", ".join(f"{n} {state}" for state, n in sorted(tally.items()))
        self.panel.counts.setText(shown or "empty")

    # ================================================================= writing
    def write_approved(self, overwrite: frozenset[str] = frozenset()) -> int:
        """Ctrl+S: every approved, unwritten caption to the target chosen in Settings, off the
        GUI thread (``review.targets.write_items``); how many were sent. A photo holding a
        person's own alt text is asked about first; an image edited while the write ran keeps
        the edit (its new state is not overwritten by the write's)."""
        live = self.store.live
        if live is None or not unwritten_ids(live.workspace):
            self.message.emit("No approved captions to write: approve some first (Ctrl+Enter).")
            return 0
        ws = live.workspace  # a frozen snapshot: safe to read from the task's thread
        ids = unwritten_ids(ws)
        options = WriteOptions(targets=(Target(self._target()),), overwrite=overwrite)
        self._writing += 1
        self.message.emit(f"Writing {len(ids)} caption(s)…")
        run_task(lambda: write_items(ws, ids, options), self._wrote, self._write_failed)
        return len(ids)

    def writing(self) -> bool:
        return self._writing > 0

    def _wrote(self, report: object) -> None:
        self._writing -= 1
        if not isinstance(report, WriteReport):
            return
        done = {}
        for item in report.items:
            now = self.store.get(item.path)
            if now is not None and now.text == item.text and state_of(now) == "approved":
                done[item.path] = item
        if done:
            self.apply(done)  # not undoable: the photos hold the text now
        failed = [o for o in report.outcomes if o.outcome is Outcome.FAILED]
        ask = report.by_outcome(Outcome.ASK)
        tail = f"; {len(failed)} not written: {failed[0].message}" if failed else ""
        self.message.emit(f"Wrote {len(done)} caption(s){tail}")
        if ask and self._may_replace(len(ask)):
            self.write_approved(frozenset(ask))
            return
        self.written.emit(len(done), len(failed) + len(ask))

    def _may_replace(self, count: int) -> bool:
        answer = QMessageBox.question(
            self._parent,
            "Replace a description?",
            f"{count} photo(s) already hold a description someone wrote. Replace it with the "
            "approved caption?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def _write_failed(self, reason: str) -> None:
        self._writing -= 1
        self.message.emit(f"Nothing written: {reason}")
        self.written.emit(0, 1)
