"""An open workspace: its items in memory and its store on disk, changed together.

    live = open_folder("~/Pictures/trip")      # scan + the store's states; a lock is held
    live.apply(model.edit(live.workspace.get(id), "A red boat"))   # saved within ~0.2 s
    live.close()                               # flushed; the lock let go

``open_folder`` scans with ``jobs/scan.py`` and lays the store's saved state over the images
found: a photo whose size or content changed since it was captioned is ``photo_changed``; an
image saved in the store but gone from the folder is left in the store (it comes back with its
captions if the photo does) and out of the workspace. A session (loose files dropped) is
``open_session``; ``add_files`` adds photos to it. Both put the workspace first in "Recent".
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from ..jobs.filecheck import OutputError
from ..jobs.scan import scan_images
from . import model, places, recent
from .files import unchanged
from .model import Item, Workspace
from .store import WorkspaceStore


class LiveWorkspace:
    """A ``Workspace`` and its ``WorkspaceStore``. Not thread-safe: one owner (the window)."""

    def __init__(
        self,
        workspace: Workspace,
        store: WorkspaceStore,
        recent_file: Path | None,
        problems: tuple[str, ...] = (),
    ) -> None:
        self._workspace = workspace
        self.store = store
        self._recent_file = recent_file
        self.problems = problems  # what the scan could not read ("<folder>: <reason>")

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    def apply(self, *items: Item) -> Workspace:
        """Put ``items`` (new states of items of this workspace, or new items) in the workspace
        and queue them for the store; the new workspace."""
        self._workspace = model.with_items(self._workspace, items)
        self.store.save(*items)
        return self._workspace

    def flush(self) -> None:
        self.store.flush()

    def close(self) -> None:
        """Flush and let the store's lock go (``OutputError`` when queued changes could not
        be written: the window says so before it quits)."""
        self.store.close()

    def __enter__(self) -> LiveWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def remember(self) -> None:
        """First in "Recent"."""
        ws = self._workspace
        entry = recent.RecentEntry(
            ws.id, ws.kind, ws.root, str(self.store.path), ws.title, count=len(ws)
        )
        recent.remember(entry, self._recent_file)


def open_folder(
    folder: str | os.PathLike[str],
    *,
    recursive: bool = False,
    store_path: str | os.PathLike[str] | None = None,
    recent_file: Path | None = None,
) -> LiveWorkspace:
    """The workspace of ``folder`` (``OutputError`` when its store is held by another window
    or cannot be made; ``NotADirectoryError``/``FileNotFoundError`` from the scan)."""
    root = os.path.realpath(folder)
    scanned = list(scan_images(root, recursive=recursive))
    entries = [e for e in scanned if e.error is None]
    problems = tuple(f"{e.path}: {e.error}" for e in scanned if e.error is not None)
    store = _open_store(root) if store_path is None else WorkspaceStore.open(store_path)
    try:
        saved = store.read()
        items, changed = _lay_over(
            ((e.relpath.replace(os.sep, "/"), e.path, e.shared_stem) for e in entries), saved
        )
    except BaseException:
        store.close()
        raise
    title = os.path.basename(root.rstrip("/\\")) or root
    ws = Workspace(places.folder_id(root), "folder", root, items, title=title)
    live = LiveWorkspace(ws, store, recent_file, problems)
    store.save(*changed)
    live.remember()
    return live


def _open_store(root: str) -> WorkspaceStore:
    """The folder's store (``places.folder_store_path``); the user data folder's when files
    cannot be made in the folder after all (a read-only mount that ``os.access`` did not see).
    A store held by another window is never sidestepped: that error is raised."""
    path = places.folder_store_path(root)
    try:
        return WorkspaceStore.open(path)
    except OutputError as e:
        cause = e.__cause__
        refused = isinstance(cause, OSError) and cause.errno in (
            errno.EACCES,
            errno.EPERM,
            errno.EROFS,
        )
        if not refused or path.parent != Path(root) or os.path.lexists(path):
            raise
    return WorkspaceStore.open(places.fallback_store_path(root))


def open_session(
    session_id: str | None = None,
    paths: Iterable[str | os.PathLike[str]] = (),
    *,
    recent_file: Path | None = None,
) -> LiveWorkspace:
    """A workspace of loose files: a new one (``session_id`` None) or one from "Recent"."""
    sid = session_id or places.new_session_id()
    store = WorkspaceStore.open(places.session_store_path(sid))
    try:
        saved = store.read()
        found = [(key, item.path, False) for key, item in saved.items() if os.path.isfile(key)]
        items, changed = _lay_over(found, saved)
    except BaseException:
        store.close()
        raise
    title = places.session_title(sid)
    live = LiveWorkspace(Workspace(sid, "session", None, items, title=title), store, recent_file)
    store.save(*changed)
    add_files(live, paths)
    return live


def add_files(live: LiveWorkspace, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Add photos to a session workspace (id: the resolved path; one already there is kept as
    it is); their ids. Puts the session first in "Recent"."""
    if live.workspace.kind != "session":
        raise ValueError(f"{live.workspace.id}: files are added to a session workspace only")
    ids, new = [], []
    for path in paths:
        real = os.path.realpath(path)
        ids.append(real)
        if real not in live.workspace.items:
            new.append(model.new_item(real, real))
    if new:
        live.apply(*new)
    if ids:
        live.remember()
    return ids


def _lay_over(
    found: Iterable[tuple[str, str, bool]], saved: dict[str, Item]
) -> tuple[dict[str, Item], list[Item]]:
    """Items for the images found (id, path, shared stem): the saved state where there is one;
    and the items that changed on the way (a changed photo, a new path) to save."""
    items: dict[str, Item] = {}
    changed: list[Item] = []
    for key, path, shared in found:
        item = saved.get(key)
        if item is None:
            items[key] = model.new_item(key, path, shared_stem=shared)
            continue
        fresh = _checked(item, path, shared)
        if fresh is not item:
            changed.append(fresh)
        items[key] = fresh
    return items, changed


def _checked(item: Item, path: str, shared: bool) -> Item:
    out = item
    if item.path != path or item.shared_stem != shared:
        out = model.replace_location(item, path, shared)
    if item.identity is None:
        return out
    try:
        st = os.stat(path)
    except OSError:
        return out  # unreadable now: captioning will say why
    now = unchanged(item.identity, path, st)
    if now is None:
        return model.photo_changed(out, model.Identity(st.st_size, st.st_mtime_ns))
    if now is not item.identity:
        return model.replace_identity(out, now)
    return out
