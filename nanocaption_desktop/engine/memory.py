"""Memory a folder batch gives back: large blocks returned to the system when freed.

glibc's malloc serves a block of at least its mmap threshold with its own mapping, returned to
the system on free, and anything smaller from heaps that keep freed memory resident. The
threshold starts at 128 KiB and follows every large block freed (up to 32 MiB): once a batch
has freed an image's keys/values (14.5 MB on the full model), blocks of that size stay in the
heaps, and so do the large buffers onnxruntime reads and re-lays out while sessions load.
Fixing the threshold at 1 MiB keeps it there. Measured on the full INT8 model, 32 images,
2 lanes x 4 rows (docs/performance.md, "Where a folder's memory goes"): with the sessions'
memory arenas off as well, peak RSS 648-655 -> 560-572 MB; either alone gives 15-40 MB.

The setting is process-wide, so it is made only by folder mode (`Captioner.load(...,
rows_graph=True)`), only on glibc, and never over a threshold the user set
(`MALLOC_MMAP_THRESHOLD_`, or `GLIBC_TUNABLES` naming `glibc.malloc.mmap_threshold`). It
changes where blocks come from, never their contents: every caption is the same.

`give_back` (glibc's `malloc_trim`) returns the freed pages of every heap before a group's image
keys and values are allocated (engine/captioner_rows.py): each worker thread has a heap of its
own, and what the encoders freed there (their activations under the threshold: 605 KB tensors)
stayed resident, 60-70 MB over two workers. With it, a folder of groups of 8 peaks at 552-563
MB instead of 585-607 (the encoder prepacked), at no measurable cost in images/s; one heap for
every thread (`M_ARENA_MAX` 1) saved as much but cost 6-8% in images/s (the threads then
share one lock). (Figures with the weights inline in the graphs; since they are in data files,
derive/external.py, groups of 8 peak at 548 MB: docs/performance.md.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

#: blocks of at least this many bytes get their own mapping, given back when freed
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_lock = threading.Lock()
_done: list[bool] = []


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at `MMAP_THRESHOLD` (once per process); True if it is set
    (now or before), False where it does not apply (not glibc, or the user's own setting)."""
    with _lock:
        if not _done:
            _done.append(_set_threshold())
        return _done[0]


def user_threshold() -> bool:
    """True when the environment already sets glibc's mmap threshold."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return "MALLOC_MMAP_THRESHOLD_" in os.environ or "mmap_threshold" in tunables


@functools.cache
def libc_name() -> str:
    """The C library's file, looked up once (`find_library` runs a subprocess)."""
    return ctypes.util.find_library("c") or "libc.so.6"


def _set_threshold() -> bool:
    if not sys.platform.startswith("linux") or user_threshold():
        return False
    try:
        libc = ctypes.CDLL(libc_name())
        mallopt = libc.mallopt  # glibc only (musl has none)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    log.debug("glibc mmap threshold %d: %s", MMAP_THRESHOLD, "set" if ok else "refused")
    return ok


def give_back() -> None:
    """Return the freed pages of every malloc heap to the system (glibc's `malloc_trim`), where
    the threshold is set (folder mode): before a group's image keys and values are allocated."""
    if not (_done and _done[0]):
        return
    try:
        trim = ctypes.CDLL(libc_name()).malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
