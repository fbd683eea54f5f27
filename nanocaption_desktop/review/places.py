"""Where a workspace's store lives.

A folder's store is ``<folder>/.nanocaption-workspace.jsonl`` (hidden, so no scan takes it for
a photo; beside the photos, where the sidecars and alt text go too), its lock
``.nanocaption-workspace.jsonl.lock``. When the folder cannot be written (an SD card, a
read-only share: the rule of ``jobs/places.py``) it is
``<user data>/workspaces/<folder name>-<16 hex of its resolved path>.jsonl``. Loose files
dropped in a session get ``<user data>/workspaces/session-<UTC stamp>-<pid>.jsonl``.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from ..ground.paths import user_data_dir
from ..jobs.places import folder_writable

STORE_NAME = ".nanocaption-workspace.jsonl"
WORKSPACES_FOLDER = "workspaces"
SESSION_PREFIX = "session:"


def workspaces_dir() -> Path:
    return user_data_dir() / WORKSPACES_FOLDER


def folder_id(folder: str | os.PathLike[str]) -> str:
    return "folder:" + os.path.realpath(folder)


def fallback_store_path(folder: str | os.PathLike[str]) -> Path:
    """``<user data>/workspaces/<name>-<16 hex>.jsonl``: two SD cards that both hold a
    ``DCIM`` folder do not share a store."""
    real = os.path.realpath(folder)
    name = os.path.basename(real.rstrip("/\\")) or "folder"
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return workspaces_dir() / f"{name}-{digest}.jsonl"


def folder_store_path(folder: str | os.PathLike[str]) -> Path:
    """Beside the photos when the folder can be written, else ``fallback_store_path``; a store
    already kept in the user data folder (the folder was read-only then) stays in use while
    there is none beside the photos, so no edit is left behind when an SD card is unlocked."""
    real = os.path.realpath(folder)
    beside = Path(real) / STORE_NAME
    fallback = fallback_store_path(real)
    if os.path.lexists(beside) or not os.path.lexists(fallback):
        if folder_writable(real):
            return beside
    return fallback


def new_session_id() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{SESSION_PREFIX}{stamp}-{os.getpid()}"


def session_store_path(session_id: str) -> Path:
    if not session_id.startswith(SESSION_PREFIX):
        raise ValueError(f"not a session workspace id: {session_id!r}")
    name = session_id[len(SESSION_PREFIX) :]
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"not a session workspace id: {session_id!r}")
    return workspaces_dir() / f"session-{name}.jsonl"


def session_title(session_id: str) -> str:
    """ "Dropped files 2026-11-30 17:04 UTC" for ``session:20261130-170412-<pid>``."""
    stamp = session_id[len(SESSION_PREFIX) :]
    try:
        when = time.strptime(stamp[:15], "%Y%m%d-%H%M%S")
    except ValueError:
        return f"Dropped files ({stamp})"
    return "Dropped files " + time.strftime("%Y-%m-%d %H:%M UTC", when)
