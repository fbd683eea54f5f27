"""Light and dark palettes following the system colour scheme (or the user's choice)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_ROLES = QPalette.ColorRole

DARK = {
    _ROLES.Window: "#202124",
    _ROLES.WindowText: "#e8eaed",
    _ROLES.Base: "#17181a",
    _ROLES.AlternateBase: "#26282b",
    _ROLES.ToolTipBase: "#303134",
    _ROLES.ToolTipText: "#e8eaed",
    _ROLES.PlaceholderText: "#9aa0a6",
    _ROLES.Text: "#e8eaed",
    _ROLES.Button: "#2d2f33",
    _ROLES.ButtonText: "#e8eaed",
    _ROLES.BrightText: "#ff6b6b",
    _ROLES.Highlight: "#5b8def",
    _ROLES.HighlightedText: "#ffffff",
    _ROLES.Link: "#8ab4f8",
    _ROLES.Light: "#3c4043",
    _ROLES.Midlight: "#34363a",
    _ROLES.Mid: "#2a2c30",
    _ROLES.Dark: "#111214",
    _ROLES.Shadow: "#000000",
}
LIGHT = {
    _ROLES.Window: "#f5f6f8",
    _ROLES.WindowText: "#1f2328",
    _ROLES.Base: "#ffffff",
    _ROLES.AlternateBase: "#f0f2f5",
    _ROLES.ToolTipBase: "#ffffdc",
    _ROLES.ToolTipText: "#1f2328",
    _ROLES.PlaceholderText: "#6e7781",
    _ROLES.Text: "#1f2328",
    _ROLES.Button: "#eef0f3",
    _ROLES.ButtonText: "#1f2328",
    _ROLES.BrightText: "#cf222e",
    _ROLES.Highlight: "#2f6fde",
    _ROLES.HighlightedText: "#ffffff",
    _ROLES.Link: "#0969da",
    _ROLES.Light: "#ffffff",
    _ROLES.Midlight: "#e4e7eb",
    _ROLES.Mid: "#c9ced6",
    _ROLES.Dark: "#8c959f",
    _ROLES.Shadow: "#57606a",
}

STYLE = """
#dropArea { border: 2px dashed %(border)s; border-radius: 12px; background: palette(base); }
#dropArea[dragging="true"] { border: 2px solid palette(highlight); }
#missingModel { border: 2px solid %(border)s; border-radius: 12px; background: palette(base); }
#missingModel QScrollArea, #missingModel QScrollArea > QWidget, #missingModelContent {
    background: transparent; }
#dropTitle { font-size: 20pt; font-weight: 600; }
#sectionTitle { font-weight: 600; }
#copiedLabel { color: %(ok)s; font-weight: 600; }
#copiedLabel[notice="true"], #notice { color: %(warn)s; font-weight: normal; }
#captionStatus { color: palette(placeholder-text); }
QLabel[warning="true"] { color: %(warn)s; }
#detail { color: palette(placeholder-text); }
"""


def failure_colour() -> QColor:
    """The text colour of a failed file (with a "Failed:" word and an icon: never colour alone),
    readable on the current palette."""
    app = QApplication.instance()
    dark = isinstance(app, QApplication) and app.palette().window().color().lightness() < 128
    return QColor("#ff8a80" if dark else "#b3261e")


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None and hints.colorScheme() != Qt.ColorScheme.Unknown:
        return hints.colorScheme() == Qt.ColorScheme.Dark
    window = QGuiApplication.palette().color(_ROLES.Window)
    return window.lightness() < 128


def apply(app: QApplication, appearance: str = "system") -> bool:
    """Apply the palette for ``appearance`` (system | light | dark). Returns True when dark."""
    dark = system_is_dark() if appearance == "system" else appearance == "dark"
    app.setStyle("Fusion")  # the same look on every platform, and palettes that apply fully
    colours = DARK if dark else LIGHT
    palette = QPalette()
    for role, value in colours.items():
        palette.setColor(role, QColor(value))
    # Disabled text stays legible (about 4.5:1 on the window colour in dark, 3.5:1 in light)
    # while still plainly dimmer than enabled text.
    disabled = QColor("#8b9097") if dark else QColor("#7d848c")
    for role in (_ROLES.WindowText, _ROLES.Text, _ROLES.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    app.setPalette(palette)
    ok, warn = ("#7ee2a8", "#f0b45a") if dark else ("#1a7f37", "#9a6700")
    border = "#6b7078" if dark else "#b4bac3"
    app.setStyleSheet(STYLE % {"ok": ok, "warn": warn, "border": border})
    return dark


def follow_system(app: QApplication, appearance_getter) -> None:  # type: ignore[no-untyped-def]
    """Re-apply when the desktop switches between light and dark."""
    hints = QGuiApplication.styleHints()
    signal = getattr(hints, "colorSchemeChanged", None)
    if signal is not None:
        signal.connect(lambda *_: apply(app, appearance_getter()))
