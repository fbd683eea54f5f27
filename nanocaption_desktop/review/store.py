"""The workspace store: every change to an item, kept with the batch journal's crash-safety.

The store is a batch journal (``jobs/journal.py``) of its own kind: append-only JSON Lines, a
header line, then one line per saved item (its whole state, ``records.py``); the latest line of
an id wins. The journal brings the rest: every write fsync'd, a torn last line (a kill in the
middle of a write) cut off at the next open, compaction (atomically, ``ground.durable``) when
superseded lines outnumber the items, and a lock (``jobs/lock.py``) so two windows never write
one store: the second gets an ``OutputError`` naming the holder's process.

Writes are batched: ``save`` queues an item (a later save of the same id replaces the queued
one) and returns at once; a writer thread writes what is queued with one fsync, at most every
``FLUSH_EVERY`` seconds, so a change is on disk within ~0.2 s of its ``save`` (the issue asks
for 1 s). ``flush()`` writes now and waits; ``close()`` flushes and lets the lock go; a
process that exits without closing a store flushes it on the way out (``atexit``). A write
that fails (disk full, a removed drive) keeps the items queued, retried every second; ``error``
holds the failure for the window to show, and ``flush()`` raises it.

The header holds no path: a folder that is moved or renamed keeps its store. A file at the
store's path that is not a store of this format is refused, never replaced.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from ..jobs.filecheck import OutputError, open_regular
from ..jobs.journal import COMPACT_AFTER, Journal
from .model import Item
from .records import parse, to_item, to_record

log = logging.getLogger(__name__)

STORE_HEADER = {"store": "nanocaption-workspace", "format": 1}
#: the writer writes at most this often (seconds); a save is on disk within about this long
FLUSH_EVERY = 0.2
#: after a failed write the queued items are tried again this much later (seconds)
RETRY_AFTER = 1.0


#: the stores open in this process: flushed when it exits without closing them
_OPEN: weakref.WeakSet[WorkspaceStore] = weakref.WeakSet()


class WorkspaceStore:
    """An open store: ``read()`` the items saved, ``save()`` changes, ``close()``."""

    def __init__(self, journal: Journal, compact_after: int = COMPACT_AFTER) -> None:
        self.path = journal.path
        self._journal = journal
        self._compact_after = compact_after
        self._pending: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._urgent = False
        self._closing = False
        self._writing = False
        self._last_write = 0.0
        self.error: OutputError | None = None
        self._loaded: dict[str, dict[str, Any]] | None = None
        self._attempts = 0  # writes started so far
        self._failed_attempt = 0  # the number of the last write that failed
        self._thread = threading.Thread(target=self._run, name="workspace-store", daemon=True)
        self._thread.start()
        _OPEN.add(self)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, compact_after: int = COMPACT_AFTER
    ) -> WorkspaceStore:
        """Open (or start) the store at ``path``; ``OutputError`` naming it when another window
        holds it, it cannot be made, or something else is at that path."""
        target = Path(path)
        _check_is_a_store(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(target, f"cannot make its folder ({e.strerror or e})") from e
        loading = _Collector()
        journal = Journal.open(target, STORE_HEADER, resume=True, parse=loading)
        loading.active = False
        opened = cls(journal, compact_after)
        opened._loaded, loading.records = loading.records, {}
        return opened

    def read(self) -> dict[str, Item]:
        """The items saved (the latest state of each), in the order they were first saved.
        The first call takes the records the open parsed (each line is parsed once)."""
        records, self._loaded = self._loaded, None
        if records is None:
            records = {rec["key"]: rec for rec in self._journal.records()}
        return {key: to_item(rec) for key, rec in records.items()}

    def __len__(self) -> int:
        return len(self._journal)

    def save(self, *items: Item) -> None:
        """Queue ``items`` for the writer (returns at once)."""
        if not items:
            return
        with self._cond:
            if self._closing:
                raise OutputError(self.path, "the workspace store is closed")
            for item in items:
                self._pending[item.id] = to_record(item)
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Write everything queued now and wait until it is fsync'd; raises the write's
        ``OutputError`` when it failed, ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            started = self._attempts  # an attempt in flight now may fail: flush waits for the next
            self._urgent = True
            self._cond.notify_all()
            while self._pending or self._writing:
                if self._failed_attempt > started and self.error is not None:
                    self._urgent = False
                    raise self.error
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._urgent = False
                    raise TimeoutError(f"{self.path}: the workspace store did not flush")
                self._cond.wait(left)
            self._urgent = False

    def close(self) -> None:
        """Flush, stop the writer and let the lock go (idempotent). Raises the write's
        ``OutputError`` when queued items could not be written (they are lost then: the
        window shows it before it lets the person quit)."""
        with self._cond:
            if self._closing and not self._thread.is_alive():
                return
        failure: OutputError | None = None
        try:
            self.flush()
        except OutputError as e:
            failure = e
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._journal.close()
        _OPEN.discard(self)
        if failure is not None:
            raise failure

    def __enter__(self) -> WorkspaceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the writer thread ---------------------------------------------------------------------

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """Wait for work and the writer's pace; the batch to write, or None to stop."""
        with self._cond:
            while True:
                if self._closing and (not self._pending or self.error is not None):
                    return None
                if self._pending:
                    pause = RETRY_AFTER if self.error is not None else FLUSH_EVERY
                    left = self._last_write + pause - time.monotonic()
                    if left <= 0 or self._urgent or self._closing:
                        batch = list(self._pending.values())
                        self._pending.clear()
                        self._writing = True
                        self._attempts += 1
                        return batch
                    self._cond.wait(left)
                else:
                    self._cond.wait()

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            failure: OutputError | None = None
            try:
                self._journal.append_many(batch)
                if self._journal.superseded > max(self._compact_after, len(self._journal)):
                    self._journal.compact()
            except OutputError as e:
                failure = e
                if self.error is None:
                    log.warning("workspace store %s: not saved (%s); trying again", self.path, e)
            with self._cond:
                if failure is not None:
                    self._failed_attempt = self._attempts
                    for rec in batch:  # a newer save of an id wins over the failed one
                        self._pending.setdefault(rec["key"], rec)
                elif self.error is not None:
                    log.info("workspace store %s: saved again", self.path)
                self.error = failure
                self._writing = False
                self._last_write = time.monotonic()
                self._cond.notify_all()


@atexit.register
def _flush_at_exit() -> None:
    """A program that ends without closing its store (an exception, ``sys.exit`` in a slot)
    still writes what was queued; the writer threads are still running while this runs."""
    for store in list(_OPEN):
        try:
            store.flush(timeout=5.0)
        except (OutputError, TimeoutError) as e:
            log.error("workspace store %s: changes not saved at exit: %s", store.path, e)


class _Collector:
    """The journal's line check while it opens the store: keeps what it parsed, so ``read``
    does not read and parse every line a second time (the latest record of a key wins, in the
    order keys first appeared: the journal's own order)."""

    def __init__(self) -> None:
        self.active = True
        self.records: dict[str, dict[str, Any]] = {}

    def __call__(self, raw: bytes) -> tuple[dict[str, Any] | None, str]:
        rec, problem = parse(raw)
        if rec is not None and self.active:
            self.records[rec["key"]] = rec
        return rec, problem


def _check_is_a_store(path: Path) -> None:
    """Refuse to replace a file that is not a workspace store of this format (a torn or empty
    first line is a store whose creation was cut short: started anew)."""
    if not os.path.lexists(path):
        return
    try:
        with open_regular(path, os.O_RDONLY, "rb") as f:  # refuses a link, FIFO, folder
            first = f.readline(4096)
    except OSError as e:
        raise OutputError(path, f"cannot read the workspace store ({e.strerror or e})") from e
    if not first.endswith(b"\n"):
        return
    try:
        head = json.loads(first)
    except ValueError:
        head = None
    if not isinstance(head, dict) or {k: head.get(k) for k in STORE_HEADER} != STORE_HEADER:
        raise OutputError(path, "not a NanoCaption workspace store of this version; not replaced")
