"""A scripted control for crash tests: ``NANOCAPTION_REVIEW_SCRIPT=FILE`` makes the window
read JSON lines from FILE as they are appended and act on them through the same code a person's
keys use (the editor's text, the table's current row):

    {"open": "/photos"}                          open the folder's workspace
    {"edit": "/photos/a.jpg", "text": "A cat"}   make it current and type the text
    {"approve": "/photos/a.jpg"}                 make it current and approve (Ctrl+Enter)
    {"dump": "/tmp/out.json"}                    the page's items, {path: [state, text]}

Each line done is acknowledged by appending its number to ``FILE.done`` (so a test knows
when an edit was made, then kills the app). Unset, nothing is read and no timer runs.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)
ENV = "NANOCAPTION_REVIEW_SCRIPT"
POLL_MS = 50


class ReviewScript(QObject):
    def __init__(self, window: Any, path: str) -> None:
        super().__init__(window)
        self.window, self.path = window, path
        self._offset = 0
        self._done = 0
        self._waiting: dict[str, Any] | None = None  # a command for a folder still opening
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()

    def _poll(self) -> None:
        if self._waiting is not None and not self._run(self._waiting):
            return
        self._waiting = None
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            command = json.loads(line)
            if not self._run(command):
                self._waiting = command
                return

    def _run(self, command: dict[str, Any]) -> bool:
        review = self.window.review
        if "open" in command:
            review.open_folder(command["open"])
            self.window.tabs.setCurrentWidget(review.panel)
            self._ack()
            return True
        if "dump" in command:
            if review.model.rowCount() == 0:
                return False  # the workspace is still opening
            shown = {i.path: [i.state.value, i.text] for i in review.model.items()}
            with open(command["dump"], "w", encoding="utf-8") as f:
                json.dump(shown, f)
            self._ack()
            return True
        path = os.path.realpath(command.get("edit") or command.get("approve") or "")
        row = review.model.row_of(path)
        if row is None:
            return False  # its workspace is still opening: try again on the next tick
        review.controller.select_row(row)
        if "edit" in command:
            review.controller.edit()
            review.panel.editor.setPlainText(command["text"])
        else:
            review.controller.approve_and_next()
        self._ack()
        return True

    def _ack(self) -> None:
        self._done += 1
        with open(self.path + ".done", "a", encoding="utf-8") as f:
            f.write(f"{self._done}\n")


def start_script(window: Any) -> ReviewScript | None:
    path = os.environ.get(ENV)
    return ReviewScript(window, path) if path else None
