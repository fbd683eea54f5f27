"""One batch at a time per journal: an exclusive lock on a file next to it.

The journal itself is replaced atomically (started anew, compacted), and a lock on a file that
gets renamed over is lost, so the lock lives on a separate, stable file: ``<journal>.lock``.
It holds the holder's process id, for the message another batch shows when it is refused.

POSIX: ``flock`` (one lock per open file, so two batches in one process exclude each other
too); the holder deletes the lock file while it still holds it, and whoever locks checks that the
file it locked is still the one at the path (else it locked a deleted file and tries again).
Windows: ``msvcrt.locking`` on one byte past the pid; the file stays. Either way the operating
system releases the lock of a process that dies, so there are no stale locks to clean up.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from pathlib import Path

from .writers import OutputError, _reason

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl

LOCK_SUFFIX = ".lock"
#: where the Windows lock byte sits: past the pid, so others can still read the pid
_WIN_LOCK_OFFSET = 64
#: how long a refused batch waits for the holder's pid to appear in the lock file (seconds)
_PID_WAIT = 0.5
#: longest file name (bytes) most file systems take
_NAME_MAX = 255
#: a lock file deleted under us this many times in a row is someone else's game: give up
_RETRIES = 20


def lock_path(journal: Path) -> Path:
    """``<name>.lock`` beside ``journal``; for a name too long for that, a shortened name made
    unique by a hash (the same in every run, so two batches always meet on one lock file)."""
    name = journal.name + LOCK_SUFFIX
    if len(os.fsencode(name)) > _NAME_MAX:
        digest = hashlib.sha256(os.fsencode(journal.name)).hexdigest()[:16]
        short = journal.name
        while len(os.fsencode(short)) > _NAME_MAX - len(LOCK_SUFFIX) - len(digest) - 1:
            short = short[:-1]
        name = f"{short}~{digest}{LOCK_SUFFIX}"
    return journal.with_name(name)


class JournalLock:
    """An exclusive lock on a journal, or on an output file of a batch (``acquire``): two
    batches with different journals may still name one CSV or JSONL. ``release()``
    (idempotent) lets it go."""

    def __init__(self, journal: Path, path: Path, fd: int) -> None:
        self.journal = journal
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, journal: str | os.PathLike[str]) -> JournalLock:
        """Lock ``journal`` at once or raise ``OutputError`` naming it: held by another batch
        ("in use by process N"), or the lock file cannot be made (read-only folder, ...)."""
        target = Path(journal)
        path = lock_path(target)
        for _ in range(_RETRIES):
            fd = _open_lock_file(target, path)
            try:
                if not _try_lock(target, fd):
                    holder = _holder_pid(fd)
                    who = f"process {holder}" if holder else "another process"
                    raise OutputError(
                        target,
                        f"in use by {who} (another batch is writing these outputs); "
                        "wait for it to finish or stop it",
                    )
                if _still_at(fd, path):
                    _write_pid(fd)
                    return cls(target, path, fd)
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # we locked a file its holder deleted as it finished: again
        raise OutputError(target, f"cannot lock it: {path.name} keeps being replaced")

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if os.name != "nt" and _still_at(fd, self.path):  # never someone else's lock file
            try:
                os.unlink(self.path)  # while still held: a waiter sees the file is gone
            except OSError:
                pass  # a read-only folder or already gone: the lock still goes with the close
        os.close(fd)  # closing releases the lock (flock and msvcrt alike)

    def __enter__(self) -> JournalLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _open_lock_file(journal: Path, path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            reason = f"{path.name} is a symbolic link; remove it"
        else:
            reason = f"cannot create {path.name} ({_reason(e)})"
        raise OutputError(journal, f"cannot lock it: {reason}") from e
    try:
        mode = os.fstat(fd).st_mode
    except OSError as e:
        os.close(fd)
        raise OutputError(journal, f"cannot lock it: {path.name} ({_reason(e)})") from e
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OutputError(journal, f"cannot lock it: {path.name} is not a regular file")
    return fd


def _try_lock(journal: Path, fd: int) -> bool:
    try:
        if os.name == "nt":  # pragma: no cover
            os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES, getattr(errno, "EWOULDBLOCK", errno.EAGAIN)):
            return False
        raise OutputError(journal, f"cannot lock it ({_reason(e)})") from e
    return True


def _still_at(fd: int, path: Path) -> bool:
    """Whether the file ``fd`` is the one at ``path`` (its holder did not delete it meanwhile)."""
    if os.name == "nt":  # pragma: no cover - open files cannot be deleted there
        return True
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _write_pid(fd: int) -> None:
    """Best effort: the pid only improves another batch's message."""
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    except OSError:
        pass


def _holder_pid(fd: int) -> int | None:
    """The pid of the batch that holds the lock; it writes it right after it locks, so one that
    has only just locked is given a moment (at most ``_PID_WAIT`` s) before we say "another
    process"."""
    deadline = time.monotonic() + _PID_WAIT
    while True:
        pid = _read_pid(fd)
        if pid is not None or time.monotonic() >= deadline:
            return pid
        time.sleep(0.01)


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
