"""The PySide6 6.12 / Python 3.11 reference-count bug, and that our guard makes it harmless."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtWidgets import QLabel


def test_guard_keeps_none_alive_through_many_void_calls(qtbot):
    from nanocaption_desktop.gui.compat import protect_singletons

    protect_singletons()
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(20_000):  # more than None's whole reference count on a fresh 3.11
        label.setText("x")
    drift = before - sys.getrefcount(None)
    print(f"\nNone lost {drift} references over 20,000 QLabel.setText calls")
    if sys.version_info < (3, 12):
        assert sys.getrefcount(None) > 1 << 39  # still far from zero
    else:
        pytest.skip("None is immortal on Python >= 3.12")
