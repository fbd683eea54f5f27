"""Checks on output paths that never block and never follow a link: what every writer of an
output (CSV, JSONL, sidecar, journal) runs before it touches the path."""

from __future__ import annotations

import errno
import os
import stat

from ..engine.errors import NanoCaptionError
from .scan import sniff_image


class OutputError(NanoCaptionError):
    """An output file could not be written. ``path`` names it, ``reason`` says why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


def _reason(e: OSError) -> str:
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "the disk is full (no space left on device); the previous version is intact"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write here ({e.strerror or 'permission denied'})"
    return e.strerror or str(e)


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def check_regular_or_absent(path: str | os.PathLike[str]) -> None:
    """Raise ``OutputError`` unless ``path`` is absent or a regular file (not a symlink).

    Never opens the file, so a FIFO, socket or device at ``path`` cannot block or be read:
    the check every output (CSV, JSONL, sidecar, journal) runs before it is written.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise OutputError(path, f"cannot check the output ({_reason(e)})") from e
    if stat.S_ISLNK(st.st_mode):
        raise OutputError(path, "is a symbolic link; outputs are never written through a link")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(path, f"is {_file_kind(st.st_mode)}, not a regular file")


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    """True for a regular file at ``path`` itself (a symlink is not followed)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_regular(path: str | os.PathLike[str], *, follow: bool = False) -> bytes | None:
    """The bytes of the regular file at ``path``, None when it does not exist; ``OutputError``
    for anything else. Opened non-blocking (a FIFO swapped in after a check cannot hang us) and,
    unless ``follow``, without following a symlink."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not follow:
        check_regular_or_absent(path)
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OutputError(path, "is a symbolic link; not followed") from e
        raise OutputError(path, f"cannot read it ({_reason(e)})") from e
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise OutputError(path, f"is {_file_kind(mode)}, not a regular file")
        try:
            return f.read()
        except OSError as e:
            raise OutputError(path, f"cannot read it ({_reason(e)})") from e


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` (followed) is a regular file whose first bytes are an image's."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        try:
            return stat.S_ISREG(os.fstat(f.fileno()).st_mode) and sniff_image(f.read(16))
        except OSError:
            return False


def same_file_key(path: str | os.PathLike[str]) -> str:
    """A key equal for two paths that name the same file: relative or absolute, ``..``,
    symlinked folders, case (compared as a case-insensitive file system would, conservatively)."""
    p = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(p)
    real = os.path.realpath(parent)
    return os.path.join(os.path.normcase(real), os.path.normcase(name).casefold())
