"""The "Recent" list: the last workspaces opened, folders and sessions of dropped files alike.

``<user data>/recent-workspaces.json``, replaced atomically (``ground.durable``) on every
change; a missing or damaged file is an empty list (it is only a convenience: the stores hold
the captions). The newest first, at most ``LIMIT``; one entry per workspace id.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..ground import durable
from ..ground.paths import user_data_dir

log = logging.getLogger(__name__)

RECENT_FILE = "recent-workspaces.json"
LIMIT = 10


@dataclass(frozen=True)
class RecentEntry:
    """``id``: the workspace's; ``kind``: "folder" or "session"; ``root``: the folder (None for
    a session); ``store``: the store's path; ``title``: what the menu shows."""

    id: str
    kind: str
    root: str | None
    store: str
    title: str
    count: int = 0
    opened: float = 0.0  # seconds since the epoch


def recent_path() -> Path:
    return user_data_dir() / RECENT_FILE


def load_recent(path: Path | None = None) -> list[RecentEntry]:
    target = path or recent_path()
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
        return [RecentEntry(**entry) for entry in data["workspaces"]][:LIMIT]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, KeyError) as e:
        log.warning("recent workspaces %s unreadable (%s): starting empty", target, e)
        return []


def remember(entry: RecentEntry, path: Path | None = None, limit: int = LIMIT) -> list[RecentEntry]:
    """Put ``entry`` first (stamped now) and save; the new list. A failed save is logged."""
    target = path or recent_path()
    stamped = RecentEntry(**{**asdict(entry), "opened": time.time()})
    entries = [stamped] + [e for e in load_recent(target) if e.id != entry.id]
    entries = entries[:limit]
    _save(target, entries)
    return entries


def forget(workspace_id: str, path: Path | None = None) -> list[RecentEntry]:
    target = path or recent_path()
    entries = [e for e in load_recent(target) if e.id != workspace_id]
    _save(target, entries)
    return entries


def _save(target: Path, entries: list[RecentEntry]) -> None:
    data = {"version": 1, "workspaces": [asdict(e) for e in entries]}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        durable.write_atomically(target, json.dumps(data, indent=1).encode("utf-8"))
    except OSError as e:
        log.warning("recent workspaces %s not saved: %s", target, e)
