"""The one drop handler of the window: files, folders and images dropped anywhere on it.

An event filter on the application sees every drag over the window's widgets (the Batch page,
the caption box, the history list, the drop area) before they do, so a drop means the same
wherever it lands: a folder starts a batch, files and image data get captions
(``input_controller.py`` decides). Text dragged into a text box (no files, no image) is left to
the text box.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from .drop_area import DropArea, can_accept, read_mime

_DRAGS = (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.DragLeave, QEvent.Type.Drop)


class WindowDrops(QObject):
    """Installed on the application for ``window``; ``dropped`` carries a ``Dropped``."""

    dropped = Signal(object)

    def __init__(self, window: QWidget, drop_area: DropArea) -> None:
        super().__init__(window)
        self.window, self.drop_area = window, drop_area
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        if kind not in _DRAGS or not isinstance(obj, QWidget) or obj.window() is not self.window:
            return False
        if kind == QEvent.Type.DragLeave:
            self.drop_area.set_dragging(False)
            return False
        assert isinstance(event, (QDragEnterEvent, QDragMoveEvent, QDropEvent))
        if not can_accept(event.mimeData()):
            return False  # plain text into a text box: the box's own business
        if kind != QEvent.Type.Drop:
            self.drop_area.set_dragging(True)
            event.acceptProposedAction()
            return True
        self.drop_area.set_dragging(False)
        what = read_mime(event.mimeData())
        if not what:
            event.ignore()
            return True
        event.acceptProposedAction()
        self.dropped.emit(what)
        return True
