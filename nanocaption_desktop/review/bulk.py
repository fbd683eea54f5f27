"""Bulk actions over chosen items, and the "next" navigation helpers. Pure: each returns the
changed items (the caller applies them: ``LiveWorkspace.apply``, one undo step in the window)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..ground.errors import RequestError
from . import model
from .model import Item, State, Workspace


@dataclass(frozen=True)
class Skipped:
    id: str
    reason: str


def approve_all(ws: Workspace, ids: Iterable[str]) -> tuple[list[Item], list[Skipped]]:
    """Approve ``ids`` (the visible ones): the items that changed, and those skipped (no text;
    already approved or written items are neither)."""
    changed, skipped = [], []
    for item_id in ids:
        item = ws.get(item_id)
        try:
            new = model.approve(item)
        except RequestError:
            skipped.append(Skipped(item_id, "the caption is empty"))
            continue
        if new is not item:
            changed.append(new)
    return changed, skipped


def find_replace(
    ws: Workspace, ids: Iterable[str], find: str, replacement: str, *, match_case: bool = False
) -> list[Item]:
    """Replace plain text ``find`` with ``replacement`` in the captions of ``ids``; the items
    whose text changed (now edited: a person's change). ``RequestError`` for an empty ``find``."""
    if not find:
        raise RequestError("find and replace: nothing to find")
    pattern = re.compile(re.escape(find), 0 if match_case else re.IGNORECASE)
    out = []
    for item_id in ids:
        item = ws.get(item_id)
        text = pattern.sub(lambda _m: replacement, item.text)
        if text != item.text:
            out.append(model.edit(item, text))
    return out


def retry_failed(ws: Workspace, ids: Iterable[str] | None = None) -> list[str]:
    """The ids (of ``ids``, or of the whole workspace) to caption again: failed ones, and
    new ones (never captioned, or changed on disk)."""
    chosen = ws.ids() if ids is None else list(ids)
    wanted = (State.FAILED, State.NEW)
    return [i for i in chosen if ws.get(i).state in wanted]


def next_matching(
    order: Sequence[str], current: str | None, wanted: Callable[[str], bool]
) -> str | None:
    """The first id after ``current`` in ``order`` (wrapping around, ``current`` last) that is
    ``wanted``; None when none is."""
    if not order:
        return None
    start = order.index(current) + 1 if current in order else 0
    for k in range(len(order)):
        candidate = order[(start + k) % len(order)]
        if wanted(candidate):
            return candidate
    return None


def next_flagged(
    ws: Workspace,
    current: str | None,
    order: Sequence[str] | None = None,
    weak_score: float = model.WEAK_SCORE,
) -> str | None:
    """The next flagged item (``model.flags``) in the view's ``order`` (default: the
    workspace's)."""
    ids = ws.ids() if order is None else order
    return next_matching(ids, current, lambda i: model.is_flagged(ws.get(i), weak_score))


def next_not_approved(
    ws: Workspace, current: str | None, order: Sequence[str] | None = None
) -> str | None:
    """The next item that is neither approved nor written (Ctrl+Enter goes there)."""
    ids = ws.ids() if order is None else order
    done = (State.APPROVED, State.WRITTEN)
    return next_matching(ids, current, lambda i: ws.get(i).state not in done)
