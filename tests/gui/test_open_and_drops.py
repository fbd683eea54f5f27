"""Opening things: paths on the command line, a second launch handing its paths to the running
window (single instance), and drops anywhere on the window."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_paths import IMAGES_DIR, TINY_BUNDLE
from gui_helpers import PHOTO, drop_mime, drop_urls, image_folder
from PySide6.QtCore import QDir, QMimeData

from nanocaption_desktop.gui.single_instance import InstanceServer, hand_over, server_name


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **extra)
    env.pop("NANOCAPTION_QUIT_AFTER_READY", None)
    return env


def test_a_second_launch_hands_its_file_to_the_running_window(qtbot, window, tmp_path):
    """A real second process (``nanocaption-desktop other.png``) gives its path to this window
    over the local socket, exits 0 without loading a model, and the file is captioned here."""
    server = InstanceServer(window)
    assert server.listen()
    server.paths_received.connect(window.open_paths)
    other = IMAGES_DIR / "gradient.png"
    rows = window.history_model.rowCount()
    with qtbot.waitSignal(window.caption_shown, timeout=60_000):
        proc = subprocess.Popen(
            [sys.executable, "-m", "nanocaption_desktop", str(other)],
            env=_env(),  # the same NANOCAPTION_DATA_DIR: the same profile, the same server
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "NanoCaption ready" not in out  # it opened no window of its own
    assert window.history_model.rowCount() == rows + 1
    assert window.history_model.entries()[0].path == str(other)
    server.close()


def test_a_stale_socket_is_taken_over_and_nothing_answers_on_it(tmp_path):
    name = server_name()
    stale = Path(QDir.tempPath()) / name
    if sys.platform == "win32":
        pytest.skip("named pipes leave no file behind")
    stale.unlink(missing_ok=True)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(stale))  # bound, never listening, closed: what a crashed window leaves
    dead.close()
    assert stale.exists()
    assert hand_over([str(PHOTO)], name) is False  # nobody answers: start normally
    server = InstanceServer()
    try:
        assert server.listen(name)
    finally:
        server.close()


def test_names_are_per_profile(monkeypatch, tmp_path):
    first = server_name()
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "another"))
    assert server_name() != first


def test_a_folder_dropped_on_the_batch_page_starts_a_batch(qtbot, window, tmp_path):
    folder = image_folder(tmp_path / "photos", with_junk=False)
    window.tabs.setCurrentWidget(window.batch_panel)
    with qtbot.waitSignal(window.batch_done, timeout=60_000) as done:
        drop_urls(window.batch_panel.table.viewport(), [folder])
    assert done.args[0].done == len(list(IMAGES_DIR.iterdir()))
    assert window.batch_panel.folder_path() == str(folder)


@pytest.mark.parametrize("where", ["caption_box", "history", "batch_folder_box"])
def test_a_file_dropped_anywhere_is_captioned(qtbot, window, where):
    widgets = {
        "caption_box": window.caption_panel.edit.viewport(),
        "history": window.history_panel.view.viewport(),
        "batch_folder_box": window.batch_panel.folder,
    }
    with qtbot.waitSignal(window.caption_shown, timeout=60_000):
        drop_urls(widgets[where], [PHOTO])
    assert window.history_model.entries()[0].path == str(PHOTO)
    assert window.batch_panel.folder.text() in ("", window.settings.batch_last_folder())


def test_plain_text_dragged_into_the_caption_box_is_left_to_it(qtbot, window):
    mime = QMimeData()
    mime.setText("just words")
    drop_mime(window.caption_panel.edit.viewport(), mime)  # the text box took it
    assert "just words" in window.caption_panel.edit.toPlainText()
    assert window.history_model.rowCount() == 0


def test_command_line_files_open_in_the_window_and_readme_flags_work(tmp_path):
    """`nanocaption-desktop --appearance dark --quit-after-ready --model DIR photo.jpg` (README's
    start options with a file, as a desktop entry passes it) opens the window and quits."""
    done = subprocess.run(
        [sys.executable, "-m", "nanocaption_desktop", "--appearance", "dark"]
        + ["--quit-after-ready", "--model", str(TINY_BUNDLE), str(PHOTO), str(IMAGES_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(XDG_CONFIG_HOME=str(tmp_path / "config")),
    )
    assert done.returncode == 0, done.stderr
    assert "NanoCaption ready: window shown" in done.stdout


def test_a_second_server_never_removes_a_live_one(qtbot):
    """Two windows started at the same moment: the later one must not unlink the socket of the
    one that serves (it would be orphaned, and later launches would open third windows)."""
    name = server_name()
    first, second = InstanceServer(), InstanceServer()
    try:
        assert first.listen(name)
        assert second.listen(name) is False
        assert first.server.isListening()
        assert (Path(QDir.tempPath()) / name).exists()
    finally:
        first.close()
        second.close()
