"""Waiting for a decode worker's reply without taking a pause for a hang.

The time limit of a decode is processor time, counted by the kernel in the worker itself
(``decode_worker``: ``ITIMER_PROF``; a worker past it ends with ``SIGPROF``). A pause (Ctrl+Z,
``SIGSTOP``, a laptop asleep) uses no processor time, so it never fails an image.

A decoder stuck in a blocking wait uses no processor time either, so the parent also gives up
on a worker that has made no progress for ``stuck_after`` seconds. "No progress" counts only
time in which this process was running (a gap much longer than one poll means this process
was stopped or the machine slept: not counted), the worker was not stopped, and, where
``/proc`` shows it (Linux), the worker's processor time did not grow. Elsewhere every awake
second counts, so ``stuck_after`` should be generous. Without a processor-time limit in the
worker (Windows), the same clock measures ``limit`` instead: pauses still never count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

SLICE = 0.25  # seconds per poll; a reply is seen at once, this only paces the bookkeeping


@dataclass(frozen=True)
class Sample:
    stopped: bool  # stopped by a signal (T) or a debugger (t)
    cpu_ticks: int  # user + system time, in clock ticks


def sample(pid: int) -> Sample | None:
    """The worker's state from ``/proc/<pid>/stat``, or None where there is no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(b")") + 2 :].split()  # after "pid (comm) "; comm may have spaces
    return Sample(fields[0] in (b"T", b"t"), int(fields[11]) + int(fields[12]))


def wait_for_reply(conn: Connection, pid: int, give_up_after: float) -> bool:
    """True as soon as ``conn`` has something to read (a reply, or end of file when the worker
    died); False once the worker has made no progress for ``give_up_after`` seconds."""
    stalled = 0.0
    last = sample(pid)
    while True:
        start = time.monotonic()
        if conn.poll(SLICE):
            return True
        counted = min(time.monotonic() - start, 2 * SLICE)  # longer: we were paused ourselves
        now = sample(pid)
        if now is not None and last is not None:
            if now.stopped:
                counted = 0.0
            elif now.cpu_ticks != last.cpu_ticks:
                stalled = counted = 0.0  # working: only a processor-time limit applies
        last = now
        stalled += counted
        if stalled >= give_up_after:
            return False
