"""One item as a line of the workspace store, and the check of every line read back.

A line is a JSON object with the item's whole state (the latest line of an id wins):
``{"key": id, "path", "state", "text", "origin", "text_score", "model_text", "score",
"alternatives": [[text, origin, score, rank], ...], "reason", "targets": [...], "size",
"mtime_ns", "quick_hash", "changed", "repetition", "shared_stem"}``. A line that is valid JSON
yet holds a wrong value is ignored like a torn one (the store's journal logs it), so a damaged
store costs that one change, never the workspace.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .model import Alternative, Identity, Item, Origin, State

_STATE = {s.value: s for s in State}  # a dict look-up: Enum(value) is slow over 10,000 lines
_ORIGIN = {o.value: o for o in Origin}
_STATES = frozenset(_STATE)
_ORIGINS = frozenset(_ORIGIN)


def to_record(item: Item) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "key": item.id,
        "path": item.path,
        "state": item.state.value,
        "text": item.text,
        "origin": item.origin.value if item.origin else None,
        "text_score": item.text_score,
        "model_text": item.model_text,
        "score": item.score,
        "alternatives": [[a.text, a.origin.value, a.score, a.rank] for a in item.alternatives],
        "reason": item.reason,
        "targets": list(item.targets),
        "changed": item.changed,
        "repetition": item.repetition,
        "shared_stem": item.shared_stem,
    }
    if item.identity is not None:
        rec["size"] = item.identity.size
        rec["mtime_ns"] = item.identity.mtime_ns
        rec["quick_hash"] = item.identity.quick_hash
    return rec


def to_item(rec: dict[str, Any]) -> Item:
    """The item of a record that ``problem_of`` passed."""
    identity = None
    if rec.get("size") is not None:
        identity = Identity(rec["size"], rec["mtime_ns"], rec.get("quick_hash"))
    return Item(
        id=rec["key"],
        path=rec["path"],
        state=_STATE[rec["state"]],
        text=rec.get("text") or "",
        origin=_ORIGIN[rec["origin"]] if rec.get("origin") else None,
        text_score=rec.get("text_score"),
        model_text=rec.get("model_text"),
        score=rec.get("score"),
        alternatives=tuple(
            Alternative(t, _ORIGIN[o], s, r) for t, o, s, r in rec.get("alternatives") or ()
        ),
        reason=rec.get("reason"),
        targets=tuple(rec.get("targets") or ()),
        identity=identity,
        changed=bool(rec.get("changed")),
        repetition=bool(rec.get("repetition")),
        shared_stem=bool(rec.get("shared_stem")),
    )


def parse(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """The record on one store line and ``""``, or None and what is wrong with it."""
    try:
        rec = json.loads(raw)
    except ValueError:
        return None, "not valid JSON"
    problem = problem_of(rec)
    return (None, problem) if problem else (rec, "")


def problem_of(rec: object) -> str:
    """What is wrong with a decoded record, or ``""``."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    for name in ("key", "path"):
        if not isinstance(rec.get(name), str) or not rec[name]:
            return f"{name} is not text"
    if rec.get("state") not in _STATES:
        return f"state is not one of {', '.join(sorted(_STATES))}"
    if rec.get("origin") not in (None, *_ORIGINS):
        return "origin is not one of " + ", ".join(sorted(_ORIGINS))
    for name in ("text", "model_text", "reason", "quick_hash"):
        if rec.get(name) is not None and not isinstance(rec[name], str):
            return f"{name} is not text"
    for name in ("text_score", "score"):
        if not _score(rec.get(name)):
            return f"{name} is not a number"
    if rec.get("size") is not None:
        for name in ("size", "mtime_ns"):
            if not _whole(rec.get(name)):
                return f"{name} is not a whole number"
    targets = rec.get("targets") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        return "targets is not a list of text"
    return _alternatives_problem(rec.get("alternatives") or [])


def _alternatives_problem(alts: object) -> str:
    if not isinstance(alts, list):
        return "alternatives is not a list"
    for alt in alts:
        if not (isinstance(alt, list) and len(alt) == 4):
            return "an alternative is not [text, origin, score, rank]"
        text, origin, score, rank = alt
        if not isinstance(text, str) or origin not in _ORIGINS or not _score(score):
            return "an alternative has a wrong text, origin or score"
        if rank is not None and not _whole(rank):
            return "an alternative's rank is not a whole number"
    return ""


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _score(value: object) -> bool:
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
