"""Small label classes shared by the panels."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class LiveLabel(QLabel):
    """A label whose text changes (status, counts): a screen reader hears what it says.

    A plain ``QLabel`` given an accessible name reports only that name, never its text; this one
    reports ``"<role>: <text>"`` (just the role while it is empty).
    """

    def __init__(self, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAccessibleName(role)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override)
        super().setText(text)
        self._announce(text)

    def _announce(self, text: str) -> None:
        self.setAccessibleName(f"{self.role}: {text}" if text else self.role)


class ElidedLabel(LiveLabel):
    """One line that shortens in the middle (…) to fit: a long path never widens the window."""

    def __init__(self, role: str, parent: QWidget | None = None) -> None:
        super().__init__(role, parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._announce(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        metrics = self.fontMetrics()
        elided = metrics.elidedText(self._full, Qt.TextElideMode.ElideMiddle, self.width())
        QLabel.setText(self, elided)
