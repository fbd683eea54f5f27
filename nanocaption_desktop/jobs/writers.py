"""Result writers: CSV, JSON Lines and ``.txt`` sidecars, every write atomic.

Every file is written with ``ground.durable.write_atomically`` (a hidden temp file in the same
folder, ``.name.<pid>.nctmp``, fsync'd, renamed over the target): after a crash at any moment
the target is either its old complete version or its new complete version. Temp files left by
a killed run are removed by ``remove_stale_temps`` at the next run.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from ..ground import durable
from .filecheck import OutputError as OutputError
from .filecheck import _reason, is_image_file
from .filecheck import check_regular_or_absent as check_regular_or_absent
from .scan import TEMP_SUFFIX

log = logging.getLogger(__name__)

CSV_FIELDS = ("path", "caption", "score", "status", "error")
#: First characters that make a spreadsheet run a cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class SidecarPolicy(str, Enum):
    """What to do when ``photo.txt`` already exists next to ``photo.jpg``."""

    SKIP = "skip"
    OVERWRITE = "overwrite"
    APPEND = "append"


class SidecarOutcome(str, Enum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"  # the content would not change: the file was not touched
    KEPT = "kept"  # policy skip and a sidecar existed


def temp_path(path: Path, attempt: int = 0) -> Path:
    """``.name.<pid>.nctmp`` (``.name~N.<pid>.nctmp`` when that name is taken by a file that is
    not ours to remove). Hidden, so never an input of a scan."""
    return durable.temp_path(path, attempt)


def atomic_write(path: str | os.PathLike[str], data: bytes | Iterable[bytes]) -> None:
    """Replace ``path`` with ``data`` atomically (`ground.durable.write_atomically`: temp +
    fsync + rename + fsync of the folder); raises ``OutputError`` (temp file removed).

    A symlink at ``path`` is replaced by a regular file, never written through. A new file gets
    the umask's mode; a replaced regular file keeps its rwx bits only (never setuid/setgid/sticky).
    A leftover under our temp name that looks like an image is never removed: it is not ours.
    """
    target = Path(path)
    try:
        durable.write_atomically(target, data, foreign=is_image_file)
    except OSError as e:
        raise OutputError(target, _reason(e)) from e


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
    if not is_stale_temp(tmp) or is_image_file(tmp):  # an image is never a temp file of ours
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
        pattern = f".{_glob_escape(durable.temp_stem(target.name))}.*{TEMP_SUFFIX}"
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
    if row.get("alt_text") is not None:  # the batch wrote into the photos: where it went
        obj["alt_text"] = row["alt_text"]
    text = json.dumps(obj, ensure_ascii=False) + "\n"
    return text.encode("utf-8", "replace")


def txt_row(row: Mapping[str, Any]) -> bytes:
    """One line of a plain-text export: ``path<TAB>caption`` (a caption as it is)."""
    return f"{row.get('path') or ''}\t{row.get('caption') or ''}\n".encode("utf-8", "replace")


#: Every kind of export, by its file extension: the batch writes csv and jsonl, the window's
#: history all three. ``txt`` lists only the images that got a caption.
EXPORT_KINDS = ("csv", "jsonl", "txt")


def export_rows(rows: Iterable[Mapping[str, Any]], kind: str) -> bytes:
    """Result rows (keys: path, caption, score, status, error) as a whole file of ``kind``,
    with the same cells, escaping and number format as a batch's outputs."""
    if kind == "csv":
        return csv_header() + b"".join(csv_row(row) for row in rows)
    if kind == "jsonl":
        return b"".join(jsonl_row(row) for row in rows)
    if kind == "txt":
        return b"".join(txt_row(row) for row in rows if row.get("status") == "ok")
    raise ValueError(f"unknown export kind {kind!r} (one of {', '.join(EXPORT_KINDS)})")


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
