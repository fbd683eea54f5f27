"""Plan and check the outputs of a batch before any work: the CSV, the JSONL and the journal.

``check_outputs`` refuses (``OutputRefused``, exit code 2 on the command line), before the model
loads or an image is read:

- an output that is, or would be, an image: an image extension (``--csv photo.png``) or the
  first bytes of an image in the existing file (a hard link, a symlink, a misnamed photo);
- two outputs that are the same file: equal paths after ``..``, symlinked folders and case (as a
  case-insensitive file system sees them), or the same existing file (``st_dev``/``st_ino``:
  hard links, symlinks), e.g. ``--csv c.csv --jsonl c.csv.journal.jsonl``;
- an output path that is a symlink, a FIFO, a socket, a device or a folder
  (``check_regular_or_absent``; never opened; Journal.open may call the same check);
- an output named like our temp files (``*.nctmp``: a later run would delete it).

``prepare_outputs`` then creates the folders of every output (as for ``--csv`` so for ``--jsonl``).
Sidecars are checked per image when written (``sidecars.write_sidecar``): one bad sidecar fails
that image only.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from .filecheck import OutputError, check_regular_or_absent, is_image_file, same_file_key
from .scan import TEMP_SUFFIX, allowed_extensions
from .spec import BatchSpec


class OutputRefused(OutputError, ValueError):
    """An output path of a batch is refused before any work (``path`` names it, ``reason`` why)."""


def named_outputs(s: BatchSpec) -> list[tuple[str, Path]]:
    """``(label, path)`` of the batch's CSV, JSONL and journal that are set."""
    named = (("the CSV output", s.csv), ("the JSONL output", s.jsonl), ("the journal", s.journal))
    return [(label, Path(p)) for label, p in named if p is not None]


def output_keys(s: BatchSpec) -> frozenset[str]:
    """``same_file_key`` of every output (and what it links to): what no sidecar may be."""
    keys = set()
    for _label, path in named_outputs(s):
        keys.add(same_file_key(path))
        keys.add(same_file_key(os.path.realpath(path)))
    return frozenset(keys)


def check_outputs(s: BatchSpec) -> None:
    """Raise ``OutputRefused`` when an output of ``s`` may not be written (see the module doc)."""
    outputs = named_outputs(s)
    for label, path in outputs:
        check_output_path(label, path)
    for (label_a, a), (label_b, b) in itertools.combinations(outputs, 2):
        if _same_file(a, b):
            raise OutputRefused(
                b, f"{label_b} would be the same file as {label_a} ({a}); give them other names"
            )


def prepare_outputs(s: BatchSpec) -> None:
    """Create the folder of every output; ``OutputError`` naming the folder when it cannot."""
    for _label, path in named_outputs(s):
        parent = path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            reason = f"cannot create the output's folder ({e.strerror or e})"
            raise OutputError(parent, reason) from e


def check_output_path(label: str, path: Path) -> None:
    """``OutputRefused`` (naming ``label``, "the CSV output") when ``path`` may not be written
    as an output: an image by name or content, not a regular file, our temp suffix, no name.
    The batch's outputs and the window's exports go through it."""
    name = path.name
    if not name or name in (".", ".."):
        raise OutputRefused(path, f"{label} needs a file name")
    if name.endswith(TEMP_SUFFIX):
        raise OutputRefused(
            path, f"{label} may not end in {TEMP_SUFFIX}: that is the suffix of temp files"
        )
    ext = os.path.splitext(name)[1].lower()
    if ext in allowed_extensions():
        raise OutputRefused(
            path, f"{label} has an image's name ({ext}); an output never replaces or makes one"
        )
    try:
        check_regular_or_absent(path)
    except OutputError as e:
        raise OutputRefused(path, f"{label} {e.reason}") from None
    if is_image_file(path):
        raise OutputRefused(path, f"{label} is an image (by its content); it is never replaced")


def _same_file(a: Path, b: Path) -> bool:
    keys_a = {same_file_key(a), same_file_key(os.path.realpath(a))}
    keys_b = {same_file_key(b), same_file_key(os.path.realpath(b))}
    if keys_a & keys_b:
        return True
    try:
        return os.path.samestat(os.stat(a), os.stat(b))
    except OSError:
        return False
