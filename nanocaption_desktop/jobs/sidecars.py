"""``.txt`` sidecars: ``photo.txt`` next to ``photo.jpg`` (``photo.jpg.txt`` when another image
of the folder shares the stem, see ``scan.sidecar_path``), written by a policy, atomically.

A sidecar path that is a symlink, a FIFO, a device or a folder is refused (that image's result
fails with the reason), never read or written through; so is one that holds an image's bytes or
names one of the batch's own outputs.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .filecheck import OutputError, read_regular, same_file_key
from .scan import sidecar_path, sniff_image
from .writers import SidecarOutcome, SidecarPolicy, atomic_write, remove_stale_temps


def write_sidecar(
    image_path: str | os.PathLike[str],
    caption: str,
    policy: SidecarPolicy,
    *,
    side: str | os.PathLike[str] | None = None,
    forbidden: Collection[str] = (),
) -> SidecarOutcome:
    """Write ``caption`` to the image's ``.txt`` sidecar (``side``, by default
    ``sidecar_path(image_path)``) by ``policy``; ``OutputError`` if not. ``forbidden`` holds
    ``same_file_key`` identities the sidecar must not be (the batch's CSV, JSONL, journal)."""
    target = Path(side) if side is not None else sidecar_path(image_path)
    if same_file_key(target) == same_file_key(image_path):
        raise OutputError(target, "the sidecar would replace the image itself; not written")
    if forbidden and same_file_key(target) in forbidden:
        raise OutputError(target, "the sidecar would replace an output of this batch; not written")
    line = caption.encode("utf-8", "replace") + b"\n"
    remove_stale_temps(target)
    old = read_regular(target)  # refuses a symlink, FIFO, device, folder: never blocks
    if old is not None and policy is SidecarPolicy.SKIP:
        return SidecarOutcome.KEPT  # never touched, whatever it holds
    if old is not None and sniff_image(old[:16]):
        raise OutputError(target, "holds an image, not a caption; not replaced")
    if old is None:
        new = line
    elif policy is SidecarPolicy.OVERWRITE:
        new = line
    else:
        if line.rstrip(b"\n") in old.splitlines():
            return SidecarOutcome.UNCHANGED
        new = old + (b"" if not old or old.endswith(b"\n") else b"\n") + line
    if new == old:
        return SidecarOutcome.UNCHANGED
    atomic_write(target, new)
    return SidecarOutcome.WRITTEN


def recorded_sidecar(record: Mapping[str, Any], image_path: str | os.PathLike[str]) -> str:
    """The name of the sidecar a journal record says was written for ``image_path`` (records
    from before names were kept: the plain ``stem.txt``). A batch redoes an image whose planned
    sidecar name differs (another image with its stem came or went)."""
    return str(record.get("sidecar_name") or sidecar_path(image_path).name)
