"""The batch journal: the source of truth for what a batch has done.

An append-only JSON Lines file. The first line is a header naming the batch (folder, model,
decoding settings); each further line is one finished image, keyed by its relative path, with the
size and mtime it had when it was captioned. Every record is flushed and fsync'd before the
batch moves on, so a kill loses at most the record in flight; a truncated last line is cut off
when the journal is opened again. The CSV/JSONL outputs are rendered from it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from .writers import OutputError, _reason, atomic_write, remove_stale_temps

log = logging.getLogger(__name__)

JOURNAL_VERSION = 1


def _line(obj: Mapping[str, Any]) -> bytes:
    # ensure_ascii keeps names that are not valid UTF-8 (surrogate escapes) exact on disk
    return (json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


class Journal:
    """Records of a batch, keyed by relative path; the latest record of a key wins."""

    def __init__(self, path: Path, header: dict[str, Any], records: dict[str, dict[str, Any]]):
        self.path = path
        self.header = header
        self._records = records
        self.loaded = len(records)
        self._file: BinaryIO | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str], header: Mapping[str, Any], *, resume: bool = True):
        """Open (or start) the journal at ``path`` for the batch described by ``header``.

        With ``resume`` and a journal of the same batch, its records are loaded; otherwise (or
        when the header differs: other folder, model or settings) a new journal replaces it.
        """
        target = Path(path)
        head = {"kind": "header", "version": JOURNAL_VERSION, **header}
        remove_stale_temps(target)
        records: dict[str, dict[str, Any]] = {}
        fresh = True
        if resume and target.exists():
            loaded = _load(target, head)
            if loaded is None:
                log.warning("journal %s is of another batch or settings: starting anew", target)
            else:
                records, fresh = loaded, False
        if fresh:
            atomic_write(target, _line(head))
        journal = cls(target, head, records)
        try:
            journal._file = open(target, "ab")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise OutputError(target, _reason(e)) from e
        return journal

    def get(self, key: str) -> dict[str, Any] | None:
        return self._records.get(key)

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> Iterator[dict[str, Any]]:
        """The latest record of each key, in the order keys first appeared."""
        return iter(list(self._records.values()))

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one record durably (flush + fsync); raises ``OutputError`` when it cannot."""
        rec = dict(record)
        if self._file is None:
            raise OutputError(self.path, "the journal is closed")
        try:
            self._file.write(_line(rec))
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as e:
            raise OutputError(self.path, _reason(e)) from e
        self._records[rec["key"]] = rec

    def forget(self, keys: set[str]) -> None:
        """Drop records from memory (not from the file) so outputs leave them out."""
        for key in keys:
            self._records.pop(key, None)

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None


def _load(path: Path, head: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Records of the journal at ``path`` when its header equals ``head``; None otherwise."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise OutputError(path, f"cannot read the journal ({_reason(e)})") from e
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        log.info("journal %s: dropping a truncated last line (%d bytes)", path, len(data) - cut)
        try:
            os.truncate(path, cut)
        except OSError as e:
            raise OutputError(path, _reason(e)) from e
        data = data[:cut]
    lines = data.splitlines()
    if not lines:
        return None
    try:
        first = json.loads(lines[0])
    except ValueError:
        return None
    if first != dict(head):
        return None
    records: dict[str, dict[str, Any]] = {}
    for n, raw in enumerate(lines[1:], start=2):
        try:
            rec = json.loads(raw)
        except ValueError:
            log.warning("journal %s: line %d is not JSON, ignored", path, n)
            continue
        if isinstance(rec, dict) and isinstance(rec.get("key"), str):
            records[rec["key"]] = rec
    return records
