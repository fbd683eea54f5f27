"""The command line's own streams: an output that fails is a one-line error, never a traceback.

``checked_streams()`` wraps ``sys.stdout`` for the length of one command so that every failed
write or flush (closed, full disk, I/O error) raises ``StdoutError``, an ``OSError`` whose text
says what happened; a closed standard output (``>&-``: Python then has ``sys.stdout = None``,
and ``print`` silently writes nothing) becomes a stream whose first write raises it. Standard
error is wrapped so that writing to it never fails (where would that error go?). ``finish``
flushes standard output inside the command, not at interpreter exit (where a failure is only
"Exception ignored" noise), and points a failed standard output at the null device so that the
interpreter's own last flush is quiet. A broken pipe (``| head``) stays a ``BrokenPipeError``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import Any


class StdoutError(OSError):
    """Standard output cannot take the results."""

    def __str__(self) -> str:
        return f"cannot write the results to standard output: {self.strerror}"


def _stdout_error(e: OSError) -> StdoutError:
    return StdoutError(e.errno or errno.EIO, e.strerror or str(e))


class _Checked:
    """A text stream or its binary buffer whose write errors are ``StdoutError``."""

    def __init__(self, stream: Any, state: _State) -> None:
        self._stream = stream
        self._state = state

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            self._state.broken = True
            raise
        except OSError as e:
            err = e if isinstance(e, StdoutError) else _stdout_error(e)
            self._state.failed = self._state.failed or err
            if err is e:
                raise
            raise err from e

    def write(self, data: Any) -> Any:
        return self._call("write", data)

    def writelines(self, lines: Any) -> Any:
        return self._call("writelines", lines)

    def flush(self) -> Any:
        return self._call("flush")

    @property
    def buffer(self) -> _Checked:
        return _Checked(self._stream.buffer, self._state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Closed:
    """Standard output that was closed before the program started: nothing can be written."""

    encoding = "utf-8"

    def __init__(self, state: _State) -> None:
        self._state = state

    def write(self, data: Any) -> int:
        err = StdoutError(errno.EBADF, "it is closed")
        self._state.failed = self._state.failed or err
        raise err

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    @property
    def buffer(self) -> _Closed:
        return self


class _Quiet:
    """Standard error that never raises: a message that cannot be shown is dropped."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self._stream.write(data)
        return len(data)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self._stream.flush()

    def isatty(self) -> bool:
        try:
            return bool(self._stream.isatty())
        except (OSError, ValueError, AttributeError):
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _State:
    def __init__(self) -> None:
        self.failed: StdoutError | None = None  # the first write to standard output that failed
        self.broken = False  # the reader went away (| head)


class Streams:
    """What ``checked_streams`` yields: ``finish(code)`` is the command's final exit code."""

    def __init__(self, stdout: Any, state: _State) -> None:
        self._real = stdout
        self._state = state

    def finish(self, code: int) -> int:
        """Flush standard output now. A failed write or flush makes the exit code 2 and is
        reported here when the command did not notice (it returned 0 or 1; a command that
        returns an error code has said why); a broken pipe makes it 141 (128 + SIGPIPE)."""
        try:
            sys.stdout.flush()
        except OSError:
            pass  # recorded in the state
        if self._state.broken:
            self._silence()
            return code if code not in (0, 1) else 141
        if self._state.failed is None:
            return code
        self._silence()
        if code not in (0, 1):
            return code
        error(f"nanocaption-desktop: {self._state.failed}")
        return 2

    def _silence(self) -> None:
        """Point the real standard output at the null device: its unwritten bytes go nowhere
        at exit instead of raising "Exception ignored"."""
        try:
            fd = self._real.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
        except (OSError, ValueError, AttributeError):
            return
        try:
            os.dup2(null, fd)
        except OSError:
            pass
        finally:
            os.close(null)


def error(message: str) -> None:
    """One line on standard error (dropped when standard error is closed or full)."""
    stream = sys.stderr
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        stream.write(message + "\n")
        stream.flush()


@contextlib.contextmanager
def checked_streams() -> Iterator[Streams]:
    """Checked ``sys.stdout`` and quiet ``sys.stderr`` until the block ends."""
    old_out, old_err = sys.stdout, sys.stderr
    state = _State()
    sys.stdout = _Checked(old_out, state) if old_out is not None else _Closed(state)  # type: ignore[assignment]
    sys.stderr = _Quiet(old_err)  # type: ignore[assignment]
    try:
        yield Streams(old_out, state)
    finally:
        sys.stdout, sys.stderr = old_out, old_err


@contextlib.contextmanager
def unchecked_stdout() -> Iterator[None]:
    """The real standard output (or None) for a block that writes no results: the window,
    whose one stdout line is for smoke tests and which must not fail for want of a reader."""
    checked = sys.stdout
    if isinstance(checked, _Checked):
        sys.stdout = checked._stream
    elif isinstance(checked, _Closed):
        sys.stdout = None  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = checked
