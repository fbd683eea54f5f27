"""The big drop target: an invitation when empty, the image preview once something is dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QStackedLayout, QVBoxLayout, QWidget

#: A small image is shown at most this many times its own size (in device-independent pixels):
#: at its natural size, never blown up into blur.
MAX_UPSCALE = 1.0
PADDING = 12  # between the preview and the drop area's dashed border
IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff")


@dataclass
class Dropped:
    """What a drop or a paste carried: local paths, encoded image bytes or a decoded QImage."""

    paths: list[str] = field(default_factory=list)
    data: Any = None  # bytes or QImage
    remote: list[str] = field(default_factory=list)  # http(s) links we will not download

    def __bool__(self) -> bool:
        return bool(self.paths or self.data is not None or self.remote)


def read_mime(mime: QMimeData) -> Dropped:
    """Local files first (a file manager), then raw image bytes, then Qt's decoded image."""
    out = Dropped()
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                out.paths.append(url.toLocalFile())
            elif url.scheme() in ("http", "https"):
                out.remote.append(url.toString())
    if out.paths:
        return out
    for kind in IMAGE_MIME_TYPES:
        if mime.hasFormat(kind):
            raw = bytes(mime.data(kind).data())
            if raw:
                out.data = raw
                return out
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            out.data = image
    return out


def can_accept(mime: QMimeData) -> bool:
    return mime.hasUrls() or mime.hasImage() or any(mime.hasFormat(k) for k in IMAGE_MIME_TYPES)


class DropArea(QFrame):
    open_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropArea")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumSize(QSize(200, 160))
        self.setAccessibleName("Drop area")
        self.setAccessibleDescription("Drop images or folders here, or paste an image")
        self.setToolTip("Drop photos or a folder here, or paste an image with Ctrl+V")
        self._pixmap: QPixmap | None = None

        self._stack = QStackedLayout(self)
        self._stack.setContentsMargins(8, 8, 8, 8)
        invite = QWidget()
        invite_layout = QVBoxLayout(invite)
        invite_layout.addStretch(1)
        self._title = QLabel("Drop a photo here")
        self._title.setObjectName("dropTitle")
        self._title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._title.setWordWrap(True)  # a narrow window wraps it instead of cutting it off
        self._hint = QLabel("…or a folder to caption every image in it.\nPaste with Ctrl+V.")
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._hint.setWordWrap(True)
        self._open = QPushButton("Open image…")
        self._open.setAccessibleName("Open image")
        self._open.setToolTip("Choose image files to caption (Ctrl+O)")
        self._open.clicked.connect(self.open_requested)
        invite_layout.addWidget(self._title)
        invite_layout.addWidget(self._hint)
        invite_layout.addWidget(self._open, 0, Qt.AlignmentFlag.AlignHCenter)
        invite_layout.addStretch(1)
        self._stack.addWidget(invite)

        self._preview = QLabel()
        self._preview.setObjectName("preview")
        self._preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._preview.setMinimumSize(1, 1)
        self._preview.setAccessibleName("Image preview")
        self._preview.setToolTip("The image being captioned. Drop another to replace it")
        self._stack.addWidget(self._preview)

    # ---------------------------------------------------------------- preview
    def show_loading(self, name: str) -> None:
        self._pixmap = None
        self._preview.setPixmap(QPixmap())
        self._preview.setText(f"Opening {name}…")
        self._stack.setCurrentIndex(1)

    def show_message(self, text: str) -> None:
        self._pixmap = None
        self._preview.setPixmap(QPixmap())
        self._preview.setText(text)
        self._stack.setCurrentIndex(1)

    def show_image(self, image: QImage, description: str = "") -> None:
        self._pixmap = QPixmap.fromImage(image)
        self._preview.setAccessibleDescription(description)
        self._stack.setCurrentIndex(1)
        self._rescale()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None or self._pixmap.isNull():
            return
        size = self._preview.size() - QSize(2 * PADDING, 2 * PADDING)
        if size.width() < 2 or size.height() < 2:
            return
        ratio = self.devicePixelRatioF()
        # Fit the area, but never blow a small image up beyond MAX_UPSCALE times its own size: a
        # 64-pixel icon stretched over the whole area is only blur. Aspect ratio kept.
        box = size.boundedTo(self._pixmap.size() * MAX_UPSCALE)
        target = self._pixmap.size().scaled(box * ratio, Qt.AspectRatioMode.KeepAspectRatio)
        if target == self._pixmap.size():
            scaled = QPixmap(self._pixmap)
        else:
            scaled = self._pixmap.scaled(
                target,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        scaled.setDevicePixelRatio(ratio)
        self._preview.setPixmap(scaled)

    def shown_size(self) -> QSize:
        """The preview's size on screen, in device-independent pixels (tests, screenshots)."""
        pixmap = self._preview.pixmap()
        if pixmap is None or pixmap.isNull():
            return QSize()
        return pixmap.deviceIndependentSize().toSize()

    # ---------------------------------------------------------------- drag and drop
    def set_dragging(self, dragging: bool) -> None:
        """Highlight while files are dragged over the window (``window_drops.py`` handles the
        drop itself, wherever on the window it lands)."""
        if bool(self.property("dragging")) == dragging:
            return
        self.setProperty("dragging", dragging)
        self.style().unpolish(self)
        self.style().polish(self)
