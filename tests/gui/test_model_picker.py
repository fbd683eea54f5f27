"""The status bar's model picker: installed models listed, switching without a restart."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fixture_paths import TINY_BUNDLE
from gui_helpers import make_window

from nanocaption_desktop.modelstore.installed import default_model


def install(name: str) -> Path:
    dest = Path(os.environ["NANOCAPTION_DATA_DIR"]) / "models" / name
    shutil.copytree(TINY_BUNDLE, dest)
    return dest


def test_the_picker_lists_the_models_and_switches_without_a_restart(qtbot, settings) -> None:
    first, second = install("first"), install("second")
    win = make_window(qtbot, settings, "first")
    with qtbot.waitSignal(
        win.model_state_changed, timeout=60_000, check_params_cb=lambda s: s == "ready"
    ):
        win.model.start()
    picker = win.model_picker
    assert picker.isVisible() and picker.isEnabled()
    assert [picker.itemData(i) for i in range(picker.count())] == ["first", "second"]
    assert picker.currentData() == "first"
    assert picker.itemText(1).startswith("second (") and "INT8 + fp32" in picker.itemText(1)
    assert "installed by hand" in picker.itemData(1, 3)  # Qt.ToolTipRole: the source
    worker, worker_thread = win.worker, win.worker._thread

    with qtbot.waitSignal(win.worker.model_loaded, timeout=60_000) as loaded:
        picker.activated.emit(1)  # what a click on the second entry sends
    assert Path(loaded.args[0].path) == second != first
    qtbot.waitUntil(lambda: win.model.state == "ready" and picker.currentData() == "second")
    assert win.worker is worker and worker._thread is worker_thread  # reloaded in place
    assert default_model() == "second"  # the CLI's default too (models use)
    assert settings.model_folder() == ""
    assert win.model_label.text() == "Model: second"
