"""Which XMP sidecar belongs to a photo.

darktable, digiKam and Immich write ``photo.jpg.xmp``; Lightroom (RAW), digiKam and Immich also
use ``photo.xmp``. The rules (the same for reading and writing):

- ``photo.jpg.xmp`` when it exists;
- else an existing ``photo.xmp``, but only when no other file shares the stem ``photo`` (with
  ``photo.cr2`` and ``photo.jpg`` side by side, whose description would it be?);
- else, for writing, a new ``photo.jpg.xmp``. ``photo.xmp`` is never created.

Names are compared without regard to case (``photo.JPG.XMP``), as Windows and macOS do.
"""

from __future__ import annotations

import os
from pathlib import Path


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _find(names: list[str], wanted: str) -> str | None:
    key = wanted.casefold()
    return next((n for n in names if n.casefold() == key), None)


def existing_sidecar(photo: Path) -> Path | None:
    """The sidecar a reader would take for ``photo``, if there is one."""
    names = _names(photo.parent)
    long_name = _find(names, f"{photo.name}.xmp")
    if long_name is not None:
        return photo.parent / long_name
    short_name = _find(names, f"{photo.stem}.xmp")
    if short_name is None or short_name.casefold() == photo.name.casefold():
        return None
    stem = photo.stem.casefold()
    others = [
        n
        for n in names
        if Path(n).stem.casefold() == stem
        and n.casefold() not in (photo.name.casefold(), short_name.casefold())
    ]
    return None if others else photo.parent / short_name


def sidecar_for_write(photo: Path) -> Path:
    """Where ``photo``'s XMP goes when it cannot go into the file itself."""
    return existing_sidecar(photo) or photo.with_name(f"{photo.name}.xmp")
