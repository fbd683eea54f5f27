"""Greedy captions of a stream, several images per weight pass: one group decodes while the other
cores encode the next images (issue 18).

A folder used to run one lane per core, each lane encoding `rows` images and then decoding them
together. Both lanes then held a group's image keys and values at once (14.5 MB per image on the
full model), so memory allowed 4 rows per lane. Here the work is shared out instead: every worker
(one per core, on one-thread sessions) encodes images, and at most `workers // 2` groups decode
at a time (one on two cores), so the same memory holds one group of twice the rows, and each
weight pass serves twice the images. Decoding one group takes far less time than encoding its
images (full model, one thread: 8 images encode in about 950 ms, decode in about 560), so the
decoding worker never waits long and no core idles. At the end of a stream the last group is
split over the free workers, so that both cores finish together.

Results come out in input order; a None in place of pixels passes through; an encoder result
that is not an `Encoded` (a guarded captioner's failed image, jobs/guarded.py) is that image's
result. Every caption is the one the image gets alone (the rows graph's derive check).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from .captioner_rows import Encoded
from .decoding import CancelFlag
from .errors import Cancelled

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    """One item of the stream, from its encoder to its result."""

    tag: T
    source: str
    encoding: Future[Any] | None = None
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass
class _State(Generic[T]):
    entries: deque[_Entry[T]] = field(default_factory=deque)  # not handed out yet, in order
    ready: list[tuple[_Entry[T], Encoded]] = field(default_factory=list)  # encoded, no group yet
    decoding: dict[Future[Any], list[_Entry[T]]] = field(default_factory=dict)
    exhausted: bool = False

    def encoding(self) -> list[_Entry[T]]:
        return [e for e in self.entries if e.encoding is not None]

    def busy(self) -> int:
        """Tasks the workers run or have queued."""
        return len(self.encoding()) + len(self.decoding)


def grouped_stream(
    captioner: Any,
    items: Iterable[tuple[T, np.ndarray | None, str]],
    *,
    workers: int,
    rows: int,
    max_new_tokens: int | None = None,
    cancel: CancelFlag | None = None,
) -> Iterator[tuple[T, Any]]:
    """`(tag, caption)` for each `(tag, pixel_values or None, source)`, in order, greedy;
    `captioner` has `encode_rows` and `decode_rows` (engine/captioner_rows.py). Stops quietly on
    `cancel`: what finished before is handed out, the first result the cancel interrupted ends
    the stream. Other errors are raised when their image's turn comes."""
    workers = max(1, workers)
    groups = max(1, workers // 2)
    s: _State[T] = _State()
    source = iter(items)
    with ThreadPoolExecutor(workers, thread_name_prefix="nanocaption-lane") as pool:
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    s.exhausted = True
                else:
                    _feed(s, source, pool, captioner, workers, rows * (groups + 1), cancel)
                _collect(s)
                _start(s, pool, captioner, workers, groups, rows, max_new_tokens, cancel)
                while s.entries and s.entries[0].done:
                    e = s.entries.popleft()
                    if isinstance(e.error, Cancelled):
                        return
                    if e.error is not None:
                        raise e.error
                    yield e.tag, e.result
                if s.exhausted and not s.entries:
                    return
                pending = [e.encoding for e in s.encoding()] + list(s.decoding)
                if pending and not _room(s, workers, rows * (groups + 1)):
                    wait([f for f in pending if f is not None], return_when=FIRST_COMPLETED)
        finally:
            for e in s.entries:
                if e.encoding is not None:
                    e.encoding.cancel()
            for f in s.decoding:
                f.cancel()


def _room(s: _State[Any], workers: int, ahead: int) -> bool:
    """Whether another item could be taken now (else wait for a task)."""
    return not s.exhausted and s.busy() < workers and len(s.encoding()) + len(s.ready) < ahead


def _feed(
    s: _State[T],
    source: Iterator[tuple[T, np.ndarray | None, str]],
    pool: ThreadPoolExecutor,
    captioner: Any,
    workers: int,
    ahead: int,
    cancel: CancelFlag | None,
) -> None:
    """Take items while a worker is free and fewer than `ahead` images wait for a group."""
    while _room(s, workers, ahead):
        try:
            tag, pixels, name = next(source)
        except StopIteration:
            s.exhausted = True
            return
        e: _Entry[T] = _Entry(tag, name)
        if pixels is None:
            e.done = True
        else:
            e.encoding = pool.submit(captioner.encode_rows, pixels, source=name, cancel=cancel)
        s.entries.append(e)


def _collect(s: _State[Any]) -> None:
    """Finished encoders to `ready` (or to their result); finished groups to their results."""
    for e in s.encoding():
        f = e.encoding
        if f is None or not f.done():
            continue
        e.encoding = None
        try:
            out = f.result()
        except BaseException as err:  # noqa: BLE001 - handed out in the image's turn
            e.error, e.done = err, True
            continue
        if isinstance(out, Encoded):
            s.ready.append((e, out))
        else:
            e.result, e.done = out, True
    for f in [f for f in s.decoding if f.done()]:
        group = s.decoding.pop(f)
        try:
            results = list(f.result())
        except BaseException as err:  # noqa: BLE001 - handed out in the images' turn
            for e in group:
                e.error, e.done = err, True
            continue
        for e, r in zip(group, results, strict=True):
            e.result, e.done = r, True


def _start(
    s: _State[Any],
    pool: ThreadPoolExecutor,
    captioner: Any,
    workers: int,
    groups: int,
    rows: int,
    max_new_tokens: int | None,
    cancel: CancelFlag | None,
) -> None:
    """Start groups of `rows` encoded images while fewer than `groups` decode; the last images
    of the stream as soon as they are encoded, split over the workers when nothing else runs."""
    while s.ready and len(s.decoding) < groups:
        last = s.exhausted and not s.encoding()
        if len(s.ready) < rows and not last:
            return
        take, s.ready = s.ready[:rows], s.ready[rows:]
        parts = [take]
        if last and not s.ready and not s.decoding and workers > 1 and len(take) > 1:
            n = min(workers, len(take))
            size = -(-len(take) // n)
            parts = [take[k : k + size] for k in range(0, len(take), size)]
        for part in parts:
            fut = pool.submit(
                captioner.decode_rows,
                [enc for _, enc in part],
                max_new_tokens=max_new_tokens,
                cancel=cancel,
            )
            s.decoding[fut] = [e for e, _ in part]
