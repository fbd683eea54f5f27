"""Alt text in the photos, from the window: "Save to photo" (Ctrl+S) and what a photo already says.

- When an image file is shown, ``read_descriptions`` runs in the task pool (a photo on a sleeping
  share must not freeze the window) and the description it already has is shown under the
  caption: "Already in the photo: …" (hidden when there is none, or for a pasted image).
- Save to photo writes the caption on screen, as edited, with ``write_alt_text`` in the task pool,
  and the status bar says where it went (into the photo, or the sidecar's path) or why not. A
  photo whose alt text a person wrote asks "Replace the existing description?" with that text
  shown; yes writes again with ``overwrite``.

The issue-15 workspace's Ctrl+S (approved captions) will take this over; until then this module
is the window's one writer of alt text, and the Batch page's "Write alt text into the photos"
option goes through ``BatchSpec.write_metadata`` (``batch_controller.spec``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from ..ground.errors import MetadataError
from .caption_controller import CaptionController
from .caption_panel import CaptionPanel
from .tasks import run_task
from .widgets import LiveLabel

log = logging.getLogger(__name__)

#: How much of an existing description the label and the question show.
SHOWN_CHARS = 300
PERSONS = "it has alt text written by a person"


def ask_replace(parent: QWidget, existing: str) -> bool:
    """The question before a person's description is replaced; True to replace it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Replace the existing description?")
    box.setText("Replace the existing description?")
    box.setInformativeText(f"This photo already has alt text written by a person:\n\n{existing}")
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    return box.exec() == QMessageBox.StandardButton.Yes


class MetadataController(QObject):
    """Save to photo, and the "Already in the photo" line of the caption panel."""

    message = Signal(str)  # for the status bar
    existing_shown = Signal(str)  # the label's text ("" when hidden), once a read has answered
    saved = Signal(object)  # the WriteResult of a save, or the MetadataError's text

    def __init__(
        self,
        captions: CaptionController,
        panel: CaptionPanel,
        *,
        dialog_parent: QWidget,
        ask: Callable[[QWidget, str], bool] = ask_replace,
    ) -> None:
        super().__init__(dialog_parent)
        self.captions, self.panel, self.parent_widget, self.ask = (
            captions,
            panel,
            dialog_parent,
            ask,
        )
        self.existing = LiveLabel("Description already in the photo")
        self.existing.setObjectName("existingDescription")
        self.existing.setWordWrap(True)
        self.existing.setToolTip("What the photo already says about itself (XMP, EXIF or IPTC)")
        self.existing.hide()
        panel.add_note(self.existing)
        self.button = QPushButton("Save to photo")
        self.button.setAccessibleName("Save caption to photo")
        self.button.setToolTip(
            "Write the caption into the photo as alt text (Ctrl+S); a photo that cannot hold "
            "it gets an XMP sidecar"
        )
        self.button.clicked.connect(self.save)
        panel.add_button(self.button)
        self._path = ""  # the file on screen, whose description the label shows
        self._person_text = ""  # a person's alt text in it (what a save would replace)
        captions.image_shown.connect(self.show_existing)

    # ---------------------------------------------------------------- what the photo says
    def show_existing(self, path: str) -> None:
        """Read ``path``'s descriptions off the GUI thread and show the winning one."""
        self._path, self._person_text = path, ""
        self.existing.hide()
        self.existing.setText("")
        if not path:
            return

        def answer(found: object) -> None:
            if path == self._path:
                self._show(found)

        def failed(reason: str) -> None:
            if path == self._path:
                log.info("descriptions of %s not read: %s", path, reason)
                self.existing_shown.emit("")

        run_task(lambda: _read(path), answer, failed)

    def _show(self, found: Any) -> None:
        winner = found.winner
        alt = next((f for f in found.fields if f.key == "alt_text"), None)
        self._person_text = alt.text if alt is not None and not alt.ours else ""
        if winner is None or winner.placeholder:
            self.existing.hide()
            self.existing_shown.emit("")
            return
        who = " (written by NanoCaption)" if winner.ours else ""
        text = f"Already in the photo{who}: {_short(winner.text)}"
        self.existing.setText(text)
        self.existing.setToolTip(f"{winner.tag}, from {winner.source}")
        self.existing.show()
        self.existing_shown.emit(text)

    # ---------------------------------------------------------------- save
    def save(self, *, overwrite: bool = False) -> None:
        """Write the caption on screen into the photo on screen (the task pool does it)."""
        path, text = self.captions.current_path(), self.panel.text().strip()
        if not path:
            self.message.emit("Open an image file first: a pasted image has no file to save into")
            return
        if not text:
            self.message.emit("No caption to save yet")
            return
        self.message.emit(f"Saving to {_name(path)}…")
        run_task(
            lambda: _write(path, text, overwrite),
            lambda result: self._saved(path, text, result),
            lambda reason: self._failed(path, reason),
        )

    def _saved(self, path: str, text: str, result: Any) -> None:
        if isinstance(result, str):  # a MetadataError, as text
            self._failed(path, result)
            return
        if result.skipped and result.skipped.startswith(PERSONS):
            existing = self._person_text if path == self._path else ""
            if self.ask(self.parent_widget, _short(existing or _persons_text(path))):
                self.save(overwrite=True)
            else:
                self.message.emit(f"Not saved: {_name(path)} keeps its own description")
            return
        self.message.emit(_said(path, result))
        self.saved.emit(result)
        if path == self._path:
            self.show_existing(path)  # the label follows what is in the photo now

    def _failed(self, path: str, reason: str) -> None:
        self.message.emit(f"Not saved: {reason}")
        self.saved.emit(reason)


def _read(path: str) -> Any:
    from ..metadata import read_descriptions

    return read_descriptions(path)


def _write(path: str, text: str, overwrite: bool) -> Any:
    from ..metadata import write_alt_text

    try:
        return write_alt_text(path, text, overwrite=overwrite)
    except MetadataError as e:
        return str(e)


def _persons_text(path: str) -> str:
    try:
        found = _read(path)
    except MetadataError:
        return ""
    return next((f.text for f in found.fields if f.key == "alt_text" and not f.ours), "")


def _name(path: str) -> str:
    from pathlib import Path

    return Path(path).name


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _said(path: str, result: Any) -> str:
    """The status bar's line for a finished save."""
    if result.skipped:
        return f"Not saved: {result.skipped}"
    if result.unchanged:
        return f"{_name(path)} already holds this caption"
    if result.where == "sidecar":
        return f"Saved to {result.sidecar} (this format holds no XMP inside)"
    if result.where == "file+sidecar":
        return f"Saved into {_name(path)} and {result.sidecar}"
    return f"Saved into {_name(path)} as alt text"
