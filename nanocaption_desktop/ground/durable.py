"""Durable file writes: the one atomic-write helper and the one durable rename.

`write_atomically` writes a hidden temp file beside the target (``.name.<pid>.nctmp``), flushes
and fsyncs it, renames it over the target and fsyncs the folder: after a crash at any moment the
target is its old complete version or its new one. `rename` moves a finished file or folder
into place with the same guarantee. Every module that replaces a file goes through here
(`tests/test_architecture.py` checks it). Failures are plain `OSError`s; callers wrap them in
their own errors.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

#: The suffix of every temp file (a scan never takes one for an input).
TEMP_SUFFIX = ".nctmp"
#: Longest target name (bytes) used as is in its temp file's name (file names max out at 255).
_TEMP_NAME_MAX = 200
_TEMP_ATTEMPTS = 20
#: Windows errors a rename meets while an antivirus, an indexer or a sync client holds the file
#: for a moment (access denied, sharing violation, lock violation): retried this long.
_SHARING_WINERRORS = (5, 32, 33)
_SHARING_RETRY_SECONDS = 2.0


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where directories cannot be opened)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a finished file's content to disk (before it is renamed into place)."""
    flags = (os.O_RDONLY if os.name == "posix" else os.O_RDWR) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename(src: Path, dst: Path) -> None:
    """Move the finished file or folder ``src`` to ``dst`` (replacing it) durably: the file's
    content is fsync'd before the rename, both folders after it."""
    if os.path.isdir(src) and not os.path.islink(src):
        fsync_dir(src)
    elif not os.path.islink(src):
        fsync_file(src)
    os.replace(src, dst)
    fsync_dir(Path(dst).parent)
    if Path(src).parent != Path(dst).parent:
        fsync_dir(Path(src).parent)


def temp_stem(name: str) -> str:
    """``name`` itself, or for a very long name a shortened one made unique by a hash."""
    if len(os.fsencode(name)) <= _TEMP_NAME_MAX:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
    short = name
    while len(os.fsencode(short)) > _TEMP_NAME_MAX - 20:
        short = short[:-1]
    return f"{short}~{digest}"


def temp_path(path: Path, attempt: int = 0) -> Path:
    """``.name.<pid>.nctmp`` (``.name~N.<pid>.nctmp`` when that name is taken by a file that is
    not ours to remove). Hidden, so never an input of a scan."""
    extra = f"~{attempt}" if attempt else ""
    return path.with_name(f".{temp_stem(path.name)}{extra}.{os.getpid()}{TEMP_SUFFIX}")


def _open_temp(tmp: Path) -> BinaryIO:
    """Create ``tmp`` afresh: never through a symlink, never into someone else's file
    (``FileExistsError`` when the name is taken)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(tmp, flags, 0o666), "wb")


def _clear_leftover(tmp: Path, foreign: Callable[[Path], bool] | None) -> bool:
    """Remove our own leftover at ``tmp`` (a killed run with the same pid); True when the name is
    free. A symlink, or a file ``foreign`` says is not ours, is left alone."""
    try:
        st = os.lstat(tmp)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or (foreign is not None and foreign(tmp)):
        return False
    try:
        os.unlink(tmp)
    except OSError:
        return False
    return True


def _create_temp(target: Path, foreign: Callable[[Path], bool] | None) -> tuple[BinaryIO, Path]:
    for attempt in range(_TEMP_ATTEMPTS):
        tmp = temp_path(target, attempt)
        if not _clear_leftover(tmp, foreign):
            continue
        try:
            return _open_temp(tmp), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name for its temp file next to it", str(target))


def _check_unchanged(target: Path, expected: tuple[int, int]) -> None:
    st = os.stat(target)
    if (st.st_size, st.st_mtime_ns) != expected:
        raise OSError(errno.EAGAIN, "it changed while it was being written", str(target))


def _replace_retrying(src: Path, dst: Path) -> None:
    deadline = time.monotonic() + _SHARING_RETRY_SECONDS
    while True:
        try:
            os.replace(src, dst)
            return
        except PermissionError as e:
            if getattr(e, "winerror", None) not in _SHARING_WINERRORS:
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def write_atomically(
    path: str | os.PathLike[str],
    data: bytes | Iterable[bytes],
    *,
    keep_mode: bool = True,
    foreign: Callable[[Path], bool] | None = None,
    unchanged: tuple[int, int] | None = None,
    times_ns: tuple[int, int] | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically and durably; raises ``OSError`` (temp removed).

    A symlink at ``path`` is replaced by a regular file, never written through. A new file gets
    the umask's mode; with ``keep_mode`` a replaced regular file keeps its rwx bits only (never
    setuid/setgid/sticky). ``foreign(tmp)``: a leftover under a temp name that is not ours to
    remove (another name is tried). ``unchanged=(size, mtime_ns)``: the target is re-checked
    just before the rename, and the write abandoned (an ``OSError``, EAGAIN) if it no longer has
    them: someone changed it since it was read. ``times_ns=(atime_ns, mtime_ns)``: the new file
    gets these times (a caller keeping a photo's modification time). A rename refused for a
    moment on Windows (errors 5, 32, 33) is retried for about 2 s.
    """
    target = Path(path)
    mode = None
    if keep_mode:
        try:
            st = os.lstat(target)
            mode = st.st_mode & 0o777 if stat.S_ISREG(st.st_mode) else None
        except OSError:
            mode = None
    f, tmp = _create_temp(target, foreign)
    try:
        with f:
            for chunk in [data] if isinstance(data, bytes) else data:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if times_ns is not None:
            os.utime(tmp, ns=times_ns)
        if unchanged is not None:
            _check_unchanged(target, unchanged)
        _replace_retrying(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(target.parent)
