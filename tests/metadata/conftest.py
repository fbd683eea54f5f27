"""The metadata tests' photos (made once per session) and the two independent readers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_meta_fixtures import make_all  # noqa: E402

TOOLS = ("exiftool", "exiv2")


def require_tools() -> None:
    """Skip without ExifTool and Exiv2, except under CI (CI=true), where that is a failure."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (apt-get install libimage-exiftool-perl exiv2)"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def meta_fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tools()
    return make_all(tmp_path_factory.mktemp("metadata"))
