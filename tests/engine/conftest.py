"""Engine fixtures: a private, writable copy of the tiny bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the tiny bundle without derived copies (they are written beside it,
    or under this test's own user data folder), with the stock graphs not forced."""
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NANOCAPTION_STOCK_DECODER", raising=False)
    dest = tmp_path / "tiny"
    shutil.copytree(TINY_BUNDLE, dest, ignore=shutil.ignore_patterns("optimized"))
    return dest
