"""Create sessions for an untrusted bundle in a throw-away process first.

A crafted ONNX file can crash onnxruntime itself (a native crash, not an exception). A bundle
that did not come with a verified manifest (a folder passed with --model) is therefore opened
once in a spawned process; if that process dies, the app reports which file did it and lives on.

`check_before_load` is the check every bundle passes before the engine creates sessions: the
model store's trust check (modelstore/trust.py) with this probe passed in.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path

from ..modelstore.trust import check_trust
from .errors import ModelError

log = logging.getLogger(__name__)


def _probe(paths: list[str], queue: multiprocessing.Queue) -> None:  # runs in the child
    from .sessions import make_session

    for path in paths:
        queue.put(("start", path))
        try:
            make_session(path, threads=1)
        except ModelError as e:
            queue.put(("error", path, e.reason))
            return
    queue.put(("ok", ""))


def probe_sessions(paths: Sequence[Path], *, timeout: float = 300.0) -> None:
    """Raise `ModelError` naming the file when creating its session fails or kills the process."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_probe, args=([str(p) for p in paths], queue), daemon=True)
    proc.start()
    proc.join(timeout)
    current = str(paths[0]) if paths else "model"
    messages = []
    while not queue.empty():
        messages.append(queue.get_nowait())
    if proc.is_alive():
        proc.kill()
        proc.join()
    for msg in messages:
        if msg[0] == "start":
            current = msg[1]
        elif msg[0] == "error":
            raise ModelError(msg[1], msg[2])
        elif msg[0] == "ok":
            return
    if proc.exitcode is None or proc.exitcode == 0:
        raise ModelError(current, f"loading the model took longer than {timeout:.0f} s")
    raise ModelError(
        current,
        f"the model crashed the ONNX runtime while loading "
        f"(exit code {proc.exitcode}); the file is damaged or not a model",
    )


def check_before_load(
    bundle_dir: str | os.PathLike[str], *, loads: list[Path] | None = None
) -> None:
    """Refuse (`ModelError`) a bundle that fails the model store's trust check; a bundle without
    a manifest has its graphs opened in a throw-away process first (`probe_sessions`)."""
    check_trust(bundle_dir, probe=probe_sessions, loads=loads)
