"""GUI test fixtures: a real window on the tiny fixture model, isolated settings and data dirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from fixture_paths import TINY_BUNDLE  # noqa: E402
from gui_helpers import make_window  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from nanocaption_desktop.gui.compat import protect_singletons  # noqa: E402

protect_singletons()  # PySide6 6.12 on Python 3.11 drops references to None (see compat.py)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "userdata"))
    monkeypatch.delenv("NANOCAPTION_MODEL_DIR", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _preview_decoders() -> Iterator[None]:
    """One set of preview decoder processes for the whole session, stopped at the end."""
    yield
    from nanocaption_desktop.gui.imaging import close_preview_pool
    from nanocaption_desktop.gui.tasks import wait_for_tasks

    wait_for_tasks()
    close_preview_pool()


@pytest.fixture
def settings(tmp_path: Path):
    from nanocaption_desktop.gui.settings import Settings

    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return Settings(store)


@pytest.fixture
def window(qtbot, settings):
    """The window with the tiny model loaded (ready)."""
    win = make_window(qtbot, settings, str(TINY_BUNDLE))
    with qtbot.waitSignal(
        win.model_state_changed, timeout=60_000, check_params_cb=lambda s: s == "ready"
    ):
        win.model.start()
    yield win
    win.close()


@pytest.fixture(scope="session")
def reference_captioner():
    from nanocaption_desktop.engine.captioner import Captioner

    return Captioner.load(TINY_BUNDLE)
