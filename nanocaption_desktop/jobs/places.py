"""Where a batch's results go when nobody said: the photo folder when it can be written, else
a folder of the user's documents (an SD card, a read-only share). Decided here, in the jobs
layer, so the window, the API and tests share one rule; the window says it on screen."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: The folder under the user's documents that holds results of read-only photo folders.
RESULTS_FOLDER = "NanoCaption results"


def folder_writable(folder: str | os.PathLike[str]) -> bool:
    """Whether files can be created in ``folder`` (an existing folder, write and search
    permission, not a read-only mount). False for anything that is not a folder."""
    try:
        return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)
    except (OSError, ValueError):
        return False


def fallback_output_folder(photo_folder: str | os.PathLike[str]) -> Path:
    """``<documents>/NanoCaption results/<folder name>-<8 hex>``: readable, and two SD cards
    that both hold a ``DCIM`` folder do not share a CSV."""
    from ..ground.paths import user_documents_dir

    real = os.path.realpath(photo_folder)
    name = os.path.basename(real.rstrip("/\\")) or "folder"
    digest = hashlib.sha256(real.encode("utf-8", "replace")).hexdigest()[:8]
    return user_documents_dir() / RESULTS_FOLDER / f"{name}-{digest}"


def default_output_folder(photo_folder: str | os.PathLike[str]) -> Path:
    """The photo folder when it is writable, otherwise ``fallback_output_folder``."""
    if folder_writable(photo_folder):
        return Path(photo_folder)
    return fallback_output_folder(photo_folder)
