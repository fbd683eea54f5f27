"""Fixtures for the batch tests (helpers live in batch_helpers.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from batch_helpers import IMAGES, FakeCaptioner


@pytest.fixture
def fake() -> FakeCaptioner:
    return FakeCaptioner()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    shutil.copytree(IMAGES, folder)
    return folder


@pytest.fixture(autouse=True)
def _user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sidecar-only journals go to the user data dir: keep it inside the test's tmp folder."""
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "user-data"))
