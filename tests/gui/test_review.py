"""The Review page (issue 15): a dropped folder becomes a workspace; each row of the keyboard
contract driven by keys; undo across regenerate; bulk actions; nothing lost on reopening."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gui_helpers import FIXTURE_IMAGES, drop_urls, image_folder, make_window
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
IMAGES = len(list(FIXTURE_IMAGES.iterdir()))


@pytest.fixture(autouse=True)
def _quit_without_asking(monkeypatch):
    """Closing a test's window never waits on the quit question (its own test answers it)."""
    from nanocaption_desktop.gui.workspace_page import ReviewPage

    monkeypatch.setattr(ReviewPage, "ask_before_quitting", lambda self: "quit")
    return _ASK


def _real_ask():
    from nanocaption_desktop.gui.workspace_page import ReviewPage

    return ReviewPage.ask_before_quitting


_ASK = _real_ask()


def states(window) -> dict[str, str]:
    from nanocaption_desktop.gui.workspace_model import state_of

    return {os.path.basename(i.path): state_of(i) for i in window.review.model.items()}


def current(window):
    return window.review.controller.current_item()


@pytest.fixture
def reviewed(qtbot, window, tmp_path):
    """The window after dropping a folder: its batch done, its workspace on the Review page."""
    folder = image_folder(tmp_path / "photos")
    with qtbot.waitSignal(window.batch_done, timeout=60_000):
        drop_urls(window.drop_area, [folder])
    model = window.review.model
    qtbot.waitUntil(lambda: model.rowCount() == IMAGES + 1, timeout=10_000)
    qtbot.waitUntil(lambda: all(s in ("captioned", "failed") for s in states(window).values()))
    window.tabs.setCurrentWidget(window.review.panel)
    window.review.controller.select_row(0)
    window.review.panel.table.setFocus()
    window.folder = folder
    return window


def key(qtbot, window, k, mods=Qt.KeyboardModifier.NoModifier):
    """A key as a person presses it: to the widget with the focus (window shortcuts included)."""
    target = QApplication.focusWidget() or window
    qtbot.keyClick(target, k, mods)


def test_a_dropped_folder_becomes_a_workspace_with_states_and_badges(reviewed):
    from nanocaption_desktop.gui.workspace_model import STATE_COLUMN

    window = reviewed
    found = states(window)
    assert found["notes.jpg"] == "failed"
    assert sum(s == "captioned" for s in found.values()) == IMAGES
    model = window.review.model
    row = model.row_of(os.path.realpath(window.folder / "notes.jpg"))
    badge = model.index(row, STATE_COLUMN)
    assert "failed" in model.data(badge)  # a word, not colour alone
    accessible = model.data(badge, Qt.ItemDataRole.AccessibleTextRole)
    assert accessible.startswith("State: failed") and "flagged" in accessible
    assert model.data(badge, Qt.ItemDataRole.DecorationRole) is not None  # and an icon
    # the captions are the model's, cleaned (review.cleanup): the raw text kept, the change shown
    from nanocaption_desktop.review import clean

    item = model.item(0 if row else 1)
    assert item.model_text and item.text == clean(item.model_text).text
    window.review.controller.select_row(model.row_of(item.path))
    if item.text != item.model_text:
        assert "Cleanup of the model's text" in window.review.panel.diff.text()


def test_filter_by_state_search_and_sort(reviewed):
    panel = reviewed.review.panel
    proxy = panel.proxy
    panel.state_filter.setCurrentIndex(panel.state_filter.findData("failed"))
    assert proxy.rowCount() == 1
    panel.state_filter.setCurrentIndex(panel.state_filter.findData(""))
    assert proxy.rowCount() == IMAGES + 1
    panel.search.setText("notes")
    assert proxy.rowCount() == 1
    panel.search.setText("")
    panel.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    names = [proxy.index(r, 1).data() for r in range(proxy.rowCount())]
    assert names == sorted(names, key=str.casefold, reverse=True)


def test_up_down_pgup_pgdn_move_between_images_from_table_and_editor(qtbot, reviewed):
    window = reviewed
    table = window.review.panel.table
    first = current(window).path
    key(qtbot, window, Qt.Key.Key_Down)
    second = current(window).path
    assert second != first
    key(qtbot, window, Qt.Key.Key_Up)
    assert current(window).path == first
    key(qtbot, window, Qt.Key.Key_PageDown)
    assert table.currentIndex().row() > 0
    key(qtbot, window, Qt.Key.Key_PageUp)
    assert current(window).path == first
    # in the editor: Down on the (one) last line moves to the next image too
    key(qtbot, window, Qt.Key.Key_F2)
    assert QApplication.focusWidget() is window.review.panel.editor
    key(qtbot, window, Qt.Key.Key_Down)
    assert current(window).path == second
    key(qtbot, window, Qt.Key.Key_PageUp)
    assert current(window).path == first


def test_f2_focuses_the_editor_with_all_text_selected(qtbot, reviewed):
    window = reviewed
    key(qtbot, window, Qt.Key.Key_F2)
    editor = window.review.panel.editor
    assert QApplication.focusWidget() is editor
    assert editor.textCursor().selectedText() == current(window).text != ""


def test_typing_marks_edited_and_hides_the_models_score(qtbot, reviewed):
    window = reviewed
    panel = window.review.panel
    assert "Model's score" in panel.score.text()
    key(qtbot, window, Qt.Key.Key_F2)
    qtbot.keyClicks(panel.editor, "A red boat")
    item = current(window)
    assert item.text == "A red boat" and item.state.value == "edited"
    assert "Model's score" not in panel.score.text()
    assert "edited" in panel.badge.text()


def test_ctrl_enter_approves_and_moves_to_the_next_not_approved(qtbot, reviewed):
    window = reviewed
    ctrl = window.review.controller
    ctrl.select_row(1)
    ctrl.approve_and_next()  # row 1 approved first: Ctrl+Enter on row 0 must skip it
    ctrl.select_row(0)
    first = current(window).path
    key(qtbot, window, Qt.Key.Key_F2)
    key(qtbot, window, Qt.Key.Key_Return, CTRL)
    assert window.review.model.item_of(first).state.value == "approved"
    assert window.review.panel.table.currentIndex().row() == 2
    # the Ctrl held for Ctrl+Enter does not add the new row to the old selection
    rows = window.review.panel.table.selectionModel().selectedRows()
    assert [r.row() for r in rows] == [2]


def test_ctrl_r_regenerates_keeping_the_old_text_and_undo_brings_an_edit_back(qtbot, reviewed):
    window = reviewed
    ctrl = window.review.controller
    key(qtbot, window, Qt.Key.Key_F2)
    qtbot.keyClicks(window.review.panel.editor, "My own words")
    with qtbot.waitSignal(ctrl.changed, timeout=30_000):
        key(qtbot, window, Qt.Key.Key_R, CTRL)
    item = current(window)
    assert item.state.value == "captioned" and item.text != "My own words"
    assert "My own words" in [a.text for a in item.alternatives]
    shown = [
        window.review.panel.alternatives.item(n).data(Qt.ItemDataRole.UserRole)
        for n in range(window.review.panel.alternatives.count())
    ]
    assert "My own words" in shown
    regenerated = item.text
    key(qtbot, window, Qt.Key.Key_Z, CTRL)  # the undo test of the issue
    item = current(window)
    assert item.text == "My own words" and item.state.value == "edited"
    assert window.review.panel.editor.toPlainText() == "My own words"
    assert regenerated in [a.text for a in item.alternatives]  # never discarded
    key(qtbot, window, Qt.Key.Key_Z, CTRL | SHIFT)
    assert current(window).text == regenerated


def test_typing_is_one_undo_step_per_burst_and_redo_returns_it(qtbot, reviewed):
    window = reviewed
    original = current(window).text
    key(qtbot, window, Qt.Key.Key_F2)
    qtbot.keyClicks(window.review.panel.editor, "Two cats")
    assert window.review.controller.undo_stack.count() == 1  # eight keys, one command
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert current(window).text == original
    key(qtbot, window, Qt.Key.Key_Z, CTRL | SHIFT)
    assert current(window).text == "Two cats"


def test_picking_an_alternative_is_undoable(qtbot, reviewed):
    window = reviewed
    ctrl = window.review.controller
    original = current(window).text
    key(qtbot, window, Qt.Key.Key_F2)
    qtbot.keyClicks(window.review.panel.editor, "Mine")
    alts = window.review.panel.alternatives
    assert alts.count() == 1
    alts.setFocus()
    alts.setCurrentRow(0)
    qtbot.keyClick(alts, Qt.Key.Key_Return)
    assert current(window).text == original
    ctrl.undo_stack.undo()
    assert current(window).text == "Mine"


def test_ctrl_shift_c_copies_the_current_caption(qtbot, reviewed):
    window = reviewed
    QGuiApplication.clipboard().setText("")
    key(qtbot, window, Qt.Key.Key_C, CTRL | SHIFT)
    assert QGuiApplication.clipboard().text() == current(window).text != ""


def test_esc_cancels_running_work(qtbot, reviewed):
    window = reviewed
    ctrl = window.review.controller
    ctrl.regenerate()
    requests = list(ctrl._requests.values())
    assert ctrl.busy()
    key(qtbot, window, Qt.Key.Key_Escape)
    assert not ctrl.busy() and all(r.cancel.is_set() for r in requests)


def test_f8_goes_to_the_next_flagged_image(qtbot, reviewed):
    from nanocaption_desktop.review import flags, is_flagged

    window = reviewed
    key(qtbot, window, Qt.Key.Key_F2)
    qtbot.keyClicks(window.review.panel.editor, "A person's words")  # not flagged any more
    assert not is_flagged(current(window))
    flagged = [i.path for i in window.review.model.items() if is_flagged(i)]
    assert 0 < len(flagged) < window.review.model.rowCount()
    seen = []
    for _ in flagged:
        key(qtbot, window, Qt.Key.Key_F8)
        seen.append(current(window).path)
        assert flags(current(window))  # failed, weak score, repetition or changed
    assert set(seen) == set(flagged)  # each in turn, none skipped


def test_ctrl_s_writes_approved_captions_as_alt_text_and_an_edit_unwrites(qtbot, reviewed):
    from nanocaption_desktop.metadata import read_descriptions

    window = reviewed
    ctrl = window.review.controller
    ctrl.select_row(window.review.model.row_of(os.path.realpath(window.folder / "blocks_000.webp")))
    key(qtbot, window, Qt.Key.Key_F2)
    qtbot.keyClicks(window.review.panel.editor, "Coloured blocks")
    key(qtbot, window, Qt.Key.Key_Return, CTRL)
    with qtbot.waitSignal(ctrl.written, timeout=30_000) as done:
        key(qtbot, window, Qt.Key.Key_S, CTRL)
    assert done.args == [1, 0]
    photo = window.folder / "blocks_000.webp"
    assert read_descriptions(photo).winner.text == "Coloured blocks"
    item = window.review.model.item_of(os.path.realpath(photo))
    assert item.state.value == "written"
    ctrl.select_row(window.review.model.row_of(item.path))
    key(qtbot, window, Qt.Key.Key_F2)
    qtbot.keyClicks(window.review.panel.editor, "Blocks")
    assert current(window).state.value == "edited"  # unwritten again


def test_ctrl_s_to_sidecars_when_chosen(qtbot, reviewed):
    window = reviewed
    window.settings.set_review_write_to("sidecar")
    ctrl = window.review.controller
    path = current(window).path
    text = current(window).text
    key(qtbot, window, Qt.Key.Key_Return, CTRL)
    with qtbot.waitSignal(ctrl.written, timeout=30_000):
        key(qtbot, window, Qt.Key.Key_S, CTRL)
    assert (os.path.splitext(path)[0] + ".txt") in window.review.model.item_of(path).targets[0]
    sidecar = Path(os.path.splitext(path)[0] + ".txt")
    assert sidecar.read_text(encoding="utf-8").strip() == text


def test_bulk_approve_visible_replace_in_selected_and_retry_failed(qtbot, reviewed):
    window = reviewed
    ctrl, panel = window.review.controller, window.review.panel
    panel.search.setText("_000.png")
    shown = panel.proxy.rowCount()
    assert shown >= 2
    ctrl.approve_visible()
    assert sum(s == "approved" for s in states(window).values()) == shown
    ctrl.undo_stack.undo()  # one step for the whole bulk action
    assert sum(s == "approved" for s in states(window).values()) == 0
    panel.search.setText("")
    panel.table.selectAll()
    word = current(window).text.split()[0]
    changed = ctrl.replace_in_selected(word, "XYZ")
    assert changed >= 1
    assert sum("XYZ" in i.text for i in window.review.model.items()) == changed
    ctrl.undo_stack.undo()
    assert not any("XYZ" in i.text for i in window.review.model.items())
    with qtbot.waitSignal(ctrl.changed, timeout=30_000) as got:
        assert ctrl.retry_failed() == 1
    assert got.args[0].state.value == "failed"  # still no image: failed again, with a reason


def test_no_key_is_bound_twice(window):
    from PySide6.QtGui import QKeySequence, QShortcut

    portable = QKeySequence.SequenceFormat.PortableText
    seen: list[str] = []
    for action in window.actions():
        seen += [s.toString(portable) for s in action.shortcuts() if not s.isEmpty()]
    seen += [s.key().toString(portable) for s in window.findChildren(QShortcut)]
    assert len(seen) == len(set(seen)), sorted(s for s in seen if seen.count(s) > 1)


def test_reopening_the_folder_restores_edits_states_and_alternatives(qtbot, reviewed, settings):
    window = reviewed
    key(qtbot, window, Qt.Key.Key_F2)
    qtbot.keyClicks(window.review.panel.editor, "Kept words")
    path = current(window).path
    key(qtbot, window, Qt.Key.Key_Return, CTRL)
    window.close()
    again = make_window(qtbot, settings)
    again.review.open_folder(str(window.folder))
    qtbot.waitUntil(lambda: again.review.model.rowCount() == IMAGES + 1, timeout=10_000)
    item = again.review.model.item_of(path)
    assert item.text == "Kept words" and item.state.value == "approved"
    assert (
        item.model_text
        and item.model_text
        in [a.text.lower() for a in item.alternatives] + [a.text for a in item.alternatives]
        or item.alternatives
    )
    from nanocaption_desktop.review import load_recent

    assert load_recent()[0].root == os.path.realpath(window.folder)


@pytest.mark.parametrize("answer", ["cancel", "quit", "write"])
def test_quitting_with_approved_unwritten_captions_asks(qtbot, reviewed, answer):
    from PySide6.QtWidgets import QMessageBox

    window = reviewed
    path = current(window).path
    key(qtbot, window, Qt.Key.Key_Return, CTRL)
    clicked = {}

    def answer_box():
        box = window.review.quit_box
        label = {"cancel": "&Cancel", "quit": "&Quit without writing", "write": "&Write"}[answer]
        button = next(b for b in box.buttons() if b.text() == label)
        clicked["text"] = box.text()
        button.click()

    def ask():
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, answer_box)
        return _ASK(window.review)

    window.review.ask_before_quitting = ask
    window.close()
    assert "1 approved caption" in clicked["text"]
    assert isinstance(window.review.quit_box, QMessageBox)
    if answer == "cancel":
        assert window.isVisible()
        window.review.ask_before_quitting = lambda: "quit"
        return
    if answer == "write":
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
        from nanocaption_desktop.metadata import read_descriptions

        assert read_descriptions(path).winner is not None
    assert not window.isVisible()
