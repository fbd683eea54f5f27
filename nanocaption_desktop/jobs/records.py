"""What a journal record must hold: the one check for every line read back from a journal.

A journal is our own file, but it lives next to the user's outputs and outlives versions, disks
and editors: a line that is valid JSON yet has a wrong value (``"status": "bogus"``, ``"score":
"abc"``, a size that is no number) is treated like a damaged line: ignored with a warning, and
its image is captioned again. Nothing downstream (resume, CSV/JSONL rendering) sees it.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from .results import ResultStatus
from .writers import SidecarOutcome, SidecarPolicy

_STATUSES = frozenset(s.value for s in ResultStatus)
_POLICIES = frozenset(p.value for p in SidecarPolicy)
_OUTCOMES = frozenset({*(o.value for o in SidecarOutcome), "failed"})
#: fields that are text or absent/null
_TEXT = ("caption", "error", "path")


def parse(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """The record on one journal line and ``""``, or None and what is wrong with it."""
    try:
        rec = json.loads(raw)
    except ValueError:
        return None, "not valid JSON"
    problem = problem_of(rec)
    return (None, problem) if problem else (rec, "")


def problem_of(rec: object) -> str:
    """What is wrong with a decoded record, or ``""`` when it is a valid one."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    key = rec.get("key")
    if not isinstance(key, str) or not _relative(key):
        return "the key is not a relative path"
    for name in ("size", "mtime_ns"):
        if not _whole(rec.get(name)) or rec[name] < -1:
            return f"{name} is not a whole number"
    if rec.get("status") not in _STATUSES:
        return f"status is not one of {', '.join(sorted(_STATUSES))}"
    score = rec.get("score")
    if score is not None and not (_number(score) and math.isfinite(score)):
        return "score is not a number"
    for name in _TEXT:
        if rec.get(name) is not None and not isinstance(rec[name], str):
            return f"{name} is not text"
    if rec.get("sidecars") not in (None, *_POLICIES):
        return "sidecars is not a sidecar policy"
    if rec.get("sidecar") not in (None, *_OUTCOMES):
        return "sidecar is not a sidecar outcome"
    if rec.get("metadata") is not None and not isinstance(rec["metadata"], str):
        return "metadata is not text"
    if rec.get("alt_text") is not None and not isinstance(rec["alt_text"], dict):
        return "alt_text is not an object"
    if rec.get("kind") not in (None, "folder"):
        return "kind is not folder"
    return ""


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _relative(key: str) -> bool:
    """A path inside the batch folder, as the scan writes it: not absolute, no ``..``."""
    if not key or "\0" in key or os.path.isabs(key) or key.startswith(("/", "\\")):
        return False
    return ".." not in key.replace("\\", "/").split("/")
