"""The Review page's regenerate, finished: beam search offers its other captions to pick from;
the status line says what came back; a photo only touched is not taken for a changed one."""

from __future__ import annotations

import os

import test_review as review_page
from PySide6.QtCore import Qt
from test_review import current, key

# the Review page's fixtures: a reviewed folder, and no quit question on closing
reviewed = review_page.reviewed
quit_without_asking = review_page._quit_without_asking

CTRL = Qt.KeyboardModifier.ControlModifier


def _shown(window) -> list[str]:
    alts = window.review.panel.alternatives
    return [alts.item(n).text() for n in range(alts.count())]


def test_regenerating_with_beams_offers_the_other_beams_to_pick(qtbot, reviewed):
    window = reviewed
    ctrl = window.review.controller
    panel = window.caption_panel
    panel.mode.setCurrentIndex(2)  # the Search box: beam search
    panel.beams.setValue(3)
    before = current(window).text
    with qtbot.waitSignal(ctrl.changed, timeout=30_000):
        key(qtbot, window, Qt.Key.Key_R, CTRL)
    item = current(window)
    beams = [a for a in item.alternatives if a.origin.value == "beam"]
    assert beams, "beam search offered no other caption"
    assert [a.rank for a in beams] == sorted(a.rank for a in beams) and beams[0].rank >= 2
    assert all(a.text != item.text and a.score is not None for a in beams)
    scores = [a.score for a in beams]
    assert len({a.text for a in beams}) == len(beams)
    assert any("beam search #2" in shown for shown in _shown(window))
    if before != item.text:
        assert before in [a.text for a in item.alternatives]
    # picking one makes it the caption (undoable like any pick)
    alts = window.review.panel.alternatives
    row = next(n for n in range(alts.count()) if "beam search #2" in alts.item(n).text())
    alts.setFocus()
    alts.setCurrentRow(row)
    qtbot.keyClick(alts, Qt.Key.Key_Return)
    assert current(window).text == beams[0].text and current(window).state.value == "edited"
    assert scores == [a.score for a in beams]


def test_greedy_regenerate_offers_no_beams(qtbot, reviewed):
    window = reviewed
    ctrl = window.review.controller
    window.caption_panel.mode.setCurrentIndex(1)  # greedy
    with qtbot.waitSignal(ctrl.changed, timeout=30_000):
        key(qtbot, window, Qt.Key.Key_R, CTRL)
    assert not [a for a in current(window).alternatives if a.origin.value == "beam"]


def test_the_status_line_says_when_the_caption_came_back(qtbot, reviewed):
    window = reviewed
    ctrl = window.review.controller
    name = window.review.model.display_name(current(window).path)
    said: list[str] = []
    ctrl.message.connect(said.append)
    with qtbot.waitSignal(ctrl.changed, timeout=30_000):
        ctrl.regenerate()
        assert said == ["Captioning 1 image(s) again…"]
        assert window.statusBar().currentMessage() == said[0]
    assert window.statusBar().currentMessage().startswith(f"Captioned {name} again")
    assert len(said) == 2


def test_the_status_line_says_why_a_regenerate_failed(qtbot, reviewed, tmp_path):
    window = reviewed
    ctrl = window.review.controller
    path = current(window).path
    with open(path, "wb") as f:
        f.write(b"not an image at all")
    with qtbot.waitSignal(ctrl.changed, timeout=30_000):
        ctrl.regenerate()
    shown = window.statusBar().currentMessage()
    assert "again" not in shown and shown.startswith(window.review.model.display_name(path) + ":")
    assert current(window).state.value == "failed"


def test_a_touched_photo_is_not_changed_but_an_edited_one_is(qtbot, reviewed):
    """The quick hash is taken off the GUI thread (the worker) for a batch's captions and a
    regenerate's; reopening then tells a touched photo from an edited one."""
    from nanocaption_desktop.review.live import open_folder

    window = reviewed
    ctrl = window.review.controller
    regenerated = current(window).path
    with qtbot.waitSignal(ctrl.changed, timeout=30_000):
        ctrl.regenerate()
    captioned = [i.path for i in window.review.model.items() if i.state.value == "captioned"]
    batch_only, edited = sorted(p for p in captioned if p != regenerated)[:2]
    for path in (regenerated, batch_only, edited):
        identity = window.review.model.item_of(path).identity
        assert identity is not None and identity.quick_hash, path
    ctrl.store.flush()
    for path in (regenerated, batch_only, edited):
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    with open(edited, "r+b") as f:  # same size, other bytes
        f.seek(os.path.getsize(edited) - 4)
        f.write(b"\x00\x01\x02\x03")
    ctrl.store.close()
    with open_folder(window.folder) as live:
        items = {i.path: i for i in live.workspace.items.values()}
    for path in (regenerated, batch_only):
        assert not items[path].changed and items[path].state.value == "captioned", path
    assert items[edited].changed and items[edited].state.value == "new"


def test_settings_choose_where_ctrl_s_writes(qtbot, window, monkeypatch):
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QAbstractButton, QLabel

    from nanocaption_desktop.gui import dialogs

    seen = {}

    def choose_csv(dialog):
        seen["shown"] = dialog.chosen_write_to()
        labels = [lbl for lbl in dialog.findChildren(QLabel) if lbl.buddy() is dialog.write_to]
        seen["label"] = labels[0].text() if labels else ""
        texts = [lbl.text() for lbl in dialog.findChildren(QLabel)]
        texts += [b.text() for b in dialog.findChildren(QAbstractButton)]
        keys = [t[t.index("&") + 1].lower() for t in texts if "&" in t]
        seen["unique"] = len(keys) == len(set(keys))
        dialog.write_to.setCurrentIndex(dialog.write_to.findData("csv"))
        return 1

    monkeypatch.setattr(dialogs.SettingsDialog, "exec", choose_csv)
    assert window.settings.review_write_to() == "alt-text"  # the default
    action = next(a for a in window.findChildren(QAction) if a.text().startswith("&Settings"))
    action.trigger()
    assert seen == {"shown": "alt-text", "label": "&Write approved to:", "unique": True}
    assert window.settings.review_write_to() == "csv"
    assert window.review.controller._target() == "csv"  # what Ctrl+S will write to
