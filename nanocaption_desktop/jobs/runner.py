"""Prefetching: decode and preprocess the next images on a worker thread while the model runs.

``prefetch(items, fn, depth=...)`` runs ``fn`` over ``items`` on one background thread and
yields the outputs in order through a bounded queue (``depth`` items ahead). Iterating the
``items`` (the folder scan) happens on that thread too. The consumer stops the producer by
leaving the loop (the generator's ``finally``) or through ``cancel``; it never waits on a
producer that is stuck in a slow decode: that thread is a daemon and its output is dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: How often a consumer waiting on a slow producer looks at the cancel flag (seconds).
CANCEL_POLL = 0.05


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class _End:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetch(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    depth: int = 4,
    cancel: CancelFlag | None = None,
    name: str = "nanocaption-prefetch",
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, computed up to ``depth`` items ahead on a thread.

    Stops early (without an error) when ``cancel`` is set. An exception raised by ``items`` or
    ``fn`` is re-raised in the consumer.
    """
    depth = max(1, int(depth))
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def cancelled() -> bool:
        return stop.is_set() or (cancel is not None and cancel.is_set())

    def produce() -> None:
        end = _End()
        try:
            for item in items:
                if cancelled():
                    break
                out = fn(item)
                if stop.is_set():
                    break
                q.put(out)  # the consumer drains the queue when it stops: never blocks for good
        except BaseException as e:  # handed to the consumer
            end = _End(e)
        finally:
            if not stop.is_set():
                q.put(end)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                out = q.get(timeout=CANCEL_POLL)
            except queue.Empty:
                if cancel is not None and cancel.is_set():
                    return
                continue
            if isinstance(out, _End):
                if out.error is not None:
                    raise out.error
                return
            yield out
            if cancel is not None and cancel.is_set():
                return
    finally:
        stop.set()
        _drain(q)
        thread.join(timeout=0.5)
        if thread.is_alive():
            log.debug("prefetch thread still busy (a slow decode); left to finish on its own")


def _drain(q: queue.Queue[Any]) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


def count_in_background(
    items: Iterable[Any], on_done: Callable[[int], None], *, name: str = "nanocaption-count"
) -> threading.Event:
    """Count ``items`` on a daemon thread, then call ``on_done(n)``; set the result to stop."""
    stop = threading.Event()

    def run() -> None:
        n = 0
        try:
            for _ in items:
                if stop.is_set():
                    return
                n += 1
        except Exception as e:  # a count is only a progress hint
            log.debug("background count failed: %s", e)
            return
        on_done(n)

    threading.Thread(target=run, name=name, daemon=True).start()
    return stop
