"""Result writers: CSV, JSON Lines and ``.txt`` sidecars, every write atomic.

Every file is written to a hidden temp file in the same folder (``.name.<pid>.nctmp``), flushed
and fsync'd, then moved over the target with ``os.replace``: after a crash at any moment the
target is either its old complete version or its new complete version. Temp files left by a
killed run are removed by ``remove_stale_temps`` at the next run.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

from ..durable import fsync_dir
from ..engine.errors import NanoCaptionError
from .scan import TEMP_SUFFIX, sidecar_path

log = logging.getLogger(__name__)

CSV_FIELDS = ("path", "caption", "score", "status", "error")
#: First characters that make a spreadsheet run a cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class OutputError(NanoCaptionError):
    """An output file could not be written. ``path`` names it, ``reason`` says why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


class SidecarPolicy(str, Enum):
    """What to do when ``photo.txt`` already exists next to ``photo.jpg``."""

    SKIP = "skip"
    OVERWRITE = "overwrite"
    APPEND = "append"


class SidecarOutcome(str, Enum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"  # the content would not change: the file was not touched
    KEPT = "kept"  # policy skip and a sidecar existed


def _reason(e: OSError) -> str:
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "the disk is full (no space left on device); the previous version is intact"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write here ({e.strerror or 'permission denied'})"
    return e.strerror or str(e)


#: Longest target name (bytes) used as is in its temp file's name (file names max out at 255).
_TEMP_NAME_MAX = 200


def _temp_stem(name: str) -> str:
    """``name`` itself, or for a very long name a shortened one made unique by a hash."""
    if len(os.fsencode(name)) <= _TEMP_NAME_MAX:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
    short = name
    while len(os.fsencode(short)) > _TEMP_NAME_MAX - 20:
        short = short[:-1]
    return f"{short}~{digest}"


def temp_path(path: Path) -> Path:
    return path.with_name(f".{_temp_stem(path.name)}.{os.getpid()}{TEMP_SUFFIX}")


def _open_temp(tmp: Path) -> BinaryIO:
    """Create ``tmp`` afresh: never through a symlink, never into someone else's file."""
    try:
        os.unlink(tmp)  # our own leftover (same pid): never append to it
    except FileNotFoundError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(tmp, flags, 0o666), "wb")


def atomic_write(path: str | os.PathLike[str], data: bytes | Iterable[bytes]) -> None:
    """Replace ``path`` with ``data`` atomically; raises ``OutputError`` (temp file removed)."""
    target = Path(path)
    tmp = temp_path(target)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = None
    try:
        with _open_temp(tmp) as f:
            for chunk in [data] if isinstance(data, bytes) else data:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputError(target, _reason(e)) from e
    fsync_dir(target.parent)


def is_stale_temp(tmp: str | os.PathLike[str]) -> bool:
    """True for a temp file of ours whose writer process is gone (``.name.<pid>.nctmp``)."""
    name = os.path.basename(os.fspath(tmp))
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return False
    pid_text = name[: -len(TEMP_SUFFIX)].rpartition(".")[2]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # ours, in flight
    if os.name == "posix":
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False  # alive, someone else's
        return False  # alive: another batch is writing it
    return True


def remove_temp_file(tmp: str | os.PathLike[str]) -> bool:
    """Remove ``tmp`` when it is a stale temp file of ours; True when removed."""
    if not is_stale_temp(tmp):
        return False
    try:
        os.unlink(tmp)
    except OSError as e:
        log.warning("cannot remove stale temp file %s: %s", tmp, e)
        return False
    log.info("removed stale temp file %s", tmp)
    return True


def remove_stale_temps(path: str | os.PathLike[str]) -> int:
    """Remove temp files a killed run left for ``path``; returns how many."""
    target = Path(path)
    try:
        pattern = f".{_glob_escape(_temp_stem(target.name))}.*{TEMP_SUFFIX}"
        candidates = list(target.parent.glob(pattern))
    except OSError:
        return 0
    return sum(remove_temp_file(tmp) for tmp in candidates)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def neutralize(text: str) -> str:
    """Make a cell safe for spreadsheets: prefix ``'`` when it would start a formula.

    A cell that already starts with ``'`` is prefixed too, so ``unneutralize`` is exact.
    """
    if text and (text.startswith(FORMULA_TRIGGERS) or text[0] == "'"):
        return "'" + text
    return text


def unneutralize(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def format_score(score: float | None) -> str:
    return "" if score is None else f"{score:.6f}"


def csv_header() -> bytes:
    return _csv_line(CSV_FIELDS)


def _csv_line(cells: Iterable[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(list(cells))
    return buf.getvalue().encode("utf-8", "replace")


def csv_row(row: Mapping[str, Any]) -> bytes:
    """One RFC 4180 line for a result row (keys: path, caption, score, status, error)."""
    return _csv_line(
        (
            neutralize(str(row.get("path") or "")),
            neutralize(str(row.get("caption") or "")),
            format_score(row.get("score")),
            str(row.get("status") or ""),
            neutralize(str(row.get("error") or "")),
        )
    )


def jsonl_row(row: Mapping[str, Any]) -> bytes:
    obj = {
        "path": row.get("path"),
        "caption": row.get("caption") or "",
        "score": None if row.get("score") is None else round(float(row["score"]), 6),
        "status": row.get("status"),
        "error": row.get("error"),
    }
    text = json.dumps(obj, ensure_ascii=False) + "\n"
    return text.encode("utf-8", "replace")


def render_csv(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> None:
    def chunks() -> Iterator[bytes]:
        yield csv_header()
        for row in rows:
            yield csv_row(row)

    atomic_write(path, chunks())


def render_jsonl(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> None:
    atomic_write(path, (jsonl_row(row) for row in rows))


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read a CSV this module wrote, undoing the formula neutralisation."""
    with open(path, encoding="utf-8", newline="") as f:
        out = []
        for rec in csv.DictReader(f):
            out.append({k: unneutralize(v) if k != "score" else v for k, v in rec.items()})
        return out


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_sidecar(
    image_path: str | os.PathLike[str], caption: str, policy: SidecarPolicy
) -> SidecarOutcome:
    """Write ``caption`` to the image's ``.txt`` sidecar by ``policy``; ``OutputError`` if not."""
    side = sidecar_path(image_path)
    if os.path.normcase(os.path.abspath(side)) == os.path.normcase(
        os.path.abspath(os.fspath(image_path))
    ):
        raise OutputError(side, "the sidecar would replace the image itself; not written")
    line = caption.encode("utf-8", "replace") + b"\n"
    remove_stale_temps(side)
    try:
        with open(side, "rb") as f:
            old: bytes | None = f.read()
    except FileNotFoundError:
        old = None
    except OSError as e:
        raise OutputError(side, f"cannot read the existing sidecar ({_reason(e)})") from e
    if old is None:
        new = line
    elif policy is SidecarPolicy.SKIP:
        return SidecarOutcome.KEPT
    elif policy is SidecarPolicy.OVERWRITE:
        new = line
    else:
        if line.rstrip(b"\n") in old.splitlines():
            return SidecarOutcome.UNCHANGED
        new = old + (b"" if not old or old.endswith(b"\n") else b"\n") + line
    if new == old:
        return SidecarOutcome.UNCHANGED
    atomic_write(side, new)
    return SidecarOutcome.WRITTEN
