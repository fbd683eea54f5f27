"""The weights onnxruntime holds, moved onto 2 MB pages: a token's step reads every weight once,
and on 4 KB pages that costs a TLB miss every 4 KB (issue 18, fourth pass).

onnxruntime re-lays the weights out when a session is created (prepacking) into memory of its own
allocator, which glibc serves on 4 KB pages: Linux's transparent huge pages are only used on
request (`/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` on most distributions), and
nothing in onnxruntime asks. This module asks after the fact: each 2 MB range of the memory a
captioner came to hold (`SessionPages`) whose pages are all present is collapsed in place into
one huge page (`madvise(MADV_COLLAPSE)`, Linux 6.1 and later), from the captioner's second image
on, by a background thread of the lowest priority. The contents do not change, so neither does
any caption; a range with a page missing (or mapping the shared zero page) is left alone, so no
memory is added.

Measured on the full INT8 model (docs/performance.md, "Issue 18, fourth pass"): the step's 73
products alone, one row, one thread, 8.9 -> 8.3 ms (the session's memory) and 10.1 -> 8.3 ms
(the whole process's); one caption on 2 threads about 214 -> 193 ms.

Where it does not apply (not Linux, an older kernel, huge pages turned off) it does nothing;
NANOCAPTION_HUGE_PAGES=0 turns it off.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import mmap
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .memory import libc_name

log = logging.getLogger(__name__)

PAGE = mmap.PAGESIZE


def _huge_size() -> int:
    """The size of a transparent huge page (2 MB on x86-64)."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", encoding="ascii") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 2 << 20


HUGE = _huge_size()
MADV_COLLAPSE = 25  # linux/mman.h (6.1)
#: /proc/PID/pagemap bits: present in RAM, and mapped by this process alone (so not the shared
#: zero page that reading untouched memory maps, which a collapse would make real)
_WANTED = np.uint64((1 << 63) | (1 << 56))
_lock = threading.Lock()  # one collapse at a time
_excluded: set[int] = set()  # pages never to collapse (`excluded`)
PAUSE = 0.02  # seconds between two pages: see `schedule`


class _Background:
    """Pages asked for and not yet tried, passes asked for and run, and the thread."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.todo: list[Iterable[int] | Callable[[], Iterable[int]]] = []
        self.asked = 0
        self.done = 0
        self.thread: threading.Thread | None = None


_bg = _Background()


def enabled() -> bool:
    """Whether to collapse: Linux 6.1 or later (`MADV_COLLAPSE`), huge pages not turned off
    system-wide or by the user."""
    if not sys.platform.startswith("linux") or os.environ.get("NANOCAPTION_HUGE_PAGES") == "0":
        return False
    if _kernel() < (6, 1):
        return False
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="ascii") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


def _kernel() -> tuple[int, int]:
    """The running kernel's major and minor version ((0, 0) when unreadable)."""
    found = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def resident() -> frozenset[int]:
    """The start of each 2 MB-aligned range of the process's private anonymous memory (the heap
    included, stacks not) all of whose pages are present and this process's alone; empty where
    huge pages do not apply. Taken before and after sessions are created, the difference is
    the memory they were given: their prepacked weights."""
    if not enabled():
        return frozenset()
    found: set[int] = set()
    try:
        with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
            for lo, hi in _anonymous():
                start = (lo + HUGE - 1) // HUGE * HUGE
                end = hi // HUGE * HUGE
                if end - start >= HUGE:
                    full = _full(pagemap, start, end)
                    found.update(start + int(i) * HUGE for i in np.flatnonzero(full))
    except OSError as e:
        log.debug("huge pages: %s", e)
        return frozenset()
    return frozenset(found)


def schedule(pages: Iterable[int] | Callable[[], Iterable[int]]) -> bool:
    """Collapse `pages` (from `resident`) in the background, on a thread of the lowest priority,
    one page at a time with a pause between: collapsing takes the process's memory map lock, so
    every page fault of a caption running meanwhile waits (on this machine kind, a VM whose
    memory the host backs lazily, about 5 ms a page, 0.6 s for the full model's weights).
    Pages asked for while a pass runs are served by one more pass; a callable is called on
    that thread for them. False if there is nothing to do or it does not apply."""
    if not enabled():
        return False
    if not callable(pages):
        pages = set(pages)
        if not pages:
            return False
    with _bg.changed:
        _bg.todo.append(pages)
        _bg.asked += 1
        if _bg.thread is None or not _bg.thread.is_alive():
            _bg.thread = threading.Thread(target=_serve, name="nanocaption-hugepages", daemon=True)
            _bg.thread.start()
    return True


def settle(timeout: float | None = None) -> bool:
    """Wait until every page asked for so far has been tried (benchmarks and tests measure the
    steady state); True if so within `timeout` seconds."""
    with _bg.changed:
        return _bg.changed.wait_for(lambda: _bg.done >= _bg.asked, timeout)


def _serve() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread only
    except (OSError, AttributeError):
        pass
    while True:
        with _bg.changed:
            asked, todo = _bg.asked, _bg.todo
            _bg.todo = []
            if _bg.done >= asked:
                _bg.thread = None
                return
        try:
            for pages in todo:
                collapse(pages() if callable(pages) else pages, pause=PAUSE)
        except Exception:  # noqa: BLE001 - a speed-up only: never a traceback in the app
            log.debug("huge pages: pass failed", exc_info=True)
        finally:
            with _bg.changed:
                _bg.done = asked
                _bg.changed.notify_all()


def collapse(pages: Iterable[int], pause: float = 0.0) -> int:
    """Collapse each of `pages` (2 MB-aligned starts) whose pages are all still present into one
    huge page, in place (`madvise(MADV_COLLAPSE)`); the bytes now on huge pages (those that
    were already count too), 0 where it does not apply. A page is checked again just before:
    one that lost a page since is left alone (the kernel would fill the hole in). Safe while
    other threads use the memory."""
    madvise = _madvise() if enabled() else None
    if madvise is None:
        return 0
    with _lock:
        done = 0
        try:
            with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
                for at in sorted(set(pages) - _excluded):
                    if not _full(pagemap, at, at + HUGE).all():
                        continue
                    t0 = time.perf_counter()
                    if madvise(at, HUGE, MADV_COLLAPSE) == 0:
                        done += HUGE
                        # a page already huge returns at once; one collapsed now took work
                        if pause and time.perf_counter() - t0 > 0.0005:
                            time.sleep(pause)  # the cores left to the captions in between
        except OSError as e:
            log.debug("huge pages: %s", e)
        log.debug("huge pages: %d MB collapsed", done >> 20)
        return done


@contextlib.contextmanager
def _gained(into: set[int], lock: threading.Lock) -> Iterator[None]:
    """Around a block: the pages that became resident during it are added to `into`."""
    before = resident()
    yield
    new = resident() - before
    with lock:
        into |= new


def excluded() -> contextlib.AbstractContextManager[None]:
    """What becomes resident inside keeps its 4 KB pages (its addresses are never collapsed,
    so keep it for good): the benchmark's "lanes as filed" (tests/benchmarks/bench_speed.py)
    measure the code as issue 18 found it."""
    return _gained(_excluded, _lock)


class SessionPages:
    """The memory a captioner came to hold (its sessions' prepacked weights, and the arenas its
    first caption filled), collapsed in the background from its second image on: not at load,
    where it would slow the first caption (the cold start)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._before: frozenset[int] | None = resident()  # before any session is created
        self._pending: set[int] = set()
        self._images = 0

    def creating(self) -> contextlib.AbstractContextManager[None]:
        """Around a session opened on first use, after the captioner was created: what became
        resident meanwhile is collapsed at the next image from the second on."""
        return _gained(self._pending, self._lock)

    def image_encoded(self) -> None:
        """An image was encoded: at the second, collapse what is resident now and was not
        before the captioner was created; later, what sessions created since were given."""
        with self._lock:
            self._images += 1
            if self._images < 2:
                return
            before, self._before = self._before, None
            pages = set(self._pending)  # the set itself stays: `creating` adds to it
            self._pending.clear()
        if before is not None:
            schedule(lambda: resident() - before)
        if pages:
            schedule(pages)


@functools.cache
def _madvise() -> Any:
    """libc's madvise with its signature, or None without one."""
    try:
        fn = ctypes.CDLL(libc_name()).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def _full(pagemap: Any, start: int, end: int) -> np.ndarray:
    """Per 2 MB range in [start, end): whether all its pages are present and this process's
    alone (/proc/self/pagemap)."""
    pagemap.seek(start // PAGE * 8)
    raw = pagemap.read((end - start) // PAGE * 8)
    entries = np.frombuffer(raw, dtype=np.uint64)
    if entries.size * PAGE != end - start:
        return np.zeros((end - start) // HUGE, dtype=bool)
    return ((entries & _WANTED) == _WANTED).reshape(-1, HUGE // PAGE).all(axis=1)


def _anonymous() -> Iterator[tuple[int, int]]:
    """(start, end) of each private, writable, anonymous mapping (and the heap)."""
    with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5 or not parts[1].startswith("rw") or parts[1][3] != "p":
                continue
            if len(parts) > 5 and parts[5] != "[heap]":
                continue
            lo, _, hi = parts[0].partition("-")
            yield int(lo, 16), int(hi, 16)
