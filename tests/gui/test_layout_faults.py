"""Small layout faults, each pinned: mnemonics, accessible names, failed rows, Copy, notices,
thumbnails, the missing-model panel at the smallest size, words for window users."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget


def _mnemonic(text: str) -> str | None:
    found = re.search(r"&([^&])", text.replace("&&", ""))
    return found.group(1).lower() if found else None


def _page_mnemonics(window, page: QWidget) -> list[tuple[str, str]]:
    """(letter, text) of what Alt+letter reaches while ``page`` is shown: the menu bar, the
    tabs, and the page's buttons and buddied labels."""
    found = [(_mnemonic(a.text()), a.text()) for a in window.menuBar().actions()]
    bar = window.tabs.tabBar()
    found += [(_mnemonic(bar.tabText(i)), bar.tabText(i)) for i in range(bar.count())]
    for widget in page.findChildren(QWidget):
        if isinstance(widget, QAbstractButton) or (isinstance(widget, QLabel) and widget.buddy()):
            found.append((_mnemonic(widget.text()), widget.text()))
    return [(letter, text) for letter, text in found if letter]


def _duplicates(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    by: dict[str, list[str]] = {}
    for letter, text in pairs:
        by.setdefault(letter, []).append(text)
    return {k: v for k, v in by.items() if len(v) > 1}


def test_mnemonics_are_unique_on_every_page_and_in_every_menu(qtbot, window):
    pages = [window.tabs.widget(i) for i in range(window.tabs.count())]
    assert window.missing_panel in pages[0].findChildren(QWidget)  # counted with its page
    for page in pages:
        pairs = _page_mnemonics(window, page)
        assert not _duplicates(pairs), (page.objectName() or type(page).__name__, pairs)
    for action in window.menuBar().actions():
        items = [(_mnemonic(a.text()), a.text()) for a in action.menu().actions()]
        assert not _duplicates([p for p in items if p[0]]), action.text()


def test_the_missing_model_panel_is_whole_at_the_smallest_window(qtbot, settings, tmp_path):
    """At the minimum size nothing of the panel is squeezed below what it needs: it scrolls."""
    from gui_helpers import make_window

    from nanocaption_desktop.gui.messages import ModelProblem

    win = make_window(qtbot, settings, str(tmp_path / "no-model-here"))
    with qtbot.waitSignal(
        win.model_state_changed, timeout=30_000, check_params_cb=lambda s: s == "missing"
    ):
        win.model.start()
    panel = win.missing_panel
    panel.show_problem(ModelProblem(tuple(f"/a/long/place/number/{i}" for i in range(5)), "x"))
    win.resize(win.minimumSizeHint())
    qtbot.waitUntil(lambda: win.size() == win.minimumSizeHint().expandedTo(win.minimumSize()))
    content = panel.content
    assert content.height() >= content.minimumSizeHint().height()
    for button in (panel.download, panel.choose):
        assert button.height() >= button.minimumSizeHint().height()
        panel.scroller.ensureWidgetVisible(button)
        top_left = button.mapTo(panel.scroller.viewport(), button.rect().topLeft())
        assert panel.scroller.viewport().rect().contains(top_left)


def test_every_focusable_part_of_the_missing_model_panel_has_a_name(qtbot):
    """What AT-SPI lists (check_a11y.py): its scroll area takes focus, so it needs a name too."""
    from PySide6.QtCore import Qt

    from nanocaption_desktop.gui.model_panel import MissingModelPanel

    panel = MissingModelPanel()
    qtbot.addWidget(panel)
    focusable = [panel, *panel.findChildren(QWidget)]
    focusable = [w for w in focusable if w.focusPolicy() != Qt.FocusPolicy.NoFocus]
    assert panel.scroller in focusable
    for widget in focusable:
        assert widget.accessibleName(), type(widget).__name__


def test_combo_boxes_have_a_label_that_names_them(qtbot, window):
    from PySide6.QtWidgets import QComboBox

    from nanocaption_desktop.gui.dialogs import SettingsDialog

    dialog = SettingsDialog("", "system", window)
    qtbot.addWidget(dialog)
    for root in (window, dialog):
        labels = {id(lbl.buddy()): lbl for lbl in root.findChildren(QLabel) if lbl.buddy()}
        for combo in root.findChildren(QComboBox):
            assert id(combo) in labels, combo.accessibleName()
            assert combo.accessibleName()  # and a name, for platforms that read that


def test_failed_history_rows_say_so_in_words_and_an_icon(qtbot, window, tmp_path):
    from PySide6.QtCore import Qt

    junk = tmp_path / "notes.jpg"
    junk.write_text("not an image")
    with qtbot.waitSignal(window.caption_error_shown, timeout=60_000):
        window.open_paths([str(junk)])
    model = window.history_model
    index = model.index(0)
    assert "Failed:" in model.data(index, Qt.ItemDataRole.DisplayRole)
    assert "Failed:" in model.data(index, Qt.ItemDataRole.AccessibleTextRole)
    assert model.data(index, Qt.ItemDataRole.ForegroundRole) is not None
    icon = model.data(index, Qt.ItemDataRole.DecorationRole)
    assert not icon.toImage().allGray() or icon.toImage().pixelColor(28, 28).alpha() > 0


def test_copy_is_disabled_without_a_caption_and_the_notice_is_no_success(qtbot, window):
    from gui_helpers import PHOTO

    panel = window.caption_panel
    assert not panel.copy_button.isEnabled()
    assert panel.copy_caption() is False
    assert panel.copied_label.text() == "Nothing to copy yet"
    assert panel.copied_label.property("notice") is True
    with qtbot.waitSignal(window.caption_shown, timeout=60_000):
        window.open_paths([str(PHOTO)])
    assert panel.copy_button.isEnabled()
    assert panel.copy_caption() is True
    assert panel.copied_label.property("notice") is False


def test_portrait_and_landscape_thumbnails_take_the_same_box(qtbot, window):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPixmap

    from nanocaption_desktop.gui.history import HistoryEntry

    model = window.history_model
    for key, (w, h) in enumerate([(56, 20), (20, 56)], start=900):
        model.upsert(HistoryEntry(key=key, name=f"{w}x{h}.jpg", source="", text="a cat"))
        pixmap = QPixmap(w, h)
        pixmap.fill(Qt.GlobalColor.red)
        model.set_thumbnail(key, pixmap)
    sizes = {
        model.data(model.index(r), Qt.ItemDataRole.DecorationRole).deviceIndependentSize().toSize()
        for r in range(2)
    }
    assert len(sizes) == 1 and sizes.pop().width() == model.thumb_size


def test_window_messages_speak_no_command_line(qtbot):
    from nanocaption_desktop.engine.errors import ModelError
    from nanocaption_desktop.gui.convert import plain_error
    from nanocaption_desktop.gui.worker import CaptionWorker

    said = plain_error(
        ModelError(
            "model",
            "no model installed: run `nanocaption-desktop models fetch`, or pass --model DIR"
            " / set NANOCAPTION_MODEL_DIR",
        )
    )
    assert "--" not in said and "nanocaption-desktop" not in said, said
    places = CaptionWorker().searched("/some/folder")
    assert places and not any("--model" in p for p in places), places
