"""Find the images in a folder: lazily, in a stable (natural) order, safely.

The walk goes directory by directory: each directory's entries are listed and sorted on their
own, depth first (so the order is the natural order of the relative paths); a folder of 100,000
files starts yielding at once and memory holds the listings of the folders on the current path
(plus the set of directories already seen,
which is what stops symlink loops). A folder that cannot be read becomes one error entry.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import stat
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..ground.durable import TEMP_SUFFIX as TEMP_SUFFIX  # our writers' temp files

log = logging.getLogger(__name__)

#: Extensions that are always taken as images (checked case-insensitively).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"}
)
#: Extensions taken only when the Pillow build can open them.
OPTIONAL_EXTENSIONS = frozenset({".heic", ".heif", ".avif"})
#: Extensions never sniffed: our own outputs and other text files.
TEXT_EXTENSIONS = frozenset({".txt", ".csv", ".jsonl", ".json", ".md", ".xml", ".nctmp"})

_NATURAL = re.compile(r"(\d+)")


@dataclass(frozen=True)
class ScanEntry:
    """One image file found by the scan, or one folder that could not be read (``error`` set).

    ``shared_stem``: another image in the same folder has the same name up to its extension
    (``photo.jpg``, ``photo.png``), so this image's sidecar is ``photo.jpg.txt``, not ``photo.txt``.
    ``origin``: the line of a file list that named it (``photos.txt line 3``; ``filelist.py``).
    ``signature``: ``(size, mtime_ns)`` when the scan knows them (an object store's listing),
    in place of a ``stat`` of ``path``.
    """

    path: str
    relpath: str
    error: str | None = None
    shared_stem: bool = False
    origin: str = ""
    signature: tuple[int, int] | None = None

    @property
    def sidecar(self) -> Path:
        """Where this image's ``.txt`` sidecar goes (see ``sidecar_path``)."""
        return sidecar_path(self.path, shared_stem=self.shared_stem)


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key: digits compare as numbers ("img2" < "img10"), letters case-insensitively;
    the exact name breaks ties, so the order is total and stable.

    The parts alternate text, number, text, ... so equal positions always hold equal types and
    the flat tuple compares in C (fast enough for 100,000 names in one folder).
    """
    parts: list[str | int] = _NATURAL.split(name.casefold())
    parts[1::2] = [int(p) for p in parts[1::2]]
    return tuple(parts), name


@lru_cache(maxsize=1)
def _optional_extensions() -> frozenset[str]:
    try:
        from PIL import Image

        known = set(Image.registered_extensions())
    except Exception:  # pragma: no cover - Pillow is a hard dependency
        return frozenset()
    return frozenset(ext for ext in OPTIONAL_EXTENSIONS if ext in known)


def allowed_extensions() -> frozenset[str]:
    """The image extensions this Pillow build handles."""
    return IMAGE_EXTENSIONS | _optional_extensions()


def sniff_image(head: bytes) -> bool:
    """True when the first bytes of a file look like an image format we accept."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")):
        return True
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return True
    if head[:2] == b"BM" and len(head) >= 14:
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return ".avif" in _optional_extensions()
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return ".heic" in _optional_extensions()
    return False


def is_hidden(entry: os.DirEntry[str]) -> bool:
    if entry.name.startswith("."):
        return True
    if os.name != "nt":
        return False
    try:
        attrs = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    except OSError:
        return False
    return bool(attrs & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


def _looks_like_image(entry: os.DirEntry[str], allowed: frozenset[str]) -> bool:
    ext = os.path.splitext(entry.name)[1].lower()
    if ext in allowed:
        return True
    if ext in TEXT_EXTENSIONS:
        return False
    try:
        with open(entry.path, "rb") as f:  # read-only, 16 bytes
            return sniff_image(f.read(16))
    except OSError:
        return False


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=True)
    except OSError:
        # a dangling symlink: yield it when its name says image, decoding will explain
        return entry.is_symlink()


def scan_images(
    root: str | os.PathLike[str],
    *,
    recursive: bool = False,
    exclude: Collection[str | os.PathLike[str]] = (),
    on_temp_file: Callable[[str], object] | None = None,
) -> Iterator[ScanEntry]:
    """Yield the images under ``root`` in natural order of their relative paths.

    ``exclude`` lists files never to yield (our own outputs). Hidden files and folders are
    skipped; ``on_temp_file`` is called with the path of each leftover temp file of ours
    (``.name.<pid>.nctmp``) met on the way, so the caller can remove it.
    Raises ``NotADirectoryError``/``FileNotFoundError`` at once when ``root`` is not a folder.
    """
    root_s = os.fspath(root)
    st = os.stat(root_s)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"{root_s}: not a folder")
    excluded = {os.path.normcase(os.path.realpath(os.fspath(p))) for p in exclude}
    allowed = allowed_extensions()
    seen: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}
    yield from _walk(root_s, "", recursive, excluded, allowed, seen, on_temp_file)


def _walk(
    folder: str,
    rel: str,
    recursive: bool,
    excluded: set[str],
    allowed: frozenset[str],
    seen: set[tuple[int, int]],
    on_temp_file: Callable[[str], object] | None,
) -> Iterator[ScanEntry]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: natural_key(e.name))
    except OSError as e:
        reason = e.strerror or type(e).__name__
        log.warning("cannot read folder %s: %s", folder, reason)
        yield ScanEntry(folder, rel or ".", f"cannot read folder: {reason}")
        return
    real_folder = os.path.normcase(os.path.realpath(folder)) if excluded else ""
    shared = _shared_stems(entries, allowed)
    for entry in entries:  # depth first, so the order is the natural order of relative paths
        if is_hidden(entry):
            if on_temp_file and entry.name.endswith(TEMP_SUFFIX) and entry.is_file():
                on_temp_file(entry.path)
            continue
        if _is_dir(entry):
            if not recursive:
                continue
            try:
                dst = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            ident = (dst.st_dev, dst.st_ino)
            if ident in seen:
                log.info("skipping %s: folder already visited (symlink loop)", entry.path)
                continue
            seen.add(ident)
            sub = _join(rel, entry.name)
            yield from _walk(entry.path, sub, recursive, excluded, allowed, seen, on_temp_file)
            continue
        if excluded and os.path.join(real_folder, os.path.normcase(entry.name)) in excluded:
            continue
        if _is_file(entry) and _looks_like_image(entry, allowed):
            yield ScanEntry(entry.path, _join(rel, entry.name), shared_stem=entry.name in shared)


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def display_path(relpath: str) -> str:
    """``relpath`` as valid UTF-8 text: bytes that are not UTF-8 show as ``\\xNN``."""
    try:
        raw = os.fsencode(relpath)
    except UnicodeError:
        return relpath.encode("utf-8", "replace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def sidecar_path(image_path: str | os.PathLike[str], *, shared_stem: bool = False) -> Path:
    """``photo.jpg`` -> ``photo.txt`` (the convention dataset tools use); with ``shared_stem``
    (another image of the folder is ``photo.png``) ``photo.jpg.txt``, so no caption is lost."""
    path = Path(image_path)
    return path.with_name(path.name + ".txt") if shared_stem else path.with_suffix(".txt")


def _stem_key(name: str) -> str:
    """What decides a sidecar's name, compared as a case-insensitive file system would."""
    return os.path.normcase(os.path.splitext(name)[0]).casefold()


def _shared_stems(entries: list[os.DirEntry[str]], allowed: frozenset[str]) -> frozenset[str]:
    """Names of the images of one folder whose plain sidecar (``stem.txt``) another image of the
    folder would also write: they get ``name.txt``. Memory: one sorted list of the folder's stems
    (freed on return); only files in a group of equal stems are sniffed."""
    stems = sorted(
        _stem_key(e.name)
        for e in entries
        if not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() not in TEXT_EXTENSIONS
    )
    dup = {a for a, b in zip(stems, stems[1:], strict=False) if a == b}
    if not dup:
        return frozenset()
    images: dict[str, list[str]] = {}
    for e in entries:
        key = _stem_key(e.name)
        if key in dup and not is_hidden(e) and not _is_dir(e) and _is_file(e):
            if _looks_like_image(e, allowed):
                images.setdefault(key, []).append(e.name)
    shared = {name for names in images.values() if len(names) > 1 for name in names}
    todo = list(shared)
    while todo:  # photo.jpg.txt must not be the plain sidecar of photo.jpg.png either
        key = os.path.normcase(todo.pop()).casefold()
        i = bisect.bisect_left(stems, key)
        if i < len(stems) and stems[i] == key:
            for e in entries:
                if _stem_key(e.name) == key and e.name not in shared and not is_hidden(e):
                    if _is_file(e) and _looks_like_image(e, allowed):
                        shared.add(e.name)
                        todo.append(e.name)
    return frozenset(shared)
