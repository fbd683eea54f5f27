"""Model states: loading with queued drops, the missing-model panel, download, choosing a folder."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from fixture_paths import TINY_BUNDLE
from gui_helpers import PHOTO, ROOT, make_window
from PySide6.QtCore import Qt

from nanocaption_desktop.engine.errors import Cancelled
from nanocaption_desktop.gui.worker import CaptionWorker
from nanocaption_desktop.modelstore.fetch import FetchError


class NoModelWorker(CaptionWorker):
    """Nothing installed anywhere; ``fetch`` behaves as offline unless given a folder."""

    def __init__(self, fetch_to: Path | None = None, gate: threading.Event | None = None):
        super().__init__()
        self.fetch_to = fetch_to
        self.gate = gate
        self.installed = False

    def locate(self, explicit):
        if explicit or self.installed:
            return super().locate(explicit or str(self.fetch_to))
        return None

    def fetch(self, *, progress, cancel):
        progress(1_000_000, 250_000_000)
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if cancel.is_set():
                    raise Cancelled()
        if self.fetch_to is None:
            raise FetchError("https://huggingface.co", "cannot reach the model hub (offline?)")
        self.installed = True
        return self.fetch_to


def missing_window(qtbot, settings, worker):
    win = make_window(qtbot, settings, None, worker)
    with qtbot.waitSignal(
        win.model_state_changed, timeout=30_000, check_params_cb=lambda s: s == "missing"
    ):
        win.model.start()
    return win


def test_missing_model_panel_offers_download_and_choose(qtbot, settings):
    win = missing_window(qtbot, settings, NoModelWorker())
    assert win.left.currentWidget() is win.missing_panel
    assert win.missing_panel.isVisible()
    assert win.missing_panel.download.text().replace("&", "") == "Download model (≈250 MB)"
    assert "Choose model folder" in win.missing_panel.choose.text().replace("&", "")
    assert "not installed" in win.missing_panel.title.text()
    assert win.model_label.text() == "No model"
    assert not win.caption_panel.regenerate.isEnabled()  # nothing can caption without a model


def test_download_offline_shows_a_clear_error(qtbot, settings):
    win = missing_window(qtbot, settings, NoModelWorker())
    qtbot.mouseClick(win.missing_panel.download, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.model.error_box is not None, timeout=30_000)
    assert "offline" in win.model.error_box.text()
    assert win.model.dialog is None
    win.model.error_box.close()
    assert win.left.currentWidget() is win.missing_panel  # still offers both ways


def test_download_can_be_cancelled(qtbot, settings, tmp_path):
    gate = threading.Event()
    win = missing_window(qtbot, settings, NoModelWorker(TINY_BUNDLE, gate))
    qtbot.mouseClick(win.missing_panel.download, Qt.MouseButton.LeftButton)
    dialog = win.model.dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: "MB" in dialog.labelText(), timeout=10_000)
    from PySide6.QtWidgets import QPushButton

    button = dialog.findChild(QPushButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.model.dialog is None, timeout=5000)
    assert win.model.state == "missing"
    assert "cancelled" in win.statusBar().currentMessage()


def test_download_then_the_model_loads(qtbot, settings):
    win = missing_window(qtbot, settings, NoModelWorker(TINY_BUNDLE))
    with qtbot.waitSignal(
        win.model_state_changed, timeout=60_000, check_params_cb=lambda s: s == "ready"
    ):
        qtbot.mouseClick(win.missing_panel.download, Qt.MouseButton.LeftButton)
    assert win.left.currentWidget() is win.drop_area


def test_choosing_a_model_folder_loads_it_and_captions_queued_drops(qtbot, settings):
    win = missing_window(qtbot, settings, NoModelWorker())
    from nanocaption_desktop.gui.drop_area import Dropped

    win.inputs.handle_dropped(Dropped(paths=[str(PHOTO)]))  # waits for a model
    with qtbot.waitSignal(win.caption_shown, timeout=60_000):
        win.model.use_folder(str(TINY_BUNDLE))
    assert settings.model_folder() == str(TINY_BUNDLE)
    assert win.model.state == "ready"


def test_a_folder_that_is_no_bundle_says_why(qtbot, settings, tmp_path):
    win = make_window(qtbot, settings, str(tmp_path))
    with qtbot.waitSignal(
        win.model_state_changed, timeout=30_000, check_params_cb=lambda s: s == "missing"
    ):
        win.model.start()
    assert "could not be opened" in win.missing_panel.title.text()
    assert "config.json" in win.missing_panel.detail.text()


def test_drops_while_loading_are_queued_and_captioned(qtbot, settings):
    from nanocaption_desktop.gui.drop_area import Dropped

    win = make_window(qtbot, settings, str(TINY_BUNDLE))
    assert win.model.state == "loading"  # the window is up before any model work
    with qtbot.waitSignal(win.drop_handled, timeout=10_000):
        win.inputs.handle_dropped(Dropped(paths=[str(PHOTO)]))
    assert "Loading model" in win.caption_panel.status.text()
    with qtbot.waitSignal(win.caption_shown, timeout=60_000):
        win.model.start()


def test_run_prints_the_ready_line_and_quits(tmp_path):
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        NANOCAPTION_QUIT_AFTER_READY="model",
        NANOCAPTION_DATA_DIR=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    code = (
        "import sys\nfrom nanocaption_desktop.gui import run\n"
        "if __name__ == '__main__':\n"
        f"    sys.exit(run(['nanocaption-desktop', '--model', {str(TINY_BUNDLE)!r}]))\n"
    )
    script = tmp_path / "start.py"
    script.write_text(code)
    out = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "NanoCaption ready: window shown"
    assert lines[1] == "NanoCaption model: ready tiny-vit-gpt2"
    assert "Traceback" not in out.stderr
    assert (tmp_path / "logs" / "nanocaption.log").is_file()


class SlowLoadWorker(CaptionWorker):
    """A model load that takes as long as the test says (the first open of a big model, which
    also derives its optimized graphs, takes seconds)."""

    def __init__(self, gate: threading.Event, started: threading.Event):
        super().__init__()
        self.gate, self.started = gate, started

    def load(self, path):
        self.started.set()
        self.gate.wait(30)
        return super().load(path)


def test_closing_while_the_model_loads_hides_the_window_before_waiting(qtbot, settings):
    gate, started = threading.Event(), threading.Event()
    win = make_window(qtbot, settings, str(TINY_BUNDLE), SlowLoadWorker(gate, started))
    win.model.start()
    assert started.wait(10)
    seen: list[bool] = []
    real = win.worker.shutdown

    def shutdown(*args, **kwargs):
        seen.append(win.isVisible())  # what the user sees while the load is waited for
        gate.set()
        return real(*args, **kwargs)

    win.worker.shutdown = shutdown
    assert win.close()
    assert seen == [False]
    assert win.worker.thread().isFinished()


def test_the_first_open_says_it_prepares_the_model(qtbot, settings, tmp_path):
    """A bundle without its derived graphs derives them first (seconds for the full model):
    the window says so while it does; the next open, with the graphs cached, just loads."""
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(TINY_BUNDLE, folder, ignore=shutil.ignore_patterns("optimized"))

    def open_model() -> list[tuple[str, str, str]]:
        win = make_window(qtbot, settings, str(folder))
        seen: list[tuple[str, str, str]] = []  # (state, status bar, caption panel) as shown
        win.model_state_changed.connect(
            lambda state: seen.append(
                (state, win.model_label.text(), win.caption_panel.status.text())
            )
        )
        with qtbot.waitSignal(
            win.model_state_changed, timeout=60_000, check_params_cb=lambda s: s == "ready"
        ):
            win.model.start()
        win.close()
        return seen

    first = open_model()
    assert any(
        state == "loading" and label == "Preparing model…" and "only this once" in panel
        for state, label, panel in first
    ), first
    assert first[-1][0] == "ready"
    assert (folder / "optimized" / "encoder_model_quantized" / "encoder.onnx").is_file()
    again = open_model()
    assert not any(label == "Preparing model…" for _, label, _ in again), again


def test_the_length_box_goes_no_further_than_the_models_positions(window):
    """The tiny model has 64 positions: 63 new tokens at most (the engine refuses more)."""
    assert window.model.info is not None and window.model.info.max_new_tokens == 63
    box = window.caption_panel.max_tokens
    assert box.maximum() == 63
    box.setValue(200)
    assert window.caption_panel.chosen_max_tokens() == 63
