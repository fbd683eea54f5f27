"""Undo and redo for the workspace: every change is a swap between two sets of records.

A command holds, for each image it touches, the record before and after (frozen records, so
holding them is safe) and an ``apply`` callback that makes records current (the controller:
store, table and editor). Typing merges into one command per edit burst: consecutive keystrokes
on the same image, until the person pauses, moves to another image or does anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtGui import QUndoCommand

Apply = Callable[[Mapping[str, Any]], None]
TYPING_ID = 15  # QUndoCommand.id() of typing commands (any constant other than -1)


class RecordsCommand(QUndoCommand):
    """Make ``after`` current on redo and ``before`` on undo."""

    def __init__(
        self,
        text: str,
        apply: Apply,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        *,
        applied: bool = False,
    ) -> None:
        super().__init__(text)
        self._apply = apply
        self.before = dict(before)
        self.after = dict(after)
        self._skip_first = applied  # already on screen (typed): the first redo() does nothing

    def redo(self) -> None:
        if self._skip_first:
            self._skip_first = False
            return
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)


class TypingCommand(RecordsCommand):
    """One edit burst on one image; later keystrokes of the same burst merge into it."""

    def __init__(self, apply: Apply, path: str, before: Any, after: Any, burst: int) -> None:
        super().__init__("Typing", apply, {path: before}, {path: after}, applied=True)
        self.path = path
        self.burst = burst

    def id(self) -> int:
        return TYPING_ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt override)
        if not isinstance(other, TypingCommand):
            return False
        if other.path != self.path or other.burst != self.burst:
            return False
        self.after = other.after
        return True
