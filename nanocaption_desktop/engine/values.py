"""Numbers read from a bundle's JSON, checked for type and range (issue: bundle values).

A bundle is data from elsewhere: a size of 100000 would make every image a 30 GB tensor, a
string or ``NaN`` where a number belongs would fail deep inside numpy. Each reader here raises
`ConfigValueError` (a ``ValueError``) naming the file and the key; the Captioner turns it into
a ``ModelError`` on that file. The bounds are those of ``limits.py``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ConfigValueError", "flag", "integer", "number", "shown"]


class ConfigValueError(ValueError):
    """A value in `file` (a bundle file name) at `key` is of the wrong type or out of range."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key}: {reason}")
        self.file = file
        self.key = key
        self.reason = reason


def shown(value: Any) -> str:
    """A value as a message shows it: its JSON type and a short repr."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    return repr(value)[:40]


def integer(value: Any, file: str, key: str, lo: int, hi: int | None = None) -> int:
    """A whole number (``224`` or ``224.0``) in ``lo..hi`` (no upper bound when `hi` is None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigValueError(file, key, f"expected a whole number, got {shown(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ConfigValueError(file, key, f"expected a whole number, got {shown(value)}")
        value = int(value)
    if value < lo or (hi is not None and value > hi):
        span = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
        raise ConfigValueError(file, key, f"{value} is out of range ({span})")
    return int(value)


def number(value: Any, file: str, key: str) -> float:
    """A finite number (not a boolean, a string, NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigValueError(file, key, f"expected a number, got {shown(value)}")
    if not math.isfinite(value):
        raise ConfigValueError(file, key, f"expected a finite number, got {value!r}")
    return float(value)


def flag(value: Any, file: str, key: str) -> bool:
    """``true`` or ``false`` (a string "false" would read as true)."""
    if not isinstance(value, bool):
        raise ConfigValueError(file, key, f"expected true or false, got {shown(value)}")
    return value
