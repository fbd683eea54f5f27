"""Corpus and per-image scores by pycocoevalcap's scorers on tokenized captions.

BLEU-1..4 (``Bleu(4)``: the corpus score is the corpus-level BLEU, not the mean of per-image
ones), ROUGE-L (``Rouge``), CIDEr-D (``Cider``: coco-caption's CIDEr is the CIDEr-D variant,
clipped counts and a Gaussian length penalty with sigma 6; document frequencies from the
evaluated references), and METEOR 1.5 (``Meteor``) when Java is there. SPICE is never run: it
needs Stanford CoreNLP models that pycocoevalcap downloads on first use, and this app stays
offline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .scorer import coco_caption

BLEU = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")
ROUGE, CIDER, METEOR = "ROUGE-L", "CIDEr-D", "METEOR"
#: Shown when METEOR is left out (no Java) or SPICE (always).
NOT_COMPUTED = {
    "METEOR": "needs Java (not found on PATH, or --no-java)",
    "SPICE": "needs Stanford CoreNLP models that pycocoevalcap downloads on first use; "
    "an offline app does not",
}


@dataclass(frozen=True)
class Scores:
    """Corpus scores by metric, and per image (same metric names) in the references' order."""

    corpus: Mapping[str, float]
    per_image: Mapping[str, Mapping[str, float]]


def metric_names(meteor: bool) -> tuple[str, ...]:
    return (*BLEU, METEOR, ROUGE, CIDER) if meteor else (*BLEU, ROUGE, CIDER)


def score(
    refs: Mapping[str, Sequence[str]], cands: Mapping[str, str], *, meteor: bool = False
) -> Scores:
    """Score tokenized candidates (one per image) against tokenized references; the images are
    the references' keys, every one with a candidate."""
    coco_caption()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    images = list(refs)
    gts = {k: list(refs[k]) for k in images}
    res = {k: [cands[k]] for k in images}
    corpus: dict[str, float] = {}
    per: dict[str, dict[str, float]] = {k: {} for k in images}

    bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
    for n, name in enumerate(BLEU):
        corpus[name] = float(bleu[n])
        for k, value in zip(images, bleu_each[n], strict=True):
            per[k][name] = float(value)
    scorers = [(ROUGE, Rouge()), (CIDER, Cider())]
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        scorers.insert(0, (METEOR, Meteor()))
    for name, scorer in scorers:
        total, each = scorer.compute_score(gts, res)
        corpus[name] = float(total)
        for k, value in zip(images, each, strict=True):
            per[k][name] = float(value)
        if name == METEOR:
            _close_meteor(scorer)
    order = metric_names(meteor)
    return Scores(
        {m: corpus[m] for m in order}, {k: {m: v[m] for m in order} for k, v in per.items()}
    )


def _close_meteor(scorer: object) -> None:
    """pycocoevalcap's Meteor closes only stdin in ``__del__``: its Java process and its
    output pipes are ended and closed here (a leaked pipe is a ResourceWarning)."""
    proc = getattr(scorer, "meteor_p", None)
    if proc is None:
        return
    proc.stdin.close()
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    scorer.meteor_p = _Closed()  # type: ignore[attr-defined]


class _Closed:
    """What ``Meteor.__del__`` finds after `_close_meteor`: closing it again does nothing."""

    class _Pipe:
        def close(self) -> None:
            pass

    stdin = _Pipe()

    def kill(self) -> None:
        pass

    def wait(self) -> None:
        pass
