"""Dropping, pasting, copying: the single-image path through the real window and model."""

from __future__ import annotations

from gui_helpers import PHOTO, drop_mime, drop_urls
from PySide6.QtCore import QByteArray, QMimeData, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage


def test_drop_file_shows_its_caption(qtbot, window, reference_captioner):
    with qtbot.waitSignal(window.caption_shown, timeout=30_000) as shown:
        drop_urls(window.drop_area, [PHOTO])
    expected = reference_captioner.caption(str(PHOTO)).text
    assert shown.args == [expected]
    assert window.caption_panel.text() == expected
    assert "s · score" in window.caption_panel.stats.text()
    assert window.history_model.rowCount() == 1
    qtbot.waitUntil(window.drop_area.has_image, timeout=30_000)  # the preview, decoded elsewhere


def test_several_files_all_reach_the_history(qtbot, window):
    photos = sorted(PHOTO.parent.iterdir())[:3]
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        drop_urls(window.drop_area, photos)
    qtbot.waitUntil(lambda: all(e.text for e in window.history_model.entries()), timeout=30_000)
    assert window.history_model.rowCount() == 3


def test_paste_image_data_with_ctrl_v(qtbot, window, reference_captioner):
    image = QImage(str(PHOTO))
    QGuiApplication.clipboard().setImage(image)
    window.activateWindow()
    window.history_panel.view.setFocus()
    with qtbot.waitSignal(window.caption_shown, timeout=30_000) as shown:
        qtbot.keyClick(window.history_panel.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert shown.args[0]
    assert window.history_model.entries()[0].name == "Pasted image"


def test_browser_drag_with_png_bytes(qtbot, window, reference_captioner):
    mime = QMimeData()
    mime.setData("image/png", QByteArray((PHOTO.parent / "gradient.png").read_bytes()))
    mime.setUrls([QUrl("https://example.org/gradient.png")])
    with qtbot.waitSignal(window.caption_shown, timeout=30_000) as shown:
        drop_mime(window.drop_area, mime)
    expected = reference_captioner.caption(str(PHOTO.parent / "gradient.png")).text
    assert shown.args == [expected]


def test_copy_button_puts_exact_caption_on_clipboard(qtbot, window):
    with qtbot.waitSignal(window.caption_shown, timeout=30_000) as shown:
        drop_urls(window.drop_area, [PHOTO])
    QGuiApplication.clipboard().setText("something else")
    with qtbot.waitSignal(window.caption_panel.copied, timeout=5000):
        qtbot.mouseClick(window.caption_panel.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == shown.args[0]
    assert "Copied" in window.caption_panel.copied_label.text()
    # Ctrl+Shift+C from anywhere in the window, and Ctrl+C in the caption box
    QGuiApplication.clipboard().setText("")
    window.batch_panel.folder.setFocus()
    qtbot.keyClick(
        window,
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert QGuiApplication.clipboard().text() == shown.args[0]
    QGuiApplication.clipboard().setText("")
    window.caption_panel.edit.setFocus()
    qtbot.keyClick(window.caption_panel.edit, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == shown.args[0]


def test_auto_copy(qtbot, window):
    window.caption_panel.auto_copy.setChecked(True)
    QGuiApplication.clipboard().setText("old")
    with qtbot.waitSignal(window.caption_shown, timeout=30_000) as shown:
        drop_urls(window.drop_area, [PHOTO])
    assert QGuiApplication.clipboard().text() == shown.args[0]
    assert window.settings.auto_copy() is True


def test_non_image_gives_a_per_file_error_and_the_app_keeps_working(qtbot, window, tmp_path):
    junk = tmp_path / "notes.jpg"
    junk.write_text("not an image at all")
    with qtbot.waitSignal(window.caption_error_shown, timeout=30_000) as failed:
        drop_urls(window.drop_area, [junk])
    assert failed.args[0]
    entry = window.history_model.entries()[0]
    assert entry.name == "notes.jpg" and entry.error == failed.args[0]
    assert "notes.jpg" in window.caption_panel.status.text()
    shown_text = window.drop_area._preview.text()  # the drop area says so too, not "Opening…"
    assert shown_text.startswith("Cannot show this file:") and failed.args[0] in shown_text
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        drop_urls(window.drop_area, [PHOTO])
    assert window.history_model.rowCount() == 2


def test_regenerate_with_beam_search(qtbot, window, reference_captioner):
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        drop_urls(window.drop_area, [PHOTO])
    window.caption_panel.set_options(3, 12)
    assert window.caption_panel.chosen_beams() == 3
    with qtbot.waitSignal(window.caption_shown, timeout=30_000) as shown:
        qtbot.mouseClick(window.caption_panel.regenerate, Qt.MouseButton.LeftButton)
    expected = reference_captioner.caption(str(PHOTO), beams=3, max_new_tokens=12).text
    assert shown.args == [expected]
    assert window.history_model.rowCount() == 1  # same image: the entry is updated
    assert window.settings.beams() == 3 and window.settings.max_new_tokens() == 12


def test_late_result_for_a_replaced_request_is_dropped(qtbot, window):
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        drop_urls(window.drop_area, [PHOTO])
    key = window.history_model.entries()[0].key
    first = window.captions.caption_source(str(PHOTO), "sun", show=True, key=key)
    second = window.captions.caption_source(str(PHOTO), "sun", show=True, key=key)
    assert first.cancel.is_set() and not second.cancel.is_set()
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        pass
    from nanocaption_desktop.gui.messages import CaptionOutcome

    window.captions._request_key[first.id] = key  # pretend the cancelled one still arrives, late
    window.captions._caption_ready(CaptionOutcome(first.id, "sun", str(PHOTO), text="STALE"))
    assert window.caption_panel.text() != "STALE"


def test_long_caption_gets_an_alt_text_hint(qtbot, window):
    window.caption_panel.show_caption("a " * 70, 0.5, -1.0)
    assert "long for alt text" in window.caption_panel.count.text()
    window.caption_panel.show_caption("a short caption", 0.5, -1.0)
    assert window.caption_panel.count.text() == "15 characters"


def test_dropped_paths_are_looked_at_off_the_gui_thread(qtbot, window, tmp_path, monkeypatch):
    import os
    import threading

    from nanocaption_desktop.gui import input_controller

    threads: list[str] = []
    isdir = os.path.isdir

    def spy(path):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return isdir(path)

    monkeypatch.setattr(input_controller.os.path, "isdir", spy)
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        drop_urls(window.drop_area, [PHOTO])
    assert threads and threading.main_thread().name not in threads


def _save(image, path, **kwargs):  # type: ignore[no-untyped-def]
    image.save(path, **kwargs)
    return path


def test_small_image_is_not_blown_up_and_exif_orientation_is_applied(qtbot, window, tmp_path):
    from PIL import Image

    small = _save(Image.new("RGB", (64, 48), (200, 40, 40)), tmp_path / "small.png")
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        drop_urls(window.drop_area, [small])
    qtbot.waitUntil(window.drop_area.has_image, timeout=30_000)
    assert window.drop_area.width() > 300
    shown = window.drop_area.shown_size()
    assert (shown.width(), shown.height()) == (64, 48)  # natural size, not stretched

    exif = Image.Exif()
    exif[274] = 6  # "rotate 90° clockwise to view": stored 80×40, seen 40×80
    rotated = _save(Image.new("RGB", (80, 40), (40, 40, 200)), tmp_path / "r.jpg", exif=exif)
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        drop_urls(window.drop_area, [rotated])
    qtbot.waitUntil(lambda: window.drop_area.shown_size().height() == 80, timeout=30_000)
    assert window.drop_area.shown_size().width() == 40

    big = _save(Image.new("RGB", (1600, 400), (40, 160, 40)), tmp_path / "wide.png")
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        drop_urls(window.drop_area, [big])
    qtbot.waitUntil(lambda: window.drop_area.shown_size().width() > 100, timeout=30_000)
    shown = window.drop_area.shown_size()
    assert shown.width() <= window.drop_area.width()
    assert abs(shown.width() / shown.height() - 4.0) < 0.05  # aspect ratio kept


def test_a_stuck_path_does_not_freeze_the_window(qtbot, window, monkeypatch):
    import threading

    from PySide6.QtCore import QElapsedTimer, QTimer

    from nanocaption_desktop.gui import input_controller

    release = threading.Event()
    isdir = input_controller.os.path.isdir

    def stuck(path):  # type: ignore[no-untyped-def]
        release.wait(30)  # a sleeping network share
        return isdir(path)

    monkeypatch.setattr(input_controller.os.path, "isdir", stuck)
    clock = QElapsedTimer()
    clock.start()
    drop_urls(window.drop_area, [PHOTO])
    assert clock.elapsed() < 250  # the drop returned at once, the path still being looked at
    probe = QTimer()
    probe.setSingleShot(True)
    with qtbot.waitSignal(probe.timeout, timeout=2000):  # and the event loop keeps running
        probe.start(20)
    assert "Opening sun_and_grass.jpg" in window.statusBar().currentMessage()
    assert window.caption_panel.text() == ""
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        release.set()


def test_a_dropped_file_is_decoded_once_for_preview_and_caption(
    qtbot, window, monkeypatch, reference_captioner
):
    """The preview on screen and the model's pixels come from one decode, in one pool."""
    from nanocaption_desktop.engine.isolation import DecodePool

    calls: list[tuple[str, object]] = []
    for method in ("prepare", "preview", "prepare_with_preview"):
        real = getattr(DecodePool, method)

        def spy(self, source, *args, _real=real, _method=method, **kwargs):  # type: ignore[no-untyped-def]
            calls.append((_method, source))
            return _real(self, source, *args, **kwargs)

        monkeypatch.setattr(DecodePool, method, spy)
    with qtbot.waitSignal(window.caption_shown, timeout=30_000) as shown:
        drop_urls(window.drop_area, [PHOTO])
    qtbot.waitUntil(window.drop_area.has_image, timeout=30_000)
    assert shown.args == [reference_captioner.caption(str(PHOTO)).text]  # the same caption
    assert [name for name, source in calls if source == str(PHOTO)] == ["prepare_with_preview"]
    entry = window.history_model.entries()[0]
    assert window.history_model.has_thumbnail(entry.key)
