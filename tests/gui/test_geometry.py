"""The window fits every screen: first size from the free area, remembered geometry clamped."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QByteArray, QRect
from PySide6.QtGui import QGuiApplication

from nanocaption_desktop.gui.geometry import PREFERRED, clamp_geometry, first_geometry

PANEL = 48  # a task bar / top panel, in logical pixels


def _free(width: int, height: int, scale: float) -> tuple[int, int, int, int]:
    """A screen's free area in logical pixels: physical size / scaling, minus a panel."""
    return (0, PANEL, int(width / scale), int(height / scale) - PANEL)


@pytest.mark.parametrize(
    "screen,scale",
    [
        ((1280, 800), 1.0),
        ((1280, 800), 1.5),  # the issue: 1769x1139 physical on this one
        ((1920, 1080), 1.5),
        ((2560, 1600), 2.0),
        ((3840, 2160), 2.0),
        ((1366, 768), 1.0),
        ((1366, 768), 1.25),
    ],
)
def test_the_first_window_fits_the_free_area(screen, scale):
    free = _free(*screen, scale)
    x, y, w, h = first_geometry(free)
    assert free[0] <= x and x + w <= free[0] + free[2]
    assert free[1] <= y and y + h <= free[1] + free[3]
    assert w <= PREFERRED[0] and h <= PREFERRED[1]
    assert (w, h) == (min(PREFERRED[0], int(free[2] * 0.9)), min(PREFERRED[1], int(free[3] * 0.9)))


def test_remembered_geometry_is_kept_on_the_screens_present():
    laptop = (0, 0, 1366, 740)
    # saved on a big monitor that is gone now: back on the laptop, at a size that fits
    x, y, w, h = clamp_geometry((2200, 300, 1600, 1000), [laptop], laptop)
    assert 0 <= x and x + w <= 1366 and 0 <= y and y + h <= 740
    # half off the right edge of the laptop: moved in, size kept
    assert clamp_geometry((1000, 100, 600, 400), [laptop]) == (766, 100, 600, 400)
    # bigger than the screen: shrunk to it
    assert clamp_geometry((0, 0, 2000, 1200), [laptop]) == laptop
    # fully on a second screen: left alone
    second = (1366, 0, 1920, 1080)
    assert clamp_geometry((1500, 100, 800, 600), [laptop, second]) == (1500, 100, 800, 600)


def _window(qtbot, settings):
    from nanocaption_desktop.gui.window import MainWindow
    from nanocaption_desktop.gui.worker import CaptionWorker

    worker = CaptionWorker()
    worker.start()
    window = MainWindow(settings, worker)  # placed by its constructor, as at start-up
    qtbot.addWidget(window, before_close_func=lambda w: w.close())
    return window


def test_the_window_opens_inside_the_screen_and_a_lost_one_comes_back(qtbot, settings):
    free = QGuiApplication.primaryScreen().availableGeometry()
    window = _window(qtbot, settings)
    assert free.contains(window.geometry()), (free, window.geometry())
    window.setGeometry(QRect(free.right() + 3000, 50, 700, 500))  # on a monitor now gone
    window.close()
    assert settings.window_geometry() != QByteArray()
    again = _window(qtbot, settings)
    assert free.contains(again.geometry()), (free, again.geometry())
