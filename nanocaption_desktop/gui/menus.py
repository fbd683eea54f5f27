"""The menu bar and the window-wide shortcuts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication

from .dialogs import AboutDialog, SettingsDialog, ShortcutsDialog

if TYPE_CHECKING:
    from .window import MainWindow


def _action(
    window: MainWindow, text: str, slot, shortcut: str | None = None, tip: str = ""
) -> QAction:  # type: ignore[no-untyped-def]
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(tip or text.replace("&", "").rstrip("…"))
    action.setStatusTip(action.toolTip())
    action.triggered.connect(lambda *_: slot())
    window.addAction(action)  # shortcuts work even when the menu bar is hidden
    return action


def build_menus(window: MainWindow) -> None:
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(
        _action(
            window, "&Open Images…", window.open_files, "Ctrl+O", "Choose image files to caption"
        )
    )
    file_menu.addAction(
        _action(
            window,
            "Open &Folder…",
            window.open_folder,
            "Ctrl+Shift+O",
            "Caption every image in a folder",
        )
    )
    file_menu.addAction(
        _action(
            window,
            "&Export History…",
            window.history_panel._export,
            "Ctrl+E",
            "Save this session's captions",
        )
    )
    file_menu.addSeparator()
    file_menu.addAction(_action(window, "&Quit", window.close, "Ctrl+Q", "Quit NanoCaption"))

    edit_menu = bar.addMenu("&Edit")
    edit_menu.addAction(
        _action(
            window,
            "&Paste Image",
            window.paste,
            "Ctrl+V",
            "Caption the image or files on the clipboard",
        )
    )
    edit_menu.addAction(
        _action(
            window,
            "&Copy Caption",
            window.caption_panel.copy_caption,
            None,
            "Copy the caption (Ctrl+Shift+C)",
        )
    )
    edit_menu.addAction(
        _action(
            window,
            "&Regenerate Caption",
            window.regenerate,
            "Ctrl+R",
            "Caption the image again with the chosen options",
        )
    )
    edit_menu.addSeparator()
    edit_menu.addAction(
        _action(
            window,
            "&Settings…",
            lambda: open_settings(window),
            "Ctrl+,",
            "Model folder and appearance",
        )
    )

    view_menu = bar.addMenu("&View")
    view_menu.addAction(
        _action(window, "&Caption Page", lambda: window.tabs.setCurrentIndex(0), "Ctrl+1")
    )
    view_menu.addAction(
        _action(window, "&Batch Page", lambda: window.tabs.setCurrentIndex(1), "Ctrl+2")
    )

    batch_menu = bar.addMenu("&Batch")
    batch_menu.addAction(_action(window, "&Start Batch", window.start_batch, "Ctrl+Return"))
    batch_menu.addAction(
        _action(window, "&Cancel Batch", window.cancel_batch, "Esc", "Stop the running batch")
    )

    help_menu = bar.addMenu("&Help")
    help_menu.addAction(
        _action(window, "&Keyboard Shortcuts", lambda: ShortcutsDialog(window).exec(), "F1")
    )
    help_menu.addAction(_action(window, "&About NanoCaption", lambda: about(window)))


def about(window: MainWindow) -> None:
    info = window.model_info
    AboutDialog(info.name if info else "", info.path if info else "", window).exec()


def open_settings(window: MainWindow) -> None:
    from . import theme

    dialog = SettingsDialog(window.settings.model_folder(), window.settings.appearance(), window)
    if not dialog.exec():
        return
    appearance = dialog.chosen_appearance()
    if appearance != window.settings.appearance():
        window.settings.set_appearance(appearance)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, appearance)
    folder = dialog.chosen_folder()
    if folder != window.settings.model_folder() and not window.batch_running():
        window.use_model_folder(folder)
