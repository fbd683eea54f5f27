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
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

import numpy as np

from .caption import Caption
from .decoding import CancelFlag
from .errors import Cancelled
from .sessions import physical_cores

T = TypeVar("T")


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
) -> Iterator[tuple[T, Caption | None]]:
    """`(tag, caption)` for each `(tag, pixel_values [1,3,H,W] or None, source)`, in order.

    A None in place of pixels passes through as `(tag, None)` (an image that failed to load, or
    one already done). Stops quietly when `cancel` is set; `ModelError` propagates."""
    n = lanes_for(captioner) if lanes is None else max(1, lanes)
    if n > 1:
        yield from _lanes(captioner, items, n, beams, max_new_tokens, cancel)
    else:
        yield from _loop(captioner, items, beams, max_new_tokens, cancel)


def _stopped(cancel: CancelFlag | None) -> bool:
    return cancel is not None and cancel.is_set()


def _lanes(
    captioner: PixelCaptioner,
    items: Iterable[tuple[T, np.ndarray | None, str]],
    n: int,
    beams: int | None,
    max_new_tokens: int | None,
    cancel: CancelFlag | None,
) -> Iterator[tuple[T, Caption | None]]:
    def one(pixels: np.ndarray, source: str) -> Caption:
        return captioner.caption_pixels(
            pixels, source=source, beams=beams, max_new_tokens=max_new_tokens, cancel=cancel
        )

    pending: deque[tuple[T, Future[Caption] | None]] = deque()
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


def _pop(pending: deque[tuple[T, Future[Caption] | None]]) -> tuple[T, Caption | None] | None:
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
