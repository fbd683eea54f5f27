"""Captions for a stream of images, keeping every core busy; each caption as if alone.

Images are never stacked into one batch (INT8 dynamic quantization shares one scale per tensor
across a batch, which would make a caption depend on its neighbours). Instead, when the sessions
use fewer threads than there are cores (`Captioner.load(..., threads=1)` on two cores),
`cores // threads` images are captioned at once on the same sessions, one per worker thread
(onnxruntime runs one session from several threads; the weights are not duplicated). When the
sessions use every core already, images go one after the other.

Measured on the full INT8 model, 32 images, 2 cores (tests/benchmarks/bench_speed.py): a plain
loop on 2-thread sessions 1.83 images/s; two lanes on 1-thread sessions 2.17; the next image's
encoder overlapping the current image's decoding on 2-thread sessions 1.26 (four busy threads on
two cores), so that strategy was dropped.

Results come out in input order. Each image gets exactly the computation it gets alone (the same
graphs, one image per run), so its tokens are the same; tests check that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

import numpy as np

from .caption import Caption
from .decoding import CancelFlag
from .errors import Cancelled
from .groups import grouped_stream
from .sessions import physical_cores

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


class PixelCaptioner(Protocol):
    """What a stream needs of a captioner: `Captioner`, or a wrapper around one (jobs/batch.py
    turns one image's unexpected failure into that image's failed result)."""

    def caption_pixels(
        self,
        pixels: np.ndarray,
        /,
        *,
        source: str = ...,
        beams: int | None = ...,
        max_new_tokens: int | None = ...,
        cancel: CancelFlag | None = ...,
    ) -> Caption: ...


def session_threads(captioner: object) -> int:
    """The decoder's threads: the sessions a caption spends most of its time in."""
    threads = getattr(captioner, "threads", None)
    return max(1, threads) if isinstance(threads, int) else physical_cores()


def lanes_for(captioner: object) -> int:
    """How many images to caption at once: the cores the sessions leave unused, at least 1."""
    return max(1, physical_cores() // session_threads(captioner))


def caption_stream(
    captioner: PixelCaptioner,
    items: Iterable[tuple[T, np.ndarray | None, str]],
    *,
    beams: int | None = None,
    max_new_tokens: int | None = None,
    cancel: CancelFlag | None = None,
    lanes: int | None = None,
    rows: int = 1,
) -> Iterator[tuple[T, Caption | None]]:
    """`(tag, caption)` for each `(tag, pixel_values [1,3,H,W] or None, source)`, in order.

    A None in place of pixels passes through as `(tag, None)` (an image that failed to load, or
    one already done). Stops quietly when `cancel` is set; `ModelError` propagates.
    `rows` > 1 (greedy only): up to that many images decoded together, one weight pass per step
    for all (engine/rows.py): one group decodes while the other workers encode (a captioner with
    `encode_rows` and `decode_rows`, engine/groups.py), or each lane encodes and decodes its own
    group (one with `caption_rows` only); each caption is still the one the image gets alone."""
    n = lanes_for(captioner) if lanes is None else max(1, lanes)
    group = getattr(captioner, "caption_rows", None)
    if rows > 1 and _greedy(captioner, beams) and _can_group(captioner):
        # one group decodes while the other workers encode (engine/groups.py)
        try:
            yield from grouped_stream(
                captioner, items, workers=n, rows=rows, max_new_tokens=max_new_tokens, cancel=cancel
            )
        finally:
            _release_rows(captioner)
    elif rows > 1 and group is not None and _greedy(captioner, beams):
        yield from _grouped(group, items, n, rows, max_new_tokens, cancel)
    elif n > 1:

        def one(pixels: np.ndarray, source: str) -> Caption:
            return captioner.caption_pixels(
                pixels, source=source, beams=beams, max_new_tokens=max_new_tokens, cancel=cancel
            )

        yield from _lanes(one, items, n, cancel)
    else:
        yield from _loop(captioner, items, beams, max_new_tokens, cancel)


def _can_group(captioner: object) -> bool:
    """Whether `captioner` encodes and decodes groups apart (`encode_rows`, `decode_rows`) on a
    rows graph: without one, a group would decode one image at a time on one worker."""
    if not (hasattr(captioner, "encode_rows") and hasattr(captioner, "decode_rows")):
        return False
    rows_decoder = getattr(captioner, "rows_decoder", None)
    return rows_decoder is None or rows_decoder() is not None


def _release_rows(captioner: object) -> None:
    """The stream has ended: the rows decoder lets go of the arrays it kept between groups
    (engine/rows.py), which a window's captioner would otherwise hold until the next batch."""
    rows_decoder = getattr(captioner, "rows_decoder", None)
    found = rows_decoder() if rows_decoder is not None else None
    release = getattr(found, "release", None)
    if release is not None:
        release()


def _greedy(captioner: object, beams: int | None) -> bool:
    if beams is not None:
        return beams == 1
    settings = getattr(captioner, "settings", None)
    return getattr(settings, "num_beams", 0) == 1


def _grouped(
    group: Callable[..., list[Caption]],
    items: Iterable[tuple[T, np.ndarray | None, str]],
    lanes: int,
    rows: int,
    max_new_tokens: int | None,
    cancel: CancelFlag | None,
) -> Iterator[tuple[T, Caption | None]]:
    """Groups of up to `rows` images per lane; each group's items come out in order."""

    def run(batch: list[tuple[T, np.ndarray | None, str]]) -> list[tuple[T, Caption | None]]:
        todo = [(p, src) for _, p, src in batch if p is not None]
        caps = iter(
            group(
                [p for p, _ in todo],
                sources=[src for _, src in todo],
                max_new_tokens=max_new_tokens,
                cancel=cancel,
            )
            if todo
            else []
        )
        return [(tag, None if p is None else next(caps)) for tag, p, _ in batch]

    def batches() -> Iterator[tuple[int, list[tuple[T, np.ndarray | None, str]], str]]:
        batch: list[tuple[T, np.ndarray | None, str]] = []
        for item in items:
            batch.append(item)
            if sum(p is not None for _, p, _ in batch) == rows:
                yield 0, batch, ""
                batch = []
        if batch:
            yield 0, batch, ""

    for _, out in _lanes(lambda b, _src: run(b), batches(), lanes, cancel):
        yield from out or []


def _stopped(cancel: CancelFlag | None) -> bool:
    return cancel is not None and cancel.is_set()


def _lanes(
    one: Callable[[P, str], R],
    items: Iterable[tuple[T, P | None, str]],
    n: int,
    cancel: CancelFlag | None,
) -> Iterator[tuple[T, R | None]]:
    pending: deque[tuple[T, Future[R] | None]] = deque()
    with ThreadPoolExecutor(n, thread_name_prefix="nanocaption-lane") as pool:
        try:
            for tag, pixels, source in items:
                if _stopped(cancel):
                    break
                pending.append((tag, None if pixels is None else pool.submit(one, pixels, source)))
                while pending and (pending[0][1] is None or len(pending) > 2 * n):
                    out = _pop(pending)
                    if out is None:
                        return
                    yield out
            # in order: what finished before a cancel is still handed out (and so written);
            # the first caption the cancel interrupted ends the stream
            while pending:
                out = _pop(pending)
                if out is None:
                    return
                yield out
        finally:
            for _, f in pending:
                if f is not None:
                    f.cancel()


def _pop(pending: deque[tuple[T, Future[R] | None]]) -> tuple[T, R | None] | None:
    tag, fut = pending.popleft()
    if fut is None:
        return tag, None
    try:
        return tag, fut.result()
    except Cancelled:
        return None


def _loop(
    captioner: PixelCaptioner,
    items: Iterable[tuple[T, np.ndarray | None, str]],
    beams: int | None,
    max_new_tokens: int | None,
    cancel: CancelFlag | None,
) -> Iterator[tuple[T, Caption | None]]:
    for tag, pixels, source in items:
        if _stopped(cancel):
            return
        if pixels is None:
            yield tag, None
            continue
        try:
            cap = captioner.caption_pixels(
                pixels, source=source, beams=beams, max_new_tokens=max_new_tokens, cancel=cancel
            )
        except Cancelled:
            return
        yield tag, cap
