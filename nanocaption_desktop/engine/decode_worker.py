"""The worker side of ``isolation.DecodePool``: runs in a spawned process, one request at a time.

Protocol on a duplex pipe: the worker sends ``("ready", pid, capped, cpu_limited)`` once, then
for every request ``(kind, label, (src_kind, src), extra)`` answers ``("ok", meta, nbytes)``
followed by the payload bytes, or ``("error", reason, restart)``; ``None`` asks it to exit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from PIL import Image

from .errors import ImageError
from .images import load_image
from .preprocess import PreprocessConfig, preprocess


@dataclass(frozen=True)
class Preview:
    """A small RGB rendering for display: ``rgb`` is ``width*height*3`` bytes, top row first."""

    width: int
    height: int
    rgb: bytes


def make_preview(img: Image.Image, max_side: int) -> Preview:
    thumb = img.copy()
    thumb.thumbnail((max(1, max_side), max(1, max_side)))
    return Preview(thumb.width, thumb.height, thumb.tobytes())


def _limit_memory(memory_mb: int | None) -> bool:
    """Cap this process's address space at its current size + ``memory_mb`` (Linux only)."""
    if memory_mb is None or not sys.platform.startswith("linux"):
        return False
    import resource

    with open("/proc/self/statm") as f:
        current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + memory_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return True


ORPHANED = 75  # exit code of a worker whose parent went away mid-request


def _fault(action: str, memory_mb: int | None) -> None:
    if action == "crash":
        os._exit(70)
    if action == "hang":  # blocked, using no processor time
        threading.Event().wait()
    if action == "spin":  # a loop using all the processor time it gets
        while True:
            pass
    if action == "hog":
        hog = bytearray((memory_mb or 64) * 2 * 2**20)
        hog[::4096] = b"x" * len(hog[::4096])
    if action.startswith("gate:"):  # wait until a test writes a byte to this FIFO
        with open(action[5:], "rb") as gate:
            gate.read(1)


def _cpu_limit(seconds: float) -> bool:
    """Arm (or with 0 disarm) this request's processor-time limit: past it the kernel ends the
    process with SIGPROF (its default action), even inside a C loop and with no parent left to
    do it. A pause uses no processor time, so it never counts (POSIX; False elsewhere)."""
    if not hasattr(signal, "ITIMER_PROF"):
        return False
    signal.setitimer(signal.ITIMER_PROF, seconds)
    return True


class _Lifeline:
    """Ends the worker when its parent goes away mid-request. While a request runs the parent
    sends nothing, so the pipe turning readable means end of file: the parent died or closed
    it. (A decoder stuck in a blocking wait uses no processor time: the limit above would
    never end it.)"""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._busy = threading.Event()
        self._request = 0
        threading.Thread(target=self._watch, name="nanocaption-lifeline", daemon=True).start()

    def begin(self) -> None:
        self._request += 1
        self._busy.set()

    def end(self) -> None:
        self._busy.clear()

    def _watch(self) -> None:
        while True:
            self._busy.wait()
            request = self._request
            try:
                readable = self._conn.poll(0.5)
            except (OSError, ValueError):
                readable = True
            if readable and self._busy.is_set() and self._request == request:
                os._exit(ORPHANED)


def worker_main(
    conn: Connection,
    cfg: PreprocessConfig,
    memory_mb: int | None,
    faults: dict[str, str],
    timeout: float = 0.0,
    max_megapixels: float | None = None,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the parent (graceful cancel)
    if hasattr(signal, "SIGPROF"):
        signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the processor-time limit ends us
    lifeline = _Lifeline(conn)  # before the memory cap: its thread's stack is in the baseline
    capped = _limit_memory(memory_mb)
    conn.send(("ready", os.getpid(), capped, _cpu_limit(0)))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        kind, label, (src_kind, src), extra = msg
        lifeline.begin()
        _cpu_limit(timeout)
        try:
            if label in faults:
                _fault(faults[label], memory_mb)
            source = os.fsdecode(src) if src_kind == "path" else src  # bytes are data, not names
            need = max(cfg.height, cfg.width, extra if kind == "both" else 0)
            at_least = extra if kind == "preview" else None  # a preview alone: any JPEG shrinks
            img = load_image(
                source, name=label, at_least=at_least, need=need, max_megapixels=max_megapixels
            )
            chunks: list[bytes | memoryview] = []
            meta: Any = None
            if kind in ("prepare", "both"):
                arr = np.ascontiguousarray(preprocess([img], cfg))
                chunks.append(arr.data.cast("B"))
                meta = (arr.shape, arr.dtype.str)
            if kind in ("preview", "both"):
                pv = make_preview(img, extra)
                chunks.append(pv.rgb)
                meta = (pv.width, pv.height) if meta is None else (*meta, (pv.width, pv.height))
            del img
            _cpu_limit(0)
            lifeline.end()
            conn.send(("ok", meta, sum(len(c) for c in chunks)))
            conn.send_bytes(b"".join(chunks) if len(chunks) > 1 else chunks[0])
        except BaseException as e:  # noqa: BLE001 - every failure is reported, never raised
            _cpu_limit(0)
            lifeline.end()
            out_of_memory = isinstance(e, MemoryError) or isinstance(e.__cause__, MemoryError)
            if out_of_memory:
                reason = (
                    f"could not decode: needs more than {memory_mb} MB"
                    if capped
                    else "could not decode: not enough memory"
                )
            elif isinstance(e, ImageError):
                reason = e.reason
            else:
                reason = f"could not decode ({type(e).__name__}: {e})"
            try:
                conn.send(("error", reason, out_of_memory))
            except (OSError, ValueError):
                return
            if out_of_memory or not isinstance(e, Exception):
                return  # start afresh: the parent replaces this worker
