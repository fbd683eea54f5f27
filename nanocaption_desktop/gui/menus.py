"""The menu bar and its window-wide shortcuts (the F1 list in ``dialogs.SHORTCUTS`` names them)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu, QTabWidget

from .batch_controller import BatchController
from .caption_controller import CaptionController
from .dialogs import AboutDialog, SettingsDialog, ShortcutsDialog
from .history_panel import HistoryPanel
from .input_controller import InputController
from .model_controller import ModelController
from .workspace_page import ReviewPage


def _action(
    window: QMainWindow,
    text: str,
    slot: Callable[[], object],
    shortcut: str | None = None,
    tip: str = "",
) -> QAction:
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(tip or text.replace("&", "").rstrip("…"))
    action.setStatusTip(action.toolTip())
    action.triggered.connect(lambda *_: slot())
    window.addAction(action)  # shortcuts work even when the menu bar is hidden
    return action


def _add_menu(window: QMainWindow, name: str, actions: tuple[QAction | QMenu | None, ...]) -> None:
    menu = window.menuBar().addMenu(name)
    for action in actions:
        if action is None:
            menu.addSeparator()
        elif isinstance(action, QMenu):
            menu.addMenu(action)
        else:
            menu.addAction(action)


def build_menus(
    window: QMainWindow,
    *,
    model: ModelController,
    inputs: InputController,
    captions: CaptionController,
    batches: BatchController,
    history_panel: HistoryPanel,
    tabs: QTabWidget,
    review: ReviewPage,
    save_to_photo: Callable[[], object],
) -> None:
    def add(menu_name: str, *actions: QAction | QMenu | None) -> None:
        _add_menu(window, menu_name, actions)

    def act(
        text: str, slot: Callable[[], object], key: str | None = None, tip: str = ""
    ) -> QAction:
        return _action(window, text, slot, key, tip)

    add(
        "&File",
        act("&Open Images…", inputs.open_files, "Ctrl+O", "Choose image files to caption"),
        act("Open &Folder…", inputs.open_folder, "Ctrl+Shift+O", "Caption every image in a folder"),
        recent_menu(window, review),
        act(
            "&Export History…",
            history_panel.export_history,
            "Ctrl+E",
            "Save this session's captions",
        ),
        None,
        act("&Quit", window.close, "Ctrl+Q", "Quit NanoCaption"),
    )
    add(
        "&Edit",
        act("&Paste Image", inputs.paste, "Ctrl+V", "Caption the image or files on the clipboard"),
        act(
            "&Copy Caption",
            getattr(window, "copy_caption", captions.panel.copy_caption),
            None,
            "Copy the caption (Ctrl+Shift+C)",
        ),
        act("Save to P&hoto", save_to_photo, None, "Write the caption into the photo (Ctrl+S)"),
        act(
            "&Regenerate Caption",
            getattr(window, "regenerate", captions.regenerate),
            "Ctrl+R",
            "Caption the image again with the chosen options",
        ),
        None,
        act(
            "&Settings…",
            lambda: open_settings(window, model, batches),
            "Ctrl+,",
            "Model folder, appearance, largest image, where Ctrl+S writes",
        ),
    )
    add(
        "&View",
        act("&Caption Page", lambda: tabs.setCurrentIndex(0), "Ctrl+1"),
        act("&Batch Page", lambda: tabs.setCurrentIndex(1), "Ctrl+2"),
        act("&Review Page", lambda: tabs.setCurrentWidget(review.panel), "Ctrl+3"),
    )
    add(
        "&Batch",
        act("&Start Batch", batches.start, "Ctrl+B"),
        act(
            "&Cancel",
            getattr(window, "cancel_work", batches.cancel),
            "Esc",
            "Stop the running batch or captions",
        ),
    )
    add("Review", *review_actions(window, review, tabs))  # no mnemonic: r, e, v, i, w are taken
    add(
        "&Help",
        act("&Keyboard Shortcuts", lambda: ShortcutsDialog(window).exec(), "F1"),
        act("&About NanoCaption", lambda: about(window, model)),
    )


def about(window: QMainWindow, model: ModelController) -> None:
    info = model.info
    AboutDialog(info.name if info else "", info.path if info else "", window).exec()


def open_settings(window: QMainWindow, model: ModelController, batches: BatchController) -> None:
    from . import theme

    settings = model.settings
    dialog = SettingsDialog(
        settings.model_folder(),
        settings.appearance(),
        window,
        max_megapixels=settings.max_megapixels(),
        write_to=settings.review_write_to(),
        cleanup=settings.review_cleanup_choice(),
    )
    if not dialog.exec():
        return
    settings.set_review_write_to(dialog.chosen_write_to())
    settings.set_review_cleanup(*dialog.chosen_cleanup())
    megapixels = dialog.chosen_max_megapixels()
    if megapixels != settings.max_megapixels():
        settings.set_max_megapixels(megapixels)
        model.worker.set_max_megapixels(megapixels)
    appearance = dialog.chosen_appearance()
    if appearance != settings.appearance():
        settings.set_appearance(appearance)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, appearance)
    folder = dialog.chosen_folder()
    if folder != settings.model_folder() and not batches.running():
        model.use_folder(folder)


def recent_menu(window: QMainWindow, review: ReviewPage) -> QMenu:
    menu = QMenu("Open &Recent", window)
    menu.setToolTip("Reopen a recent folder or the photos dropped in an earlier session")
    menu.aboutToShow.connect(lambda: review.fill_recent(menu))
    return menu


def review_actions(window: QMainWindow, review: ReviewPage, tabs: QTabWidget) -> list[QAction]:
    """The keyboard contract of the Review page (issue 15; the F1 list names each key)."""
    c = review.controller

    def on_review(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            tabs.setCurrentWidget(review.panel)
            return fn()

        return run

    approve = _action(
        window, "&Approve and Next", on_review(c.approve_and_next), "Ctrl+Return",
        "Approve the caption and go to the next image that is not approved",
    )  # fmt: skip
    approve.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
    undo = c.undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence("Ctrl+Z"))
    redo = c.undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcut(QKeySequence("Ctrl+Shift+Z"))
    for action in (undo, redo):
        window.addAction(action)
    return [
        _action(window, "&Edit Caption", on_review(c.edit), "F2", "Edit the caption"),
        approve,
        _action(
            window,
            "Next &Flagged",
            on_review(c.next_flagged),
            "F8",
            "Go to the next weak, changed or failed image",
        ),  # fmt: skip
        undo,
        redo,
        _action(window, "Approve All &Visible", on_review(c.approve_visible)),
        _action(window, "Find and Re&place in Selected…", on_review(c.find_and_replace)),
        _action(window, "Retr&y Failed", on_review(c.retry_failed)),
        _action(
            window,
            "&Write Approved Captions",
            getattr(window, "save", c.write_approved),
            "Ctrl+S",
            "Write the approved captions (on the Caption page: its caption into the photo)",
        ),  # fmt: skip
    ]
