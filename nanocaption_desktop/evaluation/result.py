"""What an evaluation returns: frozen dataclasses, and their JSON form (``--json``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The JSON form's version; bumped when a key changes meaning or goes away.
SCHEMA = 1
#: Two per-image CIDEr-D scores closer than this are a tie.
TIE = 1e-9


@dataclass(frozen=True)
class ModelInfo:
    """The model that made the candidates: its folder, its files (path relative to the folder,
    size, SHA-256) and the generation settings used."""

    name: str
    path: str
    files: tuple[tuple[str, int, str], ...]
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class ImageResult:
    image: str
    candidate: str
    references: tuple[str, ...]
    scores: Mapping[str, float]
    failed: str | None = None  # the reason, when captioning failed (scored as an empty caption)


@dataclass(frozen=True)
class SystemResult:
    """One model or predictions file, scored: corpus scores and every image's."""

    label: str
    source: str
    corpus: Mapping[str, float]
    images: tuple[ImageResult, ...]
    model: ModelInfo | None = None
    captioned: int = 0  # images captioned by this run (``--model``)
    resumed: int = 0  # images whose caption came from an earlier, interrupted run

    def cider(self) -> dict[str, float]:
        return {r.image: r.scores["CIDEr-D"] for r in self.images}


@dataclass(frozen=True)
class Comparison:
    """Two systems on the same images, by per-image CIDEr-D: ``a_wins`` images where ``a``
    scored higher, ``b_wins`` where ``b`` did, ``ties`` the rest."""

    a: str
    b: str
    a_wins: int
    b_wins: int
    ties: int


@dataclass(frozen=True)
class EvaluationResult:
    references: str
    reference_format: str
    reference_count: int
    tokenization: str
    tokenization_description: str
    metrics: tuple[str, ...]
    not_computed: Mapping[str, str]
    systems: tuple[SystemResult, ...]
    comparisons: tuple[Comparison, ...] = ()
    date: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "date": self.date,
            "references": {
                "file": self.references,
                "format": self.reference_format,
                "images": len(self.systems[0].images) if self.systems else 0,
                "captions": self.reference_count,
            },
            "tokenization": {
                "name": self.tokenization,
                "description": self.tokenization_description,
            },
            "metrics": list(self.metrics),
            "not_computed": dict(self.not_computed),
            "settings": dict(self.settings),
            "systems": [_system_json(s) for s in self.systems],
            "comparisons": [_comparison_json(c) for c in self.comparisons],
        }


def _system_json(s: SystemResult) -> dict[str, Any]:
    model = None
    if s.model is not None:
        model = {
            "name": s.model.name,
            "path": s.model.path,
            "settings": dict(s.model.settings),
            "files": [{"path": p, "size": n, "sha256": h} for p, n, h in s.model.files],
        }
    return {
        "label": s.label,
        "source": s.source,
        "model": model,
        "captioned": s.captioned,
        "resumed": s.resumed,
        "failed": sum(1 for r in s.images if r.failed),
        "corpus": dict(s.corpus),
        "images": [
            {
                "image": r.image,
                "candidate": r.candidate,
                "references": list(r.references),
                "scores": dict(r.scores),
                "failed": r.failed,
            }
            for r in s.images
        ],
    }


def _comparison_json(c: Comparison) -> dict[str, Any]:
    return {"a": c.a, "b": c.b, "a_wins": c.a_wins, "b_wins": c.b_wins, "ties": c.ties}


def compare(a: SystemResult, b: SystemResult) -> Comparison:
    """Per-image wins by CIDEr-D (both systems are scored on the same images)."""
    ca, cb = a.cider(), b.cider()
    a_wins = sum(1 for k in ca if ca[k] > cb[k] + TIE)
    b_wins = sum(1 for k in ca if cb[k] > ca[k] + TIE)
    return Comparison(a.label, b.label, a_wins, b_wins, len(ca) - a_wins - b_wins)
