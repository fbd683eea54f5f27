"""The review workspace without Qt: items and their states, cleanup, bulk actions, the
crash-safe store, "Recent", and writing captions out. The window (``gui/``) shows it.

Beside ``evaluation`` above ``jobs``: uses ``jobs`` (scan, journal, lock, writers, sidecars),
``metadata`` (alt text), ``ground``; only ``gui`` and the app import it. See
docs/architecture.md.

    live = open_folder(folder)                  # or open_session(), add_files(live, paths)
    item = live.workspace.get(item_id)
    live.apply(edit(item, "A red boat"))        # on disk within ~0.2 s
    report = write_items(live.workspace, unwritten_ids(live.workspace))
    live.apply(*report.items)
    live.close()
"""

from __future__ import annotations

from .batch import from_batch
from .bulk import approve_all, find_replace, next_flagged, next_not_approved, retry_failed
from .cleanup import Cleaned, CleanupOptions, clean
from .files import identity_of
from .live import LiveWorkspace, add_files, open_folder, open_session
from .model import (
    Alternative,
    Identity,
    Item,
    Origin,
    State,
    Workspace,
    approve,
    captioned,
    edit,
    failed,
    flags,
    is_flagged,
    photo_changed,
    pick,
    unapprove,
    written,
)
from .recent import RecentEntry, load_recent
from .store import WorkspaceStore
from .targets import Outcome, Target, WriteOptions, WriteReport, unwritten_ids, write_items

__all__ = [
    "Alternative",
    "Cleaned",
    "CleanupOptions",
    "Identity",
    "Item",
    "LiveWorkspace",
    "Origin",
    "Outcome",
    "RecentEntry",
    "State",
    "Target",
    "Workspace",
    "WorkspaceStore",
    "WriteOptions",
    "WriteReport",
    "add_files",
    "approve",
    "approve_all",
    "captioned",
    "clean",
    "edit",
    "failed",
    "find_replace",
    "flags",
    "from_batch",
    "identity_of",
    "is_flagged",
    "load_recent",
    "next_flagged",
    "next_not_approved",
    "open_folder",
    "open_session",
    "photo_changed",
    "pick",
    "retry_failed",
    "unapprove",
    "unwritten_ids",
    "write_items",
    "written",
]
