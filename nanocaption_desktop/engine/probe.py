"""Create sessions for an untrusted bundle in a throw-away process first.

A crafted ONNX file can crash onnxruntime itself (a native crash, not an exception). A bundle
that did not come with a verified manifest (a folder passed with --model) is therefore opened
once in a spawned process; if that process dies, the app reports which file did it and lives on.

Only the model is blamed for what the model did: a session that raised, or a process that died
of a crash signal (SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE; on Windows an NTSTATUS crash code)
while opening a file, is a `ModelError` ("damaged or not a model"). A probe that could not do
its job (the process did not start or failed to import, was killed by another signal, ran over
its time) is `ProbeFailed` with its own message; the trust policy never remembers it.

Time: each graph gets ``cpu_seconds`` (default 120 s) of processor time, counted by the kernel in
the child (``ITIMER_PROF``; a 250 MB model opens in 1-3 s), and the parent gives up on a child
that makes no progress at all (no processor time, a blocking wait) for ``stuck_after`` seconds
(default 60 s), counted so that a pause of the app or a laptop asleep never counts
(worker_clock.py). The old 300 s wall-clock wait both failed slow-but-working machines after a
sleep and let a child spinning on the processor run on for five minutes.

`check_before_load` is the check every bundle passes before the engine creates sessions: the
model store's trust check (modelstore/trust.py) with this probe passed in.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

from ..ground.errors import ProbeFailed
from ..modelstore.trust import check_trust
from .errors import ModelError
from .spawning import spawn_context
from .worker_clock import wait_for_reply

log = logging.getLogger(__name__)

_CRASH_SIGNALS = frozenset(
    getattr(signal, n) for n in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGILL", "SIGFPE", "SIGSYS")
    if hasattr(signal, n)
)  # fmt: skip


def _probe(paths: list[str], conn: Connection, cpu_seconds: float) -> None:  # in the child
    if hasattr(signal, "SIGPROF"):
        signal.signal(signal.SIGPROF, signal.SIG_DFL)  # over its processor time: it ends
    try:
        from .sessions import make_session
    except BaseException as e:  # noqa: BLE001 - reported: the check could not run
        conn.send(("broken", f"could not import the ONNX runtime ({type(e).__name__}: {e})"))
        return
    for path in paths:
        conn.send(("start", path))
        if hasattr(signal, "ITIMER_PROF"):
            signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
        try:
            make_session(path, threads=1)
        except ModelError as e:
            conn.send(("error", path, e.reason))
            return
        except BaseException as e:  # noqa: BLE001
            conn.send(("broken", f"the check failed ({type(e).__name__}: {e})"))
            return
    conn.send(("ok", ""))


def is_crash(exitcode: int | None) -> bool:
    """Whether a process's exit code means it crashed (not: exited, or was killed by a user)."""
    if exitcode is None:
        return False
    if exitcode < 0:
        return -exitcode in _CRASH_SIGNALS
    return sys.platform == "win32" and exitcode >= 0xC0000000  # NTSTATUS error codes


def probe_sessions(
    paths: Sequence[Path], *, cpu_seconds: float = 120.0, stuck_after: float = 60.0
) -> None:
    """Raise `ModelError` naming the file when creating its session fails or crashes the
    process; `ProbeFailed` when the check itself could not be done."""
    current = str(paths[0]) if paths else "model"
    ctx = spawn_context()
    parent, child = ctx.Pipe(duplex=False)
    args = ([str(p) for p in paths], child, float(cpu_seconds))
    proc = ctx.Process(target=_probe, args=args, name="nanocaption-probe", daemon=True)
    try:
        proc.start()
    except Exception as e:
        raise ProbeFailed(current, f"could not start the model check process ({e})") from e
    finally:
        child.close()
    try:
        while True:
            if not wait_for_reply(parent, proc.pid or 0, stuck_after):
                raise ProbeFailed(
                    current,
                    f"the model check process made no progress for {stuck_after:g} s "
                    "(the model was not found at fault; try again)",
                )
            try:
                msg = parent.recv()
            except (EOFError, OSError):
                break  # the child is gone: its exit code says how
            if msg[0] == "start":
                current = msg[1]
            elif msg[0] == "error":
                raise ModelError(msg[1], msg[2])
            elif msg[0] == "broken":
                raise ProbeFailed(current, f"the model check could not run: {msg[1]}")
            elif msg[0] == "ok":
                return
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(10.0)
    raise _ended(current, proc.exitcode, cpu_seconds)


def _ended(current: str, exitcode: int | None, cpu_seconds: float) -> ModelError:
    """What the child's end without an answer means."""
    sigprof = getattr(signal, "SIGPROF", None)
    if sigprof is not None and exitcode == -sigprof:
        return ProbeFailed(
            current,
            f"opening this file took more than {cpu_seconds:g} s of processor time "
            "in the model check (it was not found damaged)",
        )
    if is_crash(exitcode):
        return ModelError(
            current,
            f"the model crashed the ONNX runtime while loading "
            f"(exit code {exitcode}); the file is damaged or not a model",
        )
    how = f"was killed by signal {-exitcode}" if exitcode and exitcode < 0 else "ended"
    return ProbeFailed(
        current,
        f"the model check process {how} before it finished (exit code {exitcode}); "
        "the model was not found at fault",
    )


def check_before_load(
    bundle_dir: str | os.PathLike[str], *, loads: list[Path] | None = None
) -> None:
    """Refuse (`ModelError`) a bundle that fails the model store's trust check; a bundle without
    a manifest has its graphs opened in a throw-away process first (`probe_sessions`);
    `ProbeFailed` when that check could not run."""
    check_trust(bundle_dir, probe=probe_sessions, loads=loads)
