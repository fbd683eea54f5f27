"""Photo folders for the review tests, and a user data folder of their own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixture_paths import IMAGES_DIR

PHOTOS = ("sun_and_grass.jpg", "gradient.png", "waves_gray.png", "blocks.webp")


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sessions, the fallback stores and "Recent" go here, never to the real user folder."""
    folder = tmp_path / "user-data"
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(IMAGES_DIR / name, folder / name)
    return folder
