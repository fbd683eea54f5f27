"""Decode untrusted images in worker processes, so a crash, hang or memory blow-up costs one file.

``DecodePool`` keeps 1-2 spawned worker processes (started once, reused). Each request runs
``load_image`` + ``preprocess`` (or makes a preview) in a worker under a per-file time limit and,
on Linux, a memory cap (``RLIMIT_AS`` = the worker's address space after start-up + ``memory_mb``).
A worker that crashes, hangs or runs out of memory is replaced and the caller gets
``ImageError(name, "could not decode: the decoder crashed" | "took longer than N s of processor
time" | "stuck: no progress for N s" | "needs more than N MB")``.

The time limit (``timeout``) is processor time, enforced by the kernel in the worker
(decode_worker.py), so a pause of the app (Ctrl+Z, a laptop asleep) never fails an image; a
worker stuck in a blocking wait (no processor time) is given up after ``stuck_after`` seconds
of no progress, counted so that pauses do not count either (worker_clock.py).

Other systems: Windows gets crash isolation and ``timeout`` as a pause-proof wall-clock limit,
macOS the processor-time limit; neither a hard memory cap (``RLIMIT_AS`` is not enforced
there); Pillow's pixel limit still bounds what one image may need.
A frozen executable must call ``multiprocessing.freeze_support()`` first thing in its entry point.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import weakref
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from PIL import Image

from .decode_worker import Preview, make_preview, worker_main
from .errors import ImageError
from .images import ImageSource, checked_megapixels, load_image, source_name
from .preprocess import PreprocessConfig, preprocess
from .spawning import spawn_context
from .worker_clock import wait_for_reply

log = logging.getLogger(__name__)

# seconds without progress for a fresh worker to import numpy and Pillow (pauses do not count)
_STARTUP_TIMEOUT = 120.0


class _Worker:
    def __init__(self, ctx: Any, args: tuple[Any, ...]) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(
            target=worker_main, args=(child, *args), name="nanocaption-decode", daemon=True
        )
        self.proc.start()
        child.close()
        self.conn: Connection = parent
        self.ready = False
        self.cpu_limited = False  # the worker enforces the time limit in processor time

    def stop(self, *, kill: bool = False) -> None:
        try:
            if not kill and self.proc.is_alive():
                self.conn.send(None)
                self.proc.join(2.0)
        except (OSError, ValueError):
            pass
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5.0)
        self.conn.close()


def _ended_by(worker: _Worker, signame: str) -> bool:
    """Whether the worker's process ended (or is ending) by that signal."""
    number = getattr(signal, signame, None)
    if number is None:
        return False
    worker.proc.join(5.0)  # its end of the pipe closed: it is exiting
    return worker.proc.exitcode == -number


def _stop_all(workers: list[_Worker]) -> None:
    for w in list(workers):
        w.stop()
    workers.clear()


class DecodePool:
    """Worker processes that decode + preprocess images. Thread-safe; one request per worker."""

    def __init__(
        self,
        preprocess_config: PreprocessConfig,
        *,
        workers: int = 1,
        timeout: float = 30.0,
        memory_mb: int | None = 1536,
        stuck_after: float | None = None,
        max_megapixels: float | None = None,
        _faults: Mapping[str, str] | None = None,
    ) -> None:
        """``timeout``: seconds of processor time per image; ``stuck_after`` (default the
        larger of 60 s and twice ``timeout``): seconds without any progress;
        ``max_megapixels``: the largest image decoded (``load_image``)."""
        if not 1 <= workers <= 8:
            raise ValueError("workers must be between 1 and 8")
        self.config = preprocess_config
        self.timeout = float(timeout)
        self.stuck_after = float(stuck_after) if stuck_after else max(60.0, 2 * self.timeout)
        self.memory_mb = memory_mb
        # _faults (tests only): {source name: "crash" | "hang" | "spin" | "hog" | "gate:FIFO"}
        # makes the worker really exit, block, loop, allocate or wait for a test's byte.
        self.max_megapixels = checked_megapixels(max_megapixels)
        faults = dict(_faults or {})
        self._args = (preprocess_config, memory_mb, faults, self.timeout, self.max_megapixels)
        self._ctx = spawn_context()
        self._cond = threading.Condition()
        self._closed = False
        self._all: list[_Worker] = [_Worker(self._ctx, self._args) for _ in range(workers)]
        self._idle = list(self._all)
        self._finalizer = weakref.finalize(self, _stop_all, self._all)
        self.replaced = 0  # workers replaced after a crash, hang or memory blow-up

    # -- public API ------------------------------------------------------------------------
    def prepare(self, source: ImageSource, *, name: str | None = None) -> np.ndarray:
        """Decode + preprocess in a worker: float32 ``[1, 3, H, W]``. Raises ``ImageError``."""
        label = name if name is not None else source_name(source)
        if isinstance(source, Image.Image):  # already in this process: nothing to isolate
            img = load_image(source, name=label, max_megapixels=self.max_megapixels)
            return preprocess([img], self.config)
        meta, payload = self._request("prepare", source, label, None)
        shape, dtype = meta
        return np.frombuffer(payload, dtype=dtype).reshape(shape)

    def preview(
        self, source: ImageSource, max_side: int = 512, *, name: str | None = None
    ) -> Preview:
        """An upright RGB thumbnail (at most ``max_side`` pixels a side), decoded in a worker."""
        label = name if name is not None else source_name(source)
        if isinstance(source, Image.Image):
            img = load_image(
                source, name=label, at_least=max_side, max_megapixels=self.max_megapixels
            )
            return make_preview(img, max_side)
        meta, payload = self._request("preview", source, label, int(max_side))
        return Preview(meta[0], meta[1], bytes(payload))

    def prepare_with_preview(
        self, source: ImageSource, max_side: int = 512, *, name: str | None = None
    ) -> tuple[np.ndarray, Preview]:
        """Both at once from one decode (what the window wants for a dropped file)."""
        label = name if name is not None else source_name(source)
        if isinstance(source, Image.Image):
            img = load_image(source, name=label, max_megapixels=self.max_megapixels)
            return preprocess([img], self.config), make_preview(img, max_side)
        meta, payload = self._request("both", source, label, int(max_side))
        shape, dtype, (w, h) = meta
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        pixels = np.frombuffer(payload[:n], dtype=dtype).reshape(shape)
        return pixels, Preview(w, h, bytes(payload[n:]))

    def close(self) -> None:
        """Stop the workers (a request in progress finishes first)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for w in idle:
            w.stop()
            self._forget(w)

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------
    def _request(
        self, kind: str, source: ImageSource, label: str, extra: Any
    ) -> tuple[Any, bytearray]:
        if isinstance(source, (bytes, bytearray, memoryview)):
            src: tuple[str, Any] = ("data", bytes(source))
        elif isinstance(source, (str, os.PathLike)):
            src = ("path", os.fspath(source))
        elif hasattr(source, "read"):
            try:
                src = ("data", source.read())
            except Exception as e:
                raise ImageError(label, f"could not read the file ({e})") from e
        else:
            raise ImageError(label, f"cannot read an image from a {type(source).__name__}")
        worker = self._checkout(label)
        try:
            if not worker.proc.is_alive():  # died while idle (killed from outside)
                worker = self._replace(worker, "found dead")
            self._wait_ready(worker)
            worker.conn.send((kind, label, src, extra))
            limited = worker.cpu_limited
            give_up = self.stuck_after if limited else self.timeout
            if not wait_for_reply(worker.conn, worker.proc.pid or 0, give_up):
                worker = self._replace(worker, f"{label}: no progress")
                reason = "stuck: no progress for" if limited else "took longer than"
                raise ImageError(label, f"could not decode: {reason} {give_up:g} s")
            status, meta, size_or_restart = worker.conn.recv()
            if status != "ok":
                if size_or_restart:  # the worker ran out of memory and exits: start a fresh one
                    worker = self._replace(worker, f"{label}: out of memory")
                raise ImageError(label, meta)
            size = int(size_or_restart)
            payload = bytearray(size)
            if size:
                worker.conn.recv_bytes_into(payload)
            return meta, payload
        except (EOFError, OSError) as e:
            over_time = _ended_by(worker, "SIGPROF")  # the processor-time limit (worker side)
            worker = self._replace(worker, f"{label}: {'over time' if over_time else 'crashed'}")
            if over_time:
                reason = f"took longer than {self.timeout:g} s of processor time"
                raise ImageError(label, f"could not decode: {reason}") from e
            raise ImageError(label, "could not decode: the decoder crashed") from e
        finally:
            self._checkin(worker)

    def _wait_ready(self, worker: _Worker) -> None:
        if worker.ready:
            return
        if not wait_for_reply(worker.conn, worker.proc.pid or 0, _STARTUP_TIMEOUT):
            raise EOFError("the decoder process did not start")
        msg = worker.conn.recv()
        if msg[0] != "ready":
            raise EOFError(f"unexpected message from the decoder: {msg!r}")
        worker.ready, worker.cpu_limited = True, bool(msg[3])

    def _checkout(self, label: str) -> _Worker:
        with self._cond:
            while not self._idle and not self._closed:
                self._cond.wait()
            if self._closed:
                raise ImageError(label, "could not decode: the decoder pool is closed")
            return self._idle.pop()

    def _checkin(self, worker: _Worker) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
        worker.stop()
        self._forget(worker)

    def _replace(self, worker: _Worker, why: str) -> _Worker:
        log.warning("decode worker %s replaced (%s)", worker.proc.pid, why)
        worker.stop(kill=True)
        try:
            fresh = _Worker(self._ctx, self._args)
        except Exception:  # could not start a process: keep the dead one, retry next time
            log.exception("could not start a decode worker")
            return worker
        with self._cond:
            self._all[self._all.index(worker)] = fresh
            self.replaced += 1
        return fresh

    def _forget(self, worker: _Worker) -> None:
        with self._cond:
            if worker in self._all:
                self._all.remove(worker)
