"""The window's handle on one open review workspace (``review.live.LiveWorkspace``: the
records and their store), behind the few calls the controller makes.

The window knows images by their path (the table, caption requests, batch results); the
workspace layer by id (the relative path in a folder, the resolved path in a session). Paths
are resolved here, once, so a batch's row for ``./trip/a.jpg`` finds the item of
``/home/me/trip/a.jpg``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..ground.errors import RequestError
from ..review import live as rl
from ..review import model as rm
from ..review.cleanup import DEFAULT_CLEANUP, CleanupOptions
from ..review.files import identity_of

#: Where the cleanup of new model captions comes from: the window's settings once it calls
#: ``use_cleanup`` (Settings: "Clean up new model captions", full stop, template).
_sources: list[Callable[[], CleanupOptions | None]] = []


def use_cleanup(source: Callable[[], CleanupOptions | None]) -> None:
    _sources[:] = [source]


def _cleanup() -> CleanupOptions | None:
    return _sources[0]() if _sources else DEFAULT_CLEANUP


def state_of(item: Any) -> str:
    state = item.state
    return str(getattr(state, "value", state))


def _identity(path: str) -> rm.Identity | None:
    """The photo as it is when its caption arrives (one stat: how a later change is seen)."""
    try:
        return identity_of(path)
    except OSError:
        return None


def _captioned(
    item: rm.Item,
    text: str,
    score: float | None,
    others: tuple[tuple[str, float], ...] = (),
    identity: rm.Identity | None = None,
) -> rm.Item:
    """The model's text, cleaned (``review.cleanup``, on by default, inside ``captioned``: the
    raw text stays in ``model_text`` and the page shows the difference); beam search's
    ``others`` become ranked alternatives. ``identity``: the photo's as the worker took it
    (with its quick hash); else one stat here."""
    taken = identity if identity is not None else _identity(item.path)
    return rm.captioned(item, text, score, taken, others=others, cleanup=_cleanup())


class ReviewSession:
    """One open workspace (a folder's or a session's); ``live`` None before one is opened."""

    def __init__(self, live: rl.LiveWorkspace | None = None) -> None:
        self.live = live
        self._by_path: dict[str, str] = {}  # resolved path -> id
        self._reindex()

    # ---------------------------------------------------------------- what is open
    @property
    def kind(self) -> str:
        return self.live.workspace.kind if self.live else ""

    @property
    def root(self) -> str:
        return (self.live.workspace.root or "") if self.live else ""

    @property
    def id(self) -> str:
        return self.live.workspace.id if self.live else ""

    @property
    def title(self) -> str:
        return self.live.workspace.title if self.live else ""

    def _reindex(self) -> None:
        items = self.live.workspace.items if self.live else {}
        self._by_path = {os.path.realpath(i.path): key for key, i in items.items()}

    def close(self) -> None:
        if self.live is not None:
            self.live.close()
            self.live = None
            self._by_path = {}

    def flush(self) -> None:
        if self.live is not None:
            self.live.flush()

    def items(self) -> list[rm.Item]:
        return list(self.live.workspace.items.values()) if self.live else []

    def get(self, path: str) -> rm.Item | None:
        key = self._by_path.get(os.path.realpath(path))
        if key is None or self.live is None:
            return None
        return self.live.workspace.items.get(key)

    def put(self, item: rm.Item) -> None:
        """The store has it within a second (its writer flushes every 0.2 s)."""
        if self.live is None:
            raise RequestError(f"{item.path}: no workspace is open")
        self.live.apply(item)
        self._by_path[os.path.realpath(item.path)] = item.id

    def add_files(self, paths: list[str]) -> list[rm.Item]:
        """Photos dropped one by one (a session workspace only): their items."""
        if self.live is None:
            return []
        rl.add_files(self.live, paths)
        self._reindex()
        return [item for item in (self.get(p) for p in paths) if item is not None]

    def item(self, path: str) -> rm.Item:
        found = self.get(path)
        if found is not None:
            return found
        real = os.path.realpath(path)
        key = real
        if self.root:
            rel = os.path.relpath(real, self.root)
            if not rel.startswith(".."):
                key = rel.replace(os.sep, "/")
        return rm.new_item(key, real)

    # ---------------------------------------------------------------- transitions
    def regenerated(
        self,
        path: str,
        text: str,
        score: float | None,
        error: str,
        *,
        others: tuple[tuple[str, float], ...] = (),
        identity: rm.Identity | None = None,
    ) -> rm.Item:
        """A model's caption of ``path`` (not saved: the undo stack applies it). The text a
        person saw before becomes an alternative (``review.model.captioned``), and so do beam
        search's ``others`` (origin ``beam``, ranked from 2)."""
        item = self.item(path)
        if error:
            return rm.failed(item, error)
        return _captioned(item, text, score, others, identity)

    def model_result(
        self,
        path: str,
        text: str,
        score: float | None,
        error: str,
        identity: rm.Identity | None = None,
    ) -> rm.Item:
        """A batch's or the caption page's result, saved at once. An image a person already
        edited, approved or wrote keeps its text: the model's caption becomes an alternative
        (the batch resumes over a reviewed folder; nothing a person did is undone by it)."""
        item = self.item(path)
        if error:
            after = item if state_of(item) in ("edited", "approved", "written") else None
            after = after or rm.failed(item, error)
        elif state_of(item) in ("edited", "approved", "written"):
            after = self.with_alternative(item, text)
        else:
            after = _captioned(item, text, score, identity=identity)
        if after is not self.get(path):
            self.put(after)
        return after

    def with_alternative(self, item: rm.Item, text: str) -> rm.Item:
        if not text.strip() or text == item.text or any(a.text == text for a in item.alternatives):
            return item
        alt = rm.Alternative(text, rm.Origin.REGENERATED)
        return replace(item, alternatives=((alt,) + item.alternatives)[: rm.MAX_ALTERNATIVES])

    def edited(self, item: rm.Item, text: str) -> rm.Item:
        return rm.edit(item, text)

    def approved(self, item: rm.Item) -> rm.Item:
        try:
            return rm.approve(item)
        except RequestError:
            return item  # an empty caption: nothing to approve

    def picked(self, item: rm.Item, text: str) -> rm.Item:
        for index, alt in enumerate(item.alternatives):
            if alt.text == text:
                return rm.pick(item, index)
        return item

    def unwritten(self) -> list[rm.Item]:
        return [i for i in self.items() if i.state is rm.State.APPROVED]

    def written(self, item: rm.Item, targets: list[str], identity: Any = None) -> rm.Item:
        return rm.written(item, targets, identity)
