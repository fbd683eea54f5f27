"""Where things live: files shipped with the app, and the user's writable folders.

This is the one place that knows about PyInstaller's ``sys._MEIPASS`` and platformdirs (the
ground layer, docs/architecture.md). Files that ship with the app (assets, a bundled model) come
from :func:`resource_path`; anything the app writes (models it downloads, derived copies, logs)
goes to the platformdirs folders below. Set ``NANOCAPTION_DATA_DIR`` to move all
user-writable data to one folder (tests, portable installs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "NanoCaption"
DATA_DIR_ENV = "NANOCAPTION_DATA_DIR"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # nanocaption_desktop/

__all__ = [
    "APP_NAME",
    "DATA_DIR_ENV",
    "checkout_root",
    "is_frozen",
    "resource_path",
    "shipped_inside",
    "user_cache_dir",
    "user_data_dir",
    "user_log_dir",
    "user_models_dir",
]


def is_frozen() -> bool:
    """True inside a PyInstaller executable (``sys.frozen`` and ``sys._MEIPASS`` are set)."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def checkout_root() -> Path | None:
    """The source checkout this package runs from, or None (frozen, or installed as a wheel)."""
    if is_frozen():
        return None
    root = _PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file():
        return root
    return None


def shipped_inside(path: Path) -> bool:
    """True for a file or folder unpacked from the running executable itself (under
    ``sys._MEIPASS``): it came out of the same archive as the code."""
    if not is_frozen():
        return False
    try:
        return path.resolve().is_relative_to(Path(sys._MEIPASS).resolve())  # type: ignore[attr-defined]
    except OSError:
        return False


def resource_path(*parts: str) -> Path:
    """A file shipped with the app: under ``sys._MEIPASS`` when frozen, else the checkout root."""
    base = Path(sys._MEIPASS) if is_frozen() else _PACKAGE_DIR.parent  # type: ignore[attr-defined]
    return base.joinpath(*parts)


def _override() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def user_data_dir() -> Path:
    """The user's data folder (models live below it). Not created here."""
    override = _override()
    if override is not None:
        return override
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_cache_dir() -> Path:
    """The user's cache folder (derived model copies). With ``NANOCAPTION_DATA_DIR`` set, its
    ``cache`` subfolder."""
    override = _override()
    if override is not None:
        return override / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def user_log_dir() -> Path:
    """The user's log folder. With ``NANOCAPTION_DATA_DIR`` set, its ``logs`` subfolder."""
    override = _override()
    if override is not None:
        return override / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def user_documents_dir() -> Path:
    """The user's documents folder (window batch results when the photo folder is read-only).
    With ``NANOCAPTION_DATA_DIR`` set, its ``Documents`` subfolder."""
    override = _override()
    if override is not None:
        return override / "Documents"
    return Path(platformdirs.user_documents_dir())


def user_models_dir() -> Path:
    """Where ``models fetch`` installs bundles: ``<user data dir>/models``."""
    return user_data_dir() / "models"
