"""Candidates made by a model: the references' images captioned through the batch runner, with
its journal, so a long evaluation that is stopped (Ctrl+C, a crash, a kill) resumes where it
was at the next run with the same images, model and settings."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ground.errors import EvaluationError, ModelError
from ..ground.hashing import file_sha256
from ..modelstore.layout import OPTIMIZED
from .predictions import SHOWN, Predictions, load_predictions, match
from .references import References

#: Model files whose hashes identify the model (the derived copies are made from these).
HASHED_SUFFIXES = (".onnx", ".onnx_data", ".json", ".txt", ".model")


@dataclass(frozen=True)
class Captioned:
    predictions: Predictions
    bundle: Path
    settings: dict[str, Any]
    captioned: int
    resumed: int


def check_images(refs: References, images: Path) -> None:
    """Every reference image must be a file in ``images`` (by its name as given)."""
    if not images.is_dir():
        raise EvaluationError(str(images), "no such folder (--images)")
    missing = [name for name in refs.captions if not (images / name).is_file()]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:SHOWN])
        raise EvaluationError(
            str(images), f"no image file for {len(missing)} reference image(s): {shown}"
        )


def work_folder(images: Path, bundle: Path, settings: dict[str, Any], base: Path | None) -> Path:
    """Where one model's captions and journal live: the same for the same images folder, model
    and settings, so a rerun resumes; under the user data folder unless ``base`` is given."""
    ident = f"{os.path.realpath(images)}\0{os.path.realpath(bundle)}\0{sorted(settings.items())}"
    digest = hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest()[:16]
    if base is None:
        from ..ground.paths import user_data_dir

        base = Path(user_data_dir()) / "evaluations"
    return base / f"{bundle.name}-{digest}"


def caption_references(
    refs: References,
    model: str | os.PathLike[str],
    images: Path,
    *,
    beams: int | None = None,
    max_new_tokens: int | None = None,
    work: Path | None = None,
    progress: Callable[[Any], None] | None = None,
) -> Captioned:
    from ..engine.captioner import Captioner
    from ..jobs import caption_folder
    from ..modelstore.locate import find_bundle

    check_images(refs, images)
    bundle = find_bundle(model)
    if bundle is None:
        raise ModelError(os.fspath(model), "no model bundle there")
    captioner = Captioner.load(bundle, threads=1)
    chosen = captioner.settings.override(beams=beams, max_new_tokens=max_new_tokens)
    settings = {"beams": chosen.num_beams, "max_new_tokens": max_new_tokens}
    settings["max_length"] = chosen.max_length
    folder = work_folder(images, bundle, settings, work)
    folder.mkdir(parents=True, exist_ok=True)
    jsonl = folder / "captions.jsonl"
    captioned = resumed = 0
    recursive = any("/" in name for name in refs.captions)
    for result in caption_folder(
        images,
        captioner=captioner,
        jsonl=jsonl,
        recursive=recursive,
        resume=True,
        beams=beams,
        max_new_tokens=max_new_tokens,
    ):
        resumed += int(result.resumed)
        captioned += int(not result.resumed)
        if progress is not None:
            progress(result)
    preds = match(refs, load_predictions(jsonl), extra_ok=True)
    return Captioned(preds, bundle, settings, captioned, resumed)


def model_files(bundle: Path) -> tuple[tuple[str, int, str], ...]:
    """(path, size, SHA-256) of the bundle's own files; derived copies are left out."""
    found = []
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle)
        if rel.parts[0] == OPTIMIZED or not path.is_file() or path.is_symlink():
            continue
        if path.suffix in HASHED_SUFFIXES:
            size, digest = file_sha256(path)
            found.append((rel.as_posix(), size, digest))
    return tuple(found)
