"""Alt text written into the photos of a batch: an output like a ``.txt`` sidecar.

``write_photo(path, caption, spec)`` calls ``metadata.write_alt_text`` with the batch's choices
and returns what the journal keeps (``alt_text``: the ``WriteResult`` as a dict: ``where`` it
went, the ``sidecar`` path, the ``fields``, why it was ``skipped``, or ``unchanged``). A refused
write is an ``OutputError``: that image's result fails with the reason, the batch goes on.

Resume (``batch.py``): a record is done when its photo's size and mtime are those recorded, and
``metadata`` (the options' ``signature``) is the batch's. The record keeps the photo's stat
*after* our write, so a resumed batch does not write twice; a photo changed since (by a person,
another tool) has its caption row redone, and only then is it written again (the policy still
keeps a person's alt text). A run killed between the write and its record redoes the row: the
same caption then finds its own text in the photo (``unchanged``), nothing is written twice.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..ground import durable
from ..ground.errors import MetadataError
from .filecheck import OutputError
from .writers import is_stale_temp

#: a photo's temp file: ``.photo.jpg[~N].<pid>.nctmp`` (``durable.temp_path``)
_TEMP_NAME = re.compile(r"\.(.+?)(?:~\d+)?\.\d+" + re.escape(durable.TEMP_SUFFIX))


def signature(spec: Any) -> str | None:
    """The write options a record was made with (None: no writing asked)."""
    if not getattr(spec, "write_metadata", False):
        return None
    parts = ["alt-text"]
    if spec.overwrite:
        parts.append("overwrite")
    if spec.skip_described:
        parts.append("skip-described")
    for name in ("exif", "iim"):
        value = getattr(spec, name)
        if value is not None:
            parts.append(name if value else f"no-{name}")
    return "+".join(parts)


def write_with(path: str | os.PathLike[str], caption: str, choices: Any) -> Any:
    """``metadata.write_alt_text`` with the policy options of ``choices`` (a batch spec or the
    CLI's arguments: ``overwrite``, ``skip_described``, ``exif``, ``iim``); its WriteResult.
    ``MetadataError`` when the photo is refused."""
    from ..metadata import write_alt_text

    return write_alt_text(
        path,
        caption,
        overwrite=choices.overwrite,
        skip_described=choices.skip_described,
        exif=choices.exif,
        iim=choices.iim,
    )


def write_photo(path: str | os.PathLike[str], caption: str, spec: Any) -> dict[str, Any]:
    """Write ``caption`` as the photo's alt text by ``spec``'s choices; the result as a dict
    for the journal. ``OutputError`` naming the photo when it is refused."""
    try:
        result = write_with(path, caption, spec)
    except MetadataError as e:
        raise OutputError(Path(path), e.reason) from e
    return compact(result.to_dict())


def skip_without_caption(spec: Any, path: str | os.PathLike[str]) -> bool:
    """``skip_described`` with alt text the only output, and the photo has alt text already:
    nothing would use a caption, so none is computed (as for ``.txt`` sidecars kept)."""
    if not (spec.write_metadata and spec.skip_described) or spec.sidecars is not None:
        return False
    if spec.csv is not None or spec.jsonl is not None:
        return False
    from ..metadata import read_descriptions

    try:
        return read_descriptions(path).has_alt_text
    except MetadataError:
        return False  # captioned, and its write says what is wrong


def compact(result: dict[str, Any]) -> dict[str, Any]:
    """A ``WriteResult`` dict without its empty fields and the photo's path (the record's key
    names it already); lists for tuples, as JSON reads them back."""
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in result.items() if k != "path"}
    return {k: v for k, v in out.items() if v not in (None, False, [], ())}


def wrote_file(alt_text: dict[str, Any] | None) -> bool:
    """The write replaced the photo itself (its size and mtime are new)."""
    return alt_text is not None and str(alt_text.get("where") or "").startswith("file")


def describe(alt_text: dict[str, Any] | None) -> str:
    """One line for a person: where the alt text went, or why not."""
    if not alt_text:
        return "alt text: not written"
    if alt_text.get("skipped"):
        return f"alt text skipped: {alt_text['skipped']}"
    if alt_text.get("unchanged"):
        return "alt text unchanged: the photo already holds it"
    where = alt_text.get("where")
    if where == "sidecar":
        return f"alt text written to {alt_text.get('sidecar')}"
    if where == "file+sidecar":
        return f"alt text written into the photo and {alt_text.get('sidecar')}"
    return f"alt text written into the photo ({', '.join(alt_text.get('fields') or ())})"


def remove_photo_temp(tmp: str | os.PathLike[str]) -> bool:
    """Remove ``tmp`` when it is the temp copy of a photo beside it (``.photo.jpg.<pid>.nctmp``
    next to ``photo.jpg``) that a killed write left: its process is gone. Such a copy holds an
    image's bytes, which the generic cleanup never removes (``writers.remove_temp_file``); here
    its name ties it to that photo's own write. True when removed."""
    path = Path(tmp)
    match = _TEMP_NAME.fullmatch(path.name)
    if match is None or not is_stale_temp(path):
        return False
    photo = path.with_name(match.group(1))
    if durable.temp_stem(photo.name) != match.group(1) or not photo.is_file():
        return False  # no photo of that name here: not a photo write of ours
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
