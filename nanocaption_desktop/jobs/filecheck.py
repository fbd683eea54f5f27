"""Checks on output paths that never block and never follow a link: what every writer of an
output (CSV, JSONL, sidecar, journal) runs before it touches the path."""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

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


def file_kind(mode: int) -> str:
    """What a file of ``mode`` is, for messages ("a named pipe (FIFO)", "a folder", ...)."""
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


def check_regular_or_absent(path: str | os.PathLike[str]) -> bool:
    """Whether a regular file (not a symlink) is at ``path``; ``OutputError`` when something
    else is (a symlink, FIFO, socket, device or folder).

    Never opens the file, so a FIFO, socket or device at ``path`` cannot block or be read:
    the check every output (CSV, JSONL, sidecar, journal) runs before it is written.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise OutputError(path, f"cannot check the output ({_reason(e)})") from e
    if stat.S_ISLNK(st.st_mode):
        raise OutputError(path, "is a symbolic link; outputs are never written through a link")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(path, _not_regular(st.st_mode))
    return True


def _not_regular(mode: int) -> str:
    return f"is {file_kind(mode)}, not a regular file; remove it or move it"


def open_regular(
    path: str | os.PathLike[str], flags: int, mode: str, *, buffering: int = -1
) -> BinaryIO:
    """``path`` opened with ``flags`` without blocking and without following a link, and checked
    to be a regular file (a FIFO swapped in after a check is refused too); else ``OutputError``.
    I/O on the file object is blocking as usual."""
    nonblock = getattr(os, "O_NONBLOCK", 0)
    flags |= nonblock | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OutputError(path, "is a symbolic link; never followed") from e
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise OutputError(path, f"cannot write it ({_reason(e)})") from e
        why = "permission denied" if e.errno in (errno.EACCES, errno.EPERM) else _reason(e)
        raise OutputError(path, f"cannot read it ({why})") from e
    try:
        st_mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(st_mode):
            raise OutputError(path, _not_regular(st_mode))
        if nonblock:
            os.set_blocking(fd, True)  # a regular file: plain blocking I/O from here on
        return os.fdopen(fd, mode, buffering=buffering)  # type: ignore[return-value]
    except BaseException:
        os.close(fd)
        raise


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    """True for a regular file at ``path`` itself (a symlink is not followed)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_regular(path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of the regular file at ``path``, None when it does not exist; ``OutputError``
    for anything else (a symlink is not followed, a FIFO never blocks: ``open_regular``)."""
    if not check_regular_or_absent(path):
        return None
    try:
        with open_regular(path, os.O_RDONLY, "rb") as f:
            return f.read()
    except OutputError as e:
        if isinstance(e.__cause__, FileNotFoundError):
            return None  # removed since the check
        raise
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
