"""What comes into the window: drops, pastes, Open dialogs.

Whether a dropped path is a folder (a batch) or a file (one caption) is asked off the GUI
thread: ``os.path.isdir`` on a sleeping network share or a dead mount can take seconds, and the
window must not freeze meanwhile. ``PathSorter`` answers on a short-lived daemon thread per drop
(one stuck path holds up only its own drop); a drop answered after a newer one has been shown is
captioned into the history but does not replace what is on screen.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QStatusBar, QTabWidget, QWidget

from .batch_controller import BatchController
from .batch_panel import BatchPanel
from .caption_controller import CaptionController
from .drop_area import DropArea, Dropped, read_mime
from .settings import Settings

log = logging.getLogger(__name__)

IMAGE_FILTER = (
    "Images (*.jpg *.jpeg *.png *.webp *.gif *.bmp *.tif *.tiff *.heic *.avif);;All files (*)"
)


@dataclass(frozen=True)
class SortedDrop:
    """A drop whose paths have been looked at: ``folders`` start a batch, ``files`` a caption."""

    seq: int
    what: Dropped
    folders: tuple[str, ...]
    files: tuple[str, ...]


def sort_paths(paths: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``paths`` into (folders, files), keeping their order. Touches the disk."""
    folders: list[str] = []
    files: list[str] = []
    for path in paths:
        try:
            is_folder = os.path.isdir(path)
        except (OSError, ValueError):  # a name the system rejects: a per-file error later
            is_folder = False
        (folders if is_folder else files).append(path)
    return tuple(folders), tuple(files)


class PathSorter(QObject):
    """Sorts dropped paths into folders and files on a daemon thread; answers with ``sorted``."""

    sorted = Signal(object)  # SortedDrop

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._seq = count(1)

    def sort(self, what: Dropped) -> int:
        seq = next(self._seq)
        if not what.paths:  # nothing to look at on disk: answer at once (still queued)
            self._answer(seq, what, (), ())
            return seq

        def run() -> None:
            folders, files = sort_paths(list(what.paths))
            self._answer(seq, what, folders, files)

        threading.Thread(target=run, name="nanocaption-sort-drop", daemon=True).start()
        return seq

    def _answer(self, seq: int, what: Dropped, folders: tuple, files: tuple) -> None:
        try:
            self.sorted.emit(SortedDrop(seq, what, folders, files))
        except RuntimeError:  # the window (and this object) went away meanwhile
            log.debug("drop %d sorted after the window closed", seq)


class InputController(QObject):
    """Routes what comes in: a folder starts a batch, files and image data get a caption each."""

    drop_handled = Signal(object)  # SortedDrop: its captions or batch have been asked for

    def __init__(
        self,
        captions: CaptionController,
        batches: BatchController,
        settings: Settings,
        *,
        drop_area: DropArea,
        batch_panel: BatchPanel,
        tabs: QTabWidget,
        status: QStatusBar,
        dialog_parent: QWidget,
    ) -> None:
        super().__init__(dialog_parent)
        self.captions, self.batches, self.settings = captions, batches, settings
        self.batch_panel, self.tabs, self.status = batch_panel, tabs, status
        self.dialog_parent = dialog_parent
        self.path_sorter = PathSorter(self)
        self.path_sorter.sorted.connect(self._sorted)
        self._shown_drop = 0  # the newest drop whose first image went on screen
        drop_area.open_requested.connect(self.open_files)
        batches.folder_wanted.connect(self.open_folder)

    def handle_dropped(self, what: Dropped) -> None:
        """A drop, paste or Open: look at the paths off the GUI thread, then act on them."""
        self.path_sorter.sort(what)
        if what.paths:
            self.status.showMessage(f"Opening {_name(what.paths[0])}…", 2000)

    def _sorted(self, drop: SortedDrop) -> None:
        if self.status.currentMessage().startswith("Opening "):
            self.status.clearMessage()
        what = drop.what
        if drop.folders:
            self.batch_panel.set_folder(drop.folders[0])
            self.tabs.setCurrentWidget(self.batch_panel)
            self.batches.start()
            if len(drop.folders) > 1:
                self._say("One folder at a time: captioning the first one.")
        show = drop.seq > self._shown_drop  # an older drop answered late stays in the history
        for number, path in enumerate(drop.files):
            self.captions.caption_source(path, _name(path), show=show and number == 0)
        if what.data is not None:
            self.captions.caption_source(what.data, "Pasted image", show=show)
        if show and (drop.files or what.data is not None):
            self._shown_drop = drop.seq
        if what.remote and not what.paths and what.data is None:
            self._say(
                "That is a web link. NanoCaption works offline: drag the image "
                "itself, or save it and drop the file."
            )
        self.drop_handled.emit(drop)

    def paste(self) -> None:
        what = read_mime(QGuiApplication.clipboard().mimeData())
        if what:
            self.handle_dropped(what)
        else:
            self._say("The clipboard holds no image or file.")

    def open_files(self) -> None:
        start = self.settings.last_open_folder() or str(Path.home())
        paths, _ = QFileDialog.getOpenFileNames(
            self.dialog_parent, "Open images", start, IMAGE_FILTER
        )
        if paths:
            self.settings.set_last_open_folder(str(Path(paths[0]).parent))
            self.handle_dropped(Dropped(paths=paths))

    def open_folder(self) -> None:
        start = self.batch_panel.folder_path() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self.dialog_parent, "Caption a folder", start)
        if folder:
            self.handle_dropped(Dropped(paths=[folder]))

    def _say(self, text: str) -> None:
        self.status.showMessage(text, 6000)


def _name(path: str) -> str:
    return os.path.basename(path.rstrip("/\\")) or path
