"""Helpers shared by the GUI tests: fixture paths, a window factory, real drops, image folders."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_IMAGES = ROOT / "tests" / "fixtures" / "images"
PHOTO = FIXTURE_IMAGES / "sun_and_grass.jpg"


def make_window(qtbot, settings, model_dir: str | None = None, worker=None):
    from nanocaption_desktop.gui.window import MainWindow
    from nanocaption_desktop.gui.worker import CaptionWorker

    worker = worker or CaptionWorker()
    worker.start()
    window = MainWindow(settings, worker, model_dir)
    qtbot.addWidget(window, before_close_func=lambda w: w.close())
    window.resize(1000, 700)
    window.show()
    return window


def drop_urls(widget, paths: list[Path]) -> None:
    """A real drag enter + drop, as a file manager sends them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    drop_mime(widget, mime)


def drop_mime(widget, mime: QMimeData) -> None:
    centre = widget.rect().center()
    enter = QDragEnterEvent(
        centre,  # QPoint (QDropEvent below takes a QPointF)
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(centre),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted()


def image_folder(folder: Path, copies: int = 1, with_junk: bool = True) -> Path:
    """A folder of fixture images (``copies`` of each) and, optionally, a file that is no image."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(copies):
        for image in sorted(FIXTURE_IMAGES.iterdir()):
            shutil.copy(image, folder / f"{image.stem}_{n:03d}{image.suffix}")
    if with_junk:
        (folder / "notes.jpg").write_text("this is not an image\n")
    return folder
