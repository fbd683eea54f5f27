"""Reference captions from the three formats people evaluate captioners with.

- COCO captions JSON: ``{"images": [{"id", "file_name"}], "annotations": [{"image_id",
  "caption"}]}`` (the layout of ``captions_val2014.json`` and of Karpathy-split conversions);
- Flickr8k: ``captions.txt`` (a CSV with the header ``image,caption``) and ``Flickr8k.token.txt``
  (``name.jpg#n<TAB>caption``);
- any CSV with the header ``image,caption`` and one row per reference (several per image).

Images are named by the file name the references give (COCO's ``file_name``, Flickr's image
column), which is how predictions are matched to them (`match.py`).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ground.errors import EvaluationError

#: Formats, as named in results and messages.
COCO, FLICKR_TOKEN, CSV = "coco-json", "flickr8k-token", "csv"
#: A references file larger than this is refused rather than read into memory.
MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class References:
    """Reference captions per image name, in the file's order; ``format`` is how it was read."""

    source: str
    format: str
    captions: Mapping[str, tuple[str, ...]]

    @property
    def count(self) -> int:
        return sum(len(c) for c in self.captions.values())


def load_references(path: str | os.PathLike[str]) -> References:
    """Read a references file in any of the three formats (told apart by content, not name).
    Every problem is an `EvaluationError` naming the file and, where there is one, the line."""
    source = os.fspath(path)
    text = _read_text(source)
    stripped = text.lstrip()
    if stripped.startswith("{"):
        fmt, found = COCO, _coco(source, text)
    elif _looks_like_token_file(stripped):
        fmt, found = FLICKR_TOKEN, _token_file(source, text)
    else:
        fmt, found = CSV, _csv(source, text)
    if not found:
        raise EvaluationError(source, "no reference captions in the file")
    empty = [name for name, caps in found.items() if not any(c.strip() for c in caps)]
    if empty:
        raise EvaluationError(source, f"image {empty[0]!r} has only empty captions")
    return References(source, fmt, {k: tuple(v) for k, v in found.items()})


def _read_text(source: str) -> str:
    try:
        size = Path(source).stat().st_size
        if size > MAX_BYTES:
            raise EvaluationError(source, f"{size} bytes: larger than {MAX_BYTES} bytes")
        with open(source, "rb") as f:
            data = f.read()
    except EvaluationError:
        raise
    except OSError as e:
        raise EvaluationError(source, e.strerror or str(e)) from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise EvaluationError(source, f"not UTF-8 text (byte {e.start})") from e


def _looks_like_token_file(text: str) -> bool:
    first = text.split("\n", 1)[0]
    name, tab, _ = first.partition("\t")
    return bool(tab) and "#" in name


def _coco(source: str, text: str) -> dict[str, list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise EvaluationError(source, f"not valid JSON (line {e.lineno}: {e.msg})") from e
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise EvaluationError(source, "a COCO captions file needs an 'annotations' list")
    images = data.get("images")
    if not isinstance(images, list):
        raise EvaluationError(source, "a COCO captions file needs an 'images' list")
    names: dict[Any, str] = {}
    for i, image in enumerate(images):
        if not isinstance(image, dict) or not isinstance(image.get("file_name"), str):
            raise EvaluationError(source, f"images[{i}] has no 'file_name' string")
        if "id" not in image:
            raise EvaluationError(source, f"images[{i}] has no 'id'")
        names[image["id"]] = image["file_name"]
    found: dict[str, list[str]] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not isinstance(ann.get("caption"), str):
            raise EvaluationError(source, f"annotations[{i}] has no 'caption' string")
        image_id = ann.get("image_id")
        if image_id not in names:
            raise EvaluationError(source, f"annotations[{i}]: image_id {image_id!r} not in images")
        found.setdefault(names[image_id], []).append(ann["caption"])
    return found


def _token_file(source: str, text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, tab, caption = line.partition("\t")
        name, hash_, _index = key.partition("#")
        if not tab or not hash_ or not name.strip():
            raise EvaluationError(source, f"line {number}: expected 'name.jpg#n<TAB>caption'")
        found.setdefault(name.strip(), []).append(caption.strip())
    return found


def _csv(source: str, text: str) -> dict[str, list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        if "image" not in header or "caption" not in header:
            raise EvaluationError(
                source,
                "not a references file: expected COCO captions JSON, Flickr8k.token.txt "
                "('name#n<TAB>caption') or a CSV with the header 'image,caption'",
            )
        at_image, at_caption = header.index("image"), header.index("caption")
        found: dict[str, list[str]] = {}
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(at_image, at_caption):
                raise EvaluationError(source, f"line {reader.line_num}: too few columns")
            name = row[at_image].strip()
            if not name:
                raise EvaluationError(source, f"line {reader.line_num}: no image name")
            caption = row[at_caption]
            if header == ["image", "caption"] and len(row) > 2:  # an unquoted comma (Flickr8k)
                caption = ",".join(row[1:])
            found.setdefault(name, []).append(caption.strip())
    except csv.Error as e:
        raise EvaluationError(source, f"line {reader.line_num}: {e}") from e
    return found
