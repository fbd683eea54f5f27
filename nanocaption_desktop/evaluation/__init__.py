"""Evaluate a captioner against reference captions: COCO caption metrics, model comparison and
a self-contained HTML report.

Example::

    from nanocaption_desktop import evaluate
    result = evaluate("captions.txt", model=["vit-gpt2", "my-finetune"], images="Images")
    print(result.systems[0].corpus["CIDEr-D"], result.comparisons[0])
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..ground.errors import EvaluationError
from . import metrics, tokenize
from .predictions import Predictions, load_predictions, match
from .references import References, load_references
from .result import (
    Comparison,
    EvaluationResult,
    ImageResult,
    ModelInfo,
    SystemResult,
    compare,
)

__all__ = [
    "Comparison",
    "EvaluationError",
    "EvaluationResult",
    "ImageResult",
    "ModelInfo",
    "SystemResult",
    "evaluate",
    "load_predictions",
    "load_references",
]

PathArg = str | os.PathLike[str]


def _many(value: PathArg | Sequence[PathArg] | None) -> list[PathArg]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return list(value)


def evaluate(
    references: PathArg | References,
    predictions: PathArg | Sequence[PathArg] | None = None,
    model: PathArg | Sequence[PathArg] | None = None,
    *,
    images: PathArg | None = None,
    beams: int | None = None,
    max_new_tokens: int | None = None,
    java: bool | None = None,
    work: PathArg | None = None,
    progress: Callable[[Any], None] | None = None,
) -> EvaluationResult:
    """Score one or more systems against ``references``: ``predictions`` files (our batch CSV
    or JSONL) and/or ``model`` names or folders, which caption the reference images found in
    ``images`` first (resumable, see `captioning.py`). ``java``: None uses Java when it is on
    PATH (the Java tokenizer and METEOR), False never, True insists. ``work``: where models'
    captions and journals are kept (default: the user data folder). Every problem with the
    inputs is an `EvaluationError` naming the file; a model that cannot load a `ModelError`."""
    refs = references if isinstance(references, References) else load_references(references)
    pred_files, models = _many(predictions), _many(model)
    if not pred_files and not models:
        raise EvaluationError(refs.source, "nothing to evaluate: give predictions or a model")
    folder = None if images is None else Path(os.fspath(images))
    method = tokenize.choose(java)
    use_meteor = method == tokenize.PTB_JAVA
    gts = tokenize.tokenize(refs.captions, method)
    systems: list[SystemResult] = []
    for path in pred_files:
        preds = match(refs, load_predictions(path))
        systems.append(_scored(refs, gts, preds, method, use_meteor, label=os.fspath(path)))
    for name in models:
        if folder is None:
            raise EvaluationError(refs.source, "a model needs the images folder (--images)")
        systems.append(
            _model_system(
                refs, gts, name, folder, method, use_meteor, beams, max_new_tokens, work, progress
            )
        )
    labels = _unique_labels([s.label for s in systems])
    systems = [_relabel(s, label) for s, label in zip(systems, labels, strict=True)]
    comparisons = tuple(
        compare(systems[i], systems[j])
        for i in range(len(systems))
        for j in range(i + 1, len(systems))
    )
    not_computed = {"SPICE": metrics.NOT_COMPUTED["SPICE"]}
    if not use_meteor:
        not_computed = {"METEOR": metrics.NOT_COMPUTED["METEOR"], **not_computed}
    return EvaluationResult(
        references=refs.source,
        reference_format=refs.format,
        reference_count=refs.count,
        tokenization=method,
        tokenization_description=tokenize.DESCRIPTIONS[method],
        metrics=metrics.metric_names(use_meteor),
        not_computed=not_computed,
        systems=tuple(systems),
        comparisons=comparisons,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        settings={
            "beams": beams,
            "max_new_tokens": max_new_tokens,
            "images": None if images is None else os.fspath(images),
        },
    )


def _model_system(
    refs: References,
    gts: dict[str, list[str]],
    name: PathArg,
    images: Path,
    method: str,
    use_meteor: bool,
    beams: int | None,
    max_new_tokens: int | None,
    work: PathArg | None,
    progress: Callable[[Any], None] | None,
) -> SystemResult:
    from .captioning import caption_references, model_files

    done = caption_references(
        refs,
        name,
        images,
        beams=beams,
        max_new_tokens=max_new_tokens,
        work=None if work is None else Path(os.fspath(work)),
        progress=progress,
    )
    info = ModelInfo(done.bundle.name, str(done.bundle), model_files(done.bundle), done.settings)
    system = _scored(refs, gts, done.predictions, method, use_meteor, label=os.fspath(name))
    return SystemResult(
        system.label,
        str(done.bundle),
        system.corpus,
        system.images,
        info,
        captioned=done.captioned,
        resumed=done.resumed,
    )


def _scored(
    refs: References,
    gts: dict[str, list[str]],
    preds: Predictions,
    method: str,
    use_meteor: bool,
    *,
    label: str,
) -> SystemResult:
    """Failed images are scored as an empty caption, so that every system is scored on the
    same images (and its corpus scores compare)."""
    cands = {k: preds.captions.get(k, "") for k in refs.captions}
    tokenized = tokenize.tokenize({k: [v] for k, v in cands.items()}, method)
    scores = metrics.score(gts, {k: v[0] for k, v in tokenized.items()}, meteor=use_meteor)
    images = tuple(
        ImageResult(k, cands[k], refs.captions[k], scores.per_image[k], preds.failed.get(k))
        for k in refs.captions
    )
    return SystemResult(label, preds.source, scores.corpus, images)


def _unique_labels(labels: list[str]) -> list[str]:
    out = []
    for n, label in enumerate(labels):
        out.append(label if labels.count(label) == 1 else f"{label} #{n + 1}")
    return out


def _relabel(system: SystemResult, label: str) -> SystemResult:
    from dataclasses import replace

    return replace(system, label=label)
