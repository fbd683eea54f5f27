"""The largest image to read is a setting of the window (issue 16): stored, shown in the
Settings dialog, and applied to the loaded model's decoder without reloading the model."""

from __future__ import annotations

from gui_helpers import drop_urls
from PIL import Image


def test_the_setting_round_trips_with_its_default(settings, qtbot):
    from nanocaption_desktop.engine.limits import DEFAULT_MAX_MEGAPIXELS
    from nanocaption_desktop.gui.dialogs import SettingsDialog

    assert settings.max_megapixels() == DEFAULT_MAX_MEGAPIXELS == 100
    settings.set_max_megapixels(250)
    assert settings.max_megapixels() == 250
    settings.store.setValue("images/max_megapixels", 5000)  # out of range: the default
    assert settings.max_megapixels() == 100
    dialog = SettingsDialog("", "system", max_megapixels=250)
    qtbot.addWidget(dialog)
    assert dialog.chosen_max_megapixels() == 250
    dialog.megapixels.setValue(40)
    assert dialog.chosen_max_megapixels() == 40


def test_the_limit_reaches_the_decoder_of_the_loaded_model(qtbot, window, tmp_path):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (3000, 1000), (30, 120, 200)).save(wide)
    window.model.worker.set_max_megapixels(2)
    with qtbot.waitSignal(window.caption_error_shown, timeout=30_000) as failed:
        drop_urls(window.drop_area, [wide])
    assert "3000×1000 pixels (3 megapixels) is over the limit of 2 megapixels" in failed.args[0]
    window.model.worker.set_max_megapixels(3)
    with qtbot.waitSignal(window.caption_shown, timeout=30_000):
        drop_urls(window.drop_area, [wide])
