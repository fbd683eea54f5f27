"""The Review page and the workspaces behind it: which one is open, where results go, Recent,
and the question on quitting.

Two workspaces can be alive at once: the folder's (a dropped or opened folder, its batch's
results) and the session's (photos dropped one by one, captioned on the Caption page). The page
shows one of them; results for the other are still saved to its store at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from ..review import live as rl
from ..review import recent
from .imaging import ImageLoader
from .messages import BatchRequest, BatchRow, CaptionOutcome, CaptionRequest
from .tasks import run_task
from .workspace_controller import FIRST_ID, WorkspaceController
from .workspace_model import THUMB, WorkspaceModel
from .workspace_panel import WorkspacePanel
from .workspace_session import ReviewSession

log = logging.getLogger(__name__)


class ReviewPage(QObject):
    opened = Signal(str)  # a workspace is on the page (its title)
    message = Signal(str)

    def __init__(
        self,
        *,
        send: Callable[[CaptionRequest], bool],
        options: Callable[[], tuple[int | None, int | None]],
        target: Callable[[], str],
        dialog_parent: QWidget,
    ) -> None:
        super().__init__(dialog_parent)
        self.thumbs = ImageLoader(THUMB, parent=self)
        self.model = WorkspaceModel(self.thumbs, self)
        self.panel = WorkspacePanel(self.model)
        self.controller = WorkspaceController(
            self.model,
            self.panel,
            send=send,
            options=options,
            target=target,
            dialog_parent=dialog_parent,
        )
        self.controller.message.connect(self.message)
        self._parent = dialog_parent
        self.folder: ReviewSession | None = None
        self.photos: ReviewSession | None = None
        self._opening = ""  # the folder being opened (off the GUI thread)
        self._waiting_rows: list[BatchRow] = []  # its batch's results that came first
        self._batch_root = ""  # the running batch's folder

    # ================================================================= opening
    def open_folder(self, folder: str, *, then: Callable[[], None] | None = None) -> None:
        real = os.path.realpath(folder)
        if self.folder is not None and self.folder.root == real:
            self._show(self.folder)
            return
        self._opening = real
        self._waiting_rows = []

        def opened(session: object) -> None:
            if self._opening != real or not isinstance(session, ReviewSession):
                if isinstance(session, ReviewSession):
                    session.close()
                return
            self._opening = ""
            if self.folder is not None:
                self.folder.close()
            self.folder = session
            self._show(self.folder)
            rows, self._waiting_rows = self._waiting_rows, []
            if rows:
                self.controller.add_results(rows)
            if then is not None:
                then()

        def failed(reason: str) -> None:
            if self._opening == real:
                self._opening = ""
            self.message.emit(f"{folder}: the workspace could not be opened: {reason}")

        # scan, store read and the path index off the GUI thread (10,000 images: ~1 s)
        run_task(lambda: ReviewSession(rl.open_folder(real)), opened, failed)

    def open_session(self, session_id: str | None = None) -> ReviewSession:
        """The session's workspace of dropped photos (a new one, or an earlier one by id)."""
        if self.photos is not None and (session_id is None or self.photos.id == session_id):
            return self.photos
        if self.photos is not None:
            self.photos.close()
        self.photos = ReviewSession(rl.open_session(session_id))
        return self.photos

    def open_recent(self, entry: recent.RecentEntry) -> None:
        if entry.kind == "folder" and entry.root:
            self.open_folder(entry.root)
        else:
            try:
                self._show(self.open_session(entry.id))
            except (OSError, ValueError) as e:
                self.message.emit(f"{entry.title}: could not be reopened: {e}")

    def _show(self, session: ReviewSession) -> None:
        if self.controller.store is not session:
            self.controller.show(session)
        self.opened.emit(session.title)

    def fill_recent(self, menu: QMenu) -> None:
        menu.clear()
        entries = recent.load_recent()
        if not entries:
            menu.addAction("No recent workspaces").setEnabled(False)
        for entry in entries:
            label = f"{entry.title} ({entry.count} images)"
            action = menu.addAction(label)
            action.setToolTip(entry.root or entry.store)
            action.triggered.connect(lambda *_, e=entry: self.open_recent(e))

    # ================================================================= results coming in
    def batch_started(self, request: BatchRequest) -> None:
        """The folder's workspace opens with its first results (a workspace's store is made
        when there is something to keep: a batch cancelled at once leaves no file behind)."""
        self._batch_root = os.path.realpath(request.spec.folder)

    def batch_results(self, rows: list[BatchRow]) -> None:
        rows = [r for r in rows if r.caption or r.error]  # a skipped row carries nothing
        folder = self.folder
        root = self._batch_root
        if rows and root and not self._opening and (folder is None or folder.root != root):
            self.open_folder(root)
        if self._opening and rows and _inside(rows[0].path, self._opening):
            self._waiting_rows.extend(rows)
        elif folder is not None and rows and _inside(rows[0].path, folder.root):
            if self.controller.store is folder:
                self.controller.add_results(rows)
            else:
                for r in rows:
                    folder.model_result(r.path, r.caption, r.score, r.error)

    def photo_captioned(self, outcome: CaptionOutcome) -> None:
        """A caption from the Caption page: the photo joins the session's workspace."""
        if outcome.id >= FIRST_ID or outcome.cancelled or not isinstance(outcome.source, str):
            return
        if not os.path.isfile(outcome.source):
            return
        try:
            photos = self.open_session()
            photos.add_files([outcome.source])
        except (OSError, ValueError) as e:
            self.message.emit(f"{outcome.name}: not kept in the workspace: {e}")
            return
        item = photos.model_result(outcome.source, outcome.text, outcome.score, outcome.error or "")
        if self.controller.store is photos:
            self.model.put(item)
        elif self.controller.store.live is None:
            self._show(photos)

    def photo_edited(self, path: str, text: str) -> None:
        """The Caption page's text box changed: a person's text is kept like any edit."""
        photos = self.photos
        item = photos.get(path) if photos is not None else None
        if photos is None or item is None or item.text == text or not text.strip():
            return
        after = photos.edited(item, text)
        photos.put(after)
        if self.controller.store is photos:
            self.controller.apply({after.path: after})

    # ================================================================= quitting
    def unwritten(self) -> int:
        return sum(len(s.unwritten()) for s in (self.folder, self.photos) if s is not None)

    def ask_before_quitting(self) -> str:
        """ "write", "quit" or "cancel". Asked only when approved captions are not written;
        the edits themselves are in the store either way."""
        count = self.unwritten()
        if not count:
            return "quit"
        box = QMessageBox(self._parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Approved captions not written")
        box.setText(f"{count} approved caption(s) are not written to the photos yet.")
        box.setInformativeText("Your edits are saved either way; only the writing waits.")
        write = box.addButton("&Write", QMessageBox.ButtonRole.AcceptRole)
        quit_ = box.addButton("&Quit without writing", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton("&Cancel", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(write)
        box.setEscapeButton(cancel)
        self.quit_box = box  # tests and the screenshot script answer it
        box.exec()
        clicked = box.clickedButton()
        return "write" if clicked is write else "quit" if clicked is quit_ else "cancel"

    def close(self) -> None:
        for session in (self.folder, self.photos):
            if session is not None:
                session.close()  # flushed: every change on disk
        self.folder = self.photos = None
        self.thumbs.close()


def _inside(path: str, root: str) -> bool:
    try:
        rel = os.path.relpath(os.path.realpath(path), root)
    except ValueError:
        return False
    return not rel.startswith("..")
