"""The batch journal: the source of truth for what a batch has done.

An append-only JSON Lines file. The first line is a header naming the batch (folder, model,
decoding settings); each further line is one finished image, keyed by its relative path, with the
size and mtime it had when it was captioned. Every record is flushed and fsync'd before the
batch moves on, so a kill loses at most the record in flight; a truncated last line is cut off
when the journal is opened again. The CSV/JSONL outputs are rendered from it.

Growth: re-captioned and retried images add lines; when a journal is opened with more than
``COMPACT_AFTER`` (and more than half of its lines) superseded, it is rewritten atomically with the
latest record of each image.

One batch at a time: ``open`` takes an exclusive lock (``lock.py``, on ``<journal>.lock``, which
survives the journal being replaced) and ``close`` lets it go; a second batch on the same journal
is refused with an ``OutputError`` naming the holder's process.

Trust: every line read back is checked (``records.py``); a line with a wrong value is ignored
like a damaged one. The journal must be a regular file: a FIFO, a folder or a symlink at its
path is refused (checked without blocking and without following links). Every failure is an
``OutputError`` naming the journal.

Other stores: ``open(..., parse=...)`` takes another line check (the review workspace's store,
``review/store.py``, keeps its items in a journal of its own kind); ``append_many`` writes
several lines with one fsync, ``compact()`` rewrites a journal while it stays open and locked.

Memory: only an index ``key -> offset of the key's latest line`` is kept; records are read back
from the file when needed, so a batch of 100,000 images costs a few MB, not its captions.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from .filecheck import check_regular_or_absent, open_regular
from .lock import JournalLock
from .records import parse
from .writers import OutputError, _reason, atomic_write, remove_stale_temps

log = logging.getLogger(__name__)

#: checks one line read back: the record and "", or None and what is wrong with it
LineCheck = Callable[[bytes], tuple[dict[str, Any] | None, str]]

JOURNAL_VERSION = 1
#: a journal is rewritten with only the latest record of each image when it is opened and more
#: lines than this (and than it has images) are superseded ones (re-captioned or retried images)
COMPACT_AFTER = 1000


def _line(obj: Mapping[str, Any]) -> bytes:
    # ensure_ascii keeps names that are not valid UTF-8 (surrogate escapes) exact on disk
    return (json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


class Journal:
    """Records of a batch, keyed by relative path; the latest record of a key wins."""

    def __init__(
        self,
        path: Path,
        header: dict[str, Any],
        index: dict[str, int],
        owner: JournalLock,
        parse: LineCheck = parse,
        lines: int = 0,
    ) -> None:
        self.path = path
        self.header = header
        self._index = index
        self._parse = parse
        self.lines = lines  # records in the file (superseded ones included)
        self.loaded = len(index)
        self._file: BinaryIO | None = None
        self._reader: BinaryIO | None = None
        self._lock = threading.Lock()
        self._owner: JournalLock | None = owner

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        header: Mapping[str, Any],
        *,
        resume: bool = True,
        parse: LineCheck = parse,
    ) -> Journal:
        """Open (or start) the journal at ``path`` for the batch described by ``header``.

        With ``resume`` and a journal of the same batch, its records are indexed; otherwise (or
        when the header differs: other folder, model or settings) a new journal replaces it.
        Holds the journal's lock until ``close()``; raises ``OutputError`` naming the journal
        when another batch holds it or the journal cannot be used.
        """
        target = Path(path)
        head = {"kind": "header", "version": JOURNAL_VERSION, **header}
        exists = check_regular_or_absent(target)
        owner = JournalLock.acquire(target)  # held across the replacements below
        try:
            remove_stale_temps(target)
            index: dict[str, int] | None = None
            records = 0
            if resume and exists:
                loaded = _load(target, head, parse)
                if loaded is None:
                    log.warning("journal %s is of another batch or settings: anew", target)
                else:
                    index, records = loaded
                    if records - len(index) > max(COMPACT_AFTER, len(index)):
                        index = _compact(target, head, index, records)
                        records = len(index)
            if index is None:
                atomic_write(target, _line(head))
                index = {}
        except BaseException:
            owner.release()
            raise
        journal = cls(target, head, index, owner, parse, records)
        try:
            journal._open_files()
        except BaseException:
            journal.close()
            raise
        return journal

    def _open_files(self) -> None:
        self._file = open_regular(self.path, os.O_WRONLY | os.O_APPEND, "ab", buffering=0)
        self._reader = open_regular(self.path, os.O_RDONLY, "rb")

    def __len__(self) -> int:
        return len(self._index)

    def get(self, key: str) -> dict[str, Any] | None:
        """The latest record of ``key`` (read back from the file), or None. Thread-safe."""
        offset = self._index.get(key)
        if offset is None or self._reader is None:
            return None
        try:
            with self._lock:
                self._reader.seek(offset)
                raw = self._reader.readline()
        except OSError as e:
            raise _read_error(self.path, e) from e
        return self._parse(raw)[0]

    def keys(self) -> list[str]:
        return list(self._index)

    def records(self) -> Iterator[dict[str, Any]]:
        """The latest record of each key, in the order keys first appeared (read from disk)."""
        offsets = list(self._index.values())
        with open_regular(self.path, os.O_RDONLY, "rb") as f:
            for offset in offsets:
                try:
                    f.seek(offset)
                    raw = f.readline()
                except OSError as e:
                    raise _read_error(self.path, e) from e
                rec = self._parse(raw)[0]
                if rec is not None:
                    yield rec

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one record durably (flush + fsync); raises ``OutputError`` when it cannot."""
        self.append_many([record])

    def append_many(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Add records durably with one fsync (all or, after a failure, none of them indexed);
        raises ``OutputError`` when it cannot."""
        if self._file is None:
            raise OutputError(self.path, "the journal is closed")
        lines = [_line(record) for record in records]
        offset: int | None = None
        try:
            offset = self._file.seek(0, os.SEEK_END)
            view = memoryview(b"".join(lines))
            while view:  # unbuffered: nothing is left behind in a buffer when a write fails
                written = self._file.write(view)
                if not written:
                    raise OSError(errno.EIO, "the journal took no bytes")
                view = view[written:]
            os.fsync(self._file.fileno())
        except OSError as e:
            self._cut(offset)
            raise OutputError(self.path, _reason(e)) from e
        for record, line in zip(records, lines, strict=True):
            self._index[record["key"]] = offset
            offset += len(line)
        self.lines += len(lines)

    @property
    def superseded(self) -> int:
        """Lines in the file that a later line of the same key replaced."""
        return self.lines - len(self._index)

    def compact(self) -> None:
        """Rewrite the journal with the latest record of each key now, keeping it open and
        locked (the lock is on a separate file); on failure it stays as it was."""
        if self._file is None or self._reader is None:
            raise OutputError(self.path, "the journal is closed")
        with self._lock:
            index = _compact(self.path, self.header, self._index, self.lines)
            if index is self._index:
                return
            for f in (self._file, self._reader):
                f.close()
            self._index, self.lines = index, len(index)
            self._open_files()

    def _cut(self, offset: int | None) -> None:
        """Best effort after a failed append: no half line for the next append to run into."""
        if offset is None or self._file is None:
            return
        try:
            os.ftruncate(self._file.fileno(), offset)
        except OSError:
            pass  # the next open cuts a truncated last line off

    def forget(self, keys: set[str]) -> None:
        """Drop keys from the index (not from the file) so outputs leave them out."""
        for key in keys:
            self._index.pop(key, None)

    def close(self) -> None:
        """Close the files and release the lock (always); ``OutputError`` if closing failed."""
        failure: OSError | None = None
        for f in (self._file, self._reader):
            if f is not None:
                try:
                    f.close()
                except OSError as e:
                    failure = failure or e
        self._file = self._reader = None
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.release()
        if failure is not None:
            raise OutputError(self.path, _reason(failure)) from failure


def _read_error(path: Path, e: OSError) -> OutputError:
    why = "permission denied" if e.errno in (errno.EACCES, errno.EPERM) else _reason(e)
    return OutputError(path, f"cannot read the journal ({why})")


def _compact(
    path: Path, head: Mapping[str, Any], index: dict[str, int], records: int
) -> dict[str, int]:
    """Rewrite the journal with the header and the latest record of each key, in the same order
    (atomically: temp file, fsync, rename); the new index. On failure the journal stays as is."""
    out = [_line(head)]
    new_index: dict[str, int] = {}
    offset = len(out[0])
    try:
        with open_regular(path, os.O_RDONLY, "rb") as f:
            for key, old in index.items():
                f.seek(old)
                raw = f.readline()
                new_index[key] = offset
                out.append(raw)
                offset += len(raw)
        atomic_write(path, b"".join(out))
    except (OSError, OutputError) as e:
        log.warning("journal %s: not compacted (%s)", path, e)
        return index
    log.info("journal %s: compacted from %d to %d records", path, records, len(new_index))
    return new_index


def _load(
    path: Path, head: Mapping[str, Any], parse: LineCheck = parse
) -> tuple[dict[str, int], int] | None:
    """Index of the journal at ``path`` and its number of records when its header equals
    ``head``; None otherwise. Streams the file; cuts off a truncated last line (a kill in the
    middle of a write)."""
    index: dict[str, int] = {}
    records = 0
    try:
        with open_regular(path, os.O_RDONLY, "rb") as f:
            first = f.readline()
            try:
                if not first.endswith(b"\n") or json.loads(first) != dict(head):
                    return None
            except ValueError:
                return None
            offset = f.tell()
            good_end = offset
            for n, raw in enumerate(iter(f.readline, b""), start=2):
                if not raw.endswith(b"\n"):
                    break  # truncated last line
                rec, problem = parse(raw)
                if rec is None:
                    log.warning("journal %s: line %d ignored (%s)", path, n, problem)
                else:
                    index[rec["key"]] = offset
                    records += 1
                offset += len(raw)
                good_end = offset
            size = f.seek(0, os.SEEK_END)
        if size != good_end:
            log.info("journal %s: dropping a truncated last line (%d bytes)", path, size - good_end)
            os.truncate(path, good_end)
    except OSError as e:
        raise _read_error(path, e) from e
    return index, records
