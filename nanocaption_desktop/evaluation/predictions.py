"""Candidate captions: our own batch outputs (CSV or JSON Lines), and how they are matched to
the references.

The matching rule: a reference names an image by file name (``photo.jpg``) or by a path
relative to the images folder (``sub/photo.jpg``). A prediction's ``path`` (relative to the
batch folder) matches a reference with the same path, else one with the same file name when
that file name is unique among the predictions. Then:

- a reference image with no prediction is an error (the scores would silently cover less);
- a prediction for an image no reference names is an error with ``--predictions`` (the file is
  probably not the one meant), and ignored with ``--model`` (the images folder may hold more);
- a failed prediction (``status`` ``failed``) is left out of the scores and listed as failed.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..ground.errors import EvaluationError
from ..jobs.writers import read_csv, read_jsonl
from .references import References

#: How many names a mismatch message lists.
SHOWN = 5


@dataclass(frozen=True)
class Predictions:
    """One system's candidates: image -> caption, image -> error for the failed ones."""

    source: str
    captions: Mapping[str, str]
    failed: Mapping[str, str]


def load_predictions(path: str | os.PathLike[str]) -> Predictions:
    """Read a batch output: JSON Lines (``.jsonl``) or CSV (anything else); each row needs
    ``path`` and ``caption`` (``status`` and ``error`` when present)."""
    source = os.fspath(path)
    try:
        if source.lower().endswith((".jsonl", ".json")):
            rows: Sequence[Mapping[str, Any]] = read_jsonl(source)
        else:
            rows = read_csv(source)
    except OSError as e:
        raise EvaluationError(source, e.strerror or str(e)) from e
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
        raise EvaluationError(source, f"not a CSV or JSON Lines batch output ({e})") from e
    return from_rows(source, rows)


def from_rows(source: str, rows: Sequence[Mapping[str, Any]]) -> Predictions:
    captions: dict[str, str] = {}
    failed: dict[str, str] = {}
    for number, row in enumerate(rows, 1):
        if not isinstance(row, Mapping) or not isinstance(row.get("path"), str):
            raise EvaluationError(source, f"row {number}: no 'path' (expected our CSV/JSONL)")
        name = row["path"]
        if name in captions or name in failed:
            raise EvaluationError(source, f"row {number}: {name!r} appears twice")
        if (row.get("status") or "ok") != "ok":
            failed[name] = str(row.get("error") or "failed")
        elif not isinstance(row.get("caption"), str):
            raise EvaluationError(source, f"row {number}: no 'caption'")
        else:
            captions[name] = row["caption"]
    return Predictions(source, captions, failed)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:SHOWN])
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"{len(names)} image(s): {shown}{more}"


def match(refs: References, preds: Predictions, *, extra_ok: bool = False) -> Predictions:
    """The predictions renamed to the references' image names (the rule in this module's
    docstring); an `EvaluationError` naming the predictions file on a mismatch."""
    everything = {**preds.captions, **preds.failed}
    by_name: dict[str, list[str]] = {}
    for path in everything:
        by_name.setdefault(posixpath.basename(path), []).append(path)
    used: set[str] = set()
    captions: dict[str, str] = {}
    failed: dict[str, str] = {}
    missing: list[str] = []
    for ref in refs.captions:
        found = ref if ref in everything else None
        if found is None and len(by_name.get(posixpath.basename(ref), [])) == 1:
            found = by_name[posixpath.basename(ref)][0]
        if found is None:
            missing.append(ref)
            continue
        used.add(found)
        if found in preds.captions:
            captions[ref] = preds.captions[found]
        else:
            failed[ref] = preds.failed[found]
    if missing:
        raise EvaluationError(
            preds.source, f"no prediction for {_listed(missing)} named in {refs.source}"
        )
    extra = [path for path in everything if path not in used]
    if extra and not extra_ok:
        raise EvaluationError(
            preds.source,
            f"predictions for {_listed(extra)} that {refs.source} does not name "
            "(every predicted image needs references)",
        )
    return Predictions(preds.source, captions, failed)
