"""Decode untrusted images in worker processes, so a crash, hang or memory blow-up costs one file.

``DecodePool`` keeps 1-2 spawned worker processes (started once, reused). Each request runs
``load_image`` + ``preprocess`` (or makes a preview) in a worker under a per-file time limit and,
on Linux, a memory cap (``RLIMIT_AS`` = the worker's address space after start-up + ``memory_mb``).
A worker that crashes, hangs or runs out of memory is replaced and the caller gets
``ImageError(name, "could not decode: the decoder crashed" | "took longer than N s" |
"needs more than N MB")``.

Other systems: Windows and macOS get the time limit and crash isolation but no hard memory cap
(``RLIMIT_AS`` is not enforced there); Pillow's pixel limit still bounds what one image may need.
A frozen executable must call ``multiprocessing.freeze_support()`` first thing in its entry point.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import weakref
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from PIL import Image

from .decode_worker import Preview, make_preview, worker_main
from .errors import ImageError
from .images import ImageSource, load_image, source_name
from .preprocess import PreprocessConfig, preprocess

log = logging.getLogger(__name__)

_STARTUP_TIMEOUT = 120.0  # seconds for a fresh worker to import numpy and Pillow on a busy machine


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
        _faults: Mapping[str, str] | None = None,
    ) -> None:
        if not 1 <= workers <= 8:
            raise ValueError("workers must be between 1 and 8")
        self.config = preprocess_config
        self.timeout = float(timeout)
        self.memory_mb = memory_mb
        # _faults (tests only): {source name: "crash" | "hang" | "hog"} makes the worker really
        # exit, block or allocate when it meets that name.
        self._args = (preprocess_config, memory_mb, dict(_faults or {}), self.timeout)
        self._ctx = multiprocessing.get_context("spawn")
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
            return preprocess([load_image(source, name=label)], self.config)
        meta, payload = self._request("prepare", source, label, None)
        shape, dtype = meta
        return np.frombuffer(payload, dtype=dtype).reshape(shape)

    def preview(
        self, source: ImageSource, max_side: int = 512, *, name: str | None = None
    ) -> Preview:
        """An upright RGB thumbnail (at most ``max_side`` pixels a side), decoded in a worker."""
        label = name if name is not None else source_name(source)
        if isinstance(source, Image.Image):
            return make_preview(load_image(source, name=label, at_least=max_side), max_side)
        meta, payload = self._request("preview", source, label, int(max_side))
        return Preview(meta[0], meta[1], bytes(payload))

    def prepare_with_preview(
        self, source: ImageSource, max_side: int = 512, *, name: str | None = None
    ) -> tuple[np.ndarray, Preview]:
        """Both at once from one decode (what the window wants for a dropped file)."""
        label = name if name is not None else source_name(source)
        if isinstance(source, Image.Image):
            img = load_image(source, name=label)
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
            if not worker.conn.poll(self.timeout):
                worker = self._replace(worker, f"{label}: over the time limit")
                raise ImageError(label, f"could not decode: took longer than {self.timeout:g} s")
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
            worker = self._replace(worker, f"{label}: crashed")
            raise ImageError(label, "could not decode: the decoder crashed") from e
        finally:
            self._checkin(worker)

    def _wait_ready(self, worker: _Worker) -> None:
        if worker.ready:
            return
        if not worker.conn.poll(_STARTUP_TIMEOUT):
            raise EOFError("the decoder process did not start")
        msg = worker.conn.recv()
        if msg[0] != "ready":
            raise EOFError(f"unexpected message from the decoder: {msg!r}")
        worker.ready = True

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
