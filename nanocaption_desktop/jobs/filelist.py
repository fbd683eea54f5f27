"""``batch --files-from LIST``: the images of a batch named one per line, in place of a folder.

The list: UTF-8 text, one path per line; blank lines and lines starting with ``#`` are skipped;
a relative path is resolved against the list's folder (standard input, ``-``: the current
folder); ``s3://``, ``gs://`` and ``file://`` URIs are kept as they are (read on a Ray cluster
only, scale/inputs.py). The batch's ``folder`` is that base folder. Keys (the journal's, the
CSV/JSONL ``path``): a local file's path relative to the deepest folder that holds the list's
folder and every listed file (``/`` separators: relative to the list's folder when all are in
it); a URI as written (the journal takes no absolute key). A line naming the same file
as an earlier one is skipped. A line whose file is missing or unreadable becomes that line's
failed result (``LIST line N: ...``), never the batch's end.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .scan import ScanEntry, _shared_stems, allowed_extensions

log = logging.getLogger(__name__)

#: Schemes a batch on a Ray cluster reads through pyarrow's filesystems (scale/inputs.py).
URI_SCHEMES = ("s3://", "gs://", "gcs://", "file://")
STDIN = "-"


@dataclass(frozen=True)
class ListedFile:
    """One entry of a file list: the ``text`` as written and where it came from (``origin``,
    ``"photos.txt line 3"``), which the failure of a missing file names."""

    text: str
    origin: str


def is_uri(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` is an object-store (or ``file://``) URI rather than a local path."""
    return isinstance(text, str) and text.lower().startswith(URI_SCHEMES)


def read_file_list(list_path: str) -> tuple[str, tuple[ListedFile, ...]]:
    """The base folder and the entries of the list at ``list_path`` (``-``: standard input).
    Raises ``FileNotFoundError``/``OSError`` when it cannot be read and ``ValueError`` naming the
    list and the line when it is not UTF-8 text."""
    if list_path == STDIN:
        data, base, name = sys.stdin.buffer.read(), os.getcwd(), "<stdin>"
    else:
        try:
            with open(list_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"{list_path}: no such file list") from None
        except IsADirectoryError:
            raise ValueError(f"{list_path}: a folder, not a file list (give it as DIR)") from None
        base, name = os.path.dirname(os.path.abspath(list_path)), list_path
    return base, parse_file_list(data, name)


def parse_file_list(data: bytes, name: str) -> tuple[ListedFile, ...]:
    """The entries of a list's bytes (see the module's doc); ``name`` names it in errors."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a BOM, as some editors on Windows write
    entries = []
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{name}: not a UTF-8 text file list (line {n})") from None
        if "\0" in line:
            raise ValueError(f"{name}: not a text file list (a NUL byte on line {n})")
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append(ListedFile(line, f"{name} line {n}"))
    return tuple(entries)


def listed_files(files: Iterable[Any] | None) -> tuple[ListedFile, ...] | None:
    """``BatchSpec.files`` from what a caller gave: ``ListedFile``s as they are, paths or URIs
    as ``ListedFile``s whose origin is their place (``files[3]``); None stays None."""
    if files is None:
        return None
    if isinstance(files, str | bytes | os.PathLike):
        raise TypeError("files must be a list of paths, not one path")
    out = []
    for i, item in enumerate(files):
        if isinstance(item, ListedFile):
            out.append(item)
        else:
            out.append(ListedFile(os.fspath(item), f"files[{i}]"))
    return tuple(out)


def listed_entries(
    folder: str,
    files: tuple[ListedFile, ...],
    uri_entry: Callable[[ListedFile], ScanEntry] | None = None,
) -> Iterator[ScanEntry]:
    """The ``ScanEntry`` of each of ``files`` (a spec's) in the list's order (duplicates
    skipped), relative entries resolved against ``folder``; ``uri_entry`` makes the entry of a
    URI (a batch on a Ray cluster)."""
    base = os.path.abspath(folder)
    paths = [_resolved(item.text, base) for item in files]
    root = _common_folder([base, *(p for p in paths if p is not None)])
    seen: set[str] = set()
    stems: dict[str, frozenset[str]] = {}
    for item, path in zip(files, paths, strict=True):
        if path is None:
            if uri_entry is None:
                raise ValueError(f"{item.origin}: {item.text}: a URI, read only with --ray")
            entry = uri_entry(item)
        else:
            key = os.path.relpath(path, root).replace(os.sep, "/")
            entry = ScanEntry(path, key, shared_stem=_shares(path, stems), origin=item.origin)
        if entry.relpath in seen:
            log.info("%s: %s listed again, skipped", item.origin, item.text)
            continue
        seen.add(entry.relpath)
        yield entry


def _resolved(text: str, base: str) -> str | None:
    """The absolute path a line names (None for a URI)."""
    if is_uri(text):
        return None
    return os.path.normpath(os.path.join(base, os.path.expanduser(text)))


def _common_folder(paths: list[str]) -> str:
    """The deepest folder holding every path (the list's folder and its files): what the keys
    are relative to. Paths on several drives (Windows): their drives' common root."""
    try:
        return os.path.commonpath(paths)
    except ValueError:
        return os.path.splitdrive(paths[0])[0] + os.sep


def _shares(path: str, stems: dict[str, frozenset[str]]) -> bool:
    """Whether the image's sidecar is ``name.txt`` (as a folder batch of its folder decides)."""
    folder, name = os.path.split(path)
    if folder not in stems:
        try:
            with os.scandir(folder) as it:
                stems[folder] = _shared_stems(list(it), allowed_extensions())
        except OSError:
            stems[folder] = frozenset()
    return name in stems[folder]
