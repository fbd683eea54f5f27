"""The cleanup the Review page gives new model captions is the person's choice in Settings: off,
a full stop at the end, a dataset template around every caption; a template without {caption}
is refused in the dialog, never stored."""

from __future__ import annotations

import test_review as review_page
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from test_review import current

reviewed = review_page.reviewed
quit_without_asking = review_page._quit_without_asking


def _regenerate(qtbot, window) -> None:
    ctrl = window.review.controller
    window.caption_panel.mode.setCurrentIndex(1)  # greedy
    with qtbot.waitSignal(ctrl.changed, timeout=30_000):
        ctrl.regenerate()


def test_full_stop_and_template_from_settings_reach_new_captions(qtbot, reviewed):
    window = reviewed
    window.settings.set_review_cleanup(True, True, "photo of {caption}, high quality")
    _regenerate(qtbot, window)
    item = current(window)
    assert item.text.startswith("photo of ")
    assert item.text.endswith(", high quality")
    assert item.model_text and not item.model_text.startswith("photo of ")  # raw text kept
    inner = item.text[len("photo of ") : -len(", high quality")]
    assert inner.endswith((".", "!", "?", "…"))  # the full stop inside the template


def test_cleanup_switched_off_shows_the_models_own_text(qtbot, reviewed):
    window = reviewed
    window.settings.set_review_cleanup(False, True, "photo of {caption}")
    _regenerate(qtbot, window)
    item = current(window)
    assert item.text == item.model_text


def test_the_dialog_refuses_a_template_without_the_caption(qtbot, reviewed):
    from nanocaption_desktop.gui.dialogs import SettingsDialog

    dialog = SettingsDialog("", "system", reviewed, cleanup=(True, False, "{caption}"))
    qtbot.addWidget(dialog)
    dialog.template.setText("no placeholder here")
    warned: list[str] = []

    def dismiss() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            warned.append(box.text())
            box.close()

    QTimer.singleShot(0, dismiss)
    dialog.accept()
    assert warned and "{caption}" in warned[0]
    assert dialog.result() != dialog.DialogCode.Accepted
    dialog.template.setText("a photo: {caption}")
    dialog.period.setChecked(True)
    assert dialog.chosen_cleanup() == (True, True, "a photo: {caption}")
    dialog.cleanup.setChecked(False)
    assert not dialog.period.isEnabled() and not dialog.template.isEnabled()
