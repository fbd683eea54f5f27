"""Our numbers against the reference implementation, the two tokenizations, comparison, --json."""

from __future__ import annotations

import json
import shutil

import pytest
from fixture_paths import EVALUATE_DIR

from nanocaption_desktop.cli import main
from nanocaption_desktop.evaluation import evaluate, load_references, tokenize

pytest.importorskip("pycocoevalcap")
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="no Java on PATH")


def _reference_numbers() -> tuple[dict, dict]:
    """pycocoevalcap end to end, called directly: pycocotools' COCO objects from the COCO
    fixture, pycocoevalcap's own PTBTokenizer (Java), its scorers. Our code takes no part."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    from pycocotools.coco import COCO

    coco = COCO(str(EVALUATE_DIR / "captions_coco.json"))
    ids = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    preds = [
        line.split(",", 1)[1].split(",-")[0]
        for line in (EVALUATE_DIR / "predictions_a.csv").read_text().splitlines()[1:]
    ]
    names = [
        line.split(",", 1)[0]
        for line in (EVALUATE_DIR / "predictions_a.csv").read_text().splitlines()[1:]
    ]
    gts = {ids[n]: coco.imgToAnns[ids[n]] for n in names}
    res = {ids[n]: [{"image_id": ids[n], "caption": p}] for n, p in zip(names, preds, strict=True)}
    tok = PTBTokenizer()
    gts, res = tok.tokenize(gts), tok.tokenize(res)
    corpus, per = {}, {}
    bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        corpus[f"BLEU-{n + 1}"] = bleu[n]
    for name, scorer in (("ROUGE-L", Rouge()), ("CIDEr-D", Cider())):
        corpus[name], each = scorer.compute_score(gts, res)
        per[name] = dict(zip([n for n in names], each, strict=True))
    per["BLEU-4"] = dict(zip(names, bleu_each[3], strict=True))
    return corpus, per


@needs_java
@pytest.mark.parametrize("java", [True, False])
def test_our_numbers_equal_pycocoevalcaps_own_pipeline(java):
    want, want_per = _reference_numbers()
    got = evaluate(EVALUATE_DIR / "captions.txt", EVALUATE_DIR / "predictions_a.csv", java=java)
    system = got.systems[0]
    for metric, value in want.items():
        assert system.corpus[metric] == pytest.approx(value, abs=1e-6), metric
    for metric, values in want_per.items():
        for r in system.images:
            assert r.scores[metric] == pytest.approx(values[r.image], abs=1e-6), (metric, r.image)
    assert want["CIDEr-D"] > 1.0  # a fixture that scores, not all zeros


@needs_java
def test_the_python_tokenization_gives_the_java_tokens_on_the_fixtures():
    found = load_references(EVALUATE_DIR / "captions.txt").captions
    refs = {k: list(v) for k, v in found.items()}
    python = tokenize.tokenize(refs, tokenize.PTB_PYTHON)
    assert python == tokenize.tokenize(refs, tokenize.PTB_JAVA)
    assert python["blocks.webp"][1] == "squares of red green and blue arranged in rows"


def test_two_predictions_files_side_by_side_with_per_image_wins():
    result = evaluate(
        EVALUATE_DIR / "Flickr8k.token.txt",
        predictions=[EVALUATE_DIR / "predictions_a.csv", EVALUATE_DIR / "predictions_b.jsonl"],
        java=False,
    )
    a, b = result.systems
    (cmp,) = result.comparisons
    ca, cb = a.cider(), b.cider()
    assert cmp.a_wins == sum(ca[k] > cb[k] for k in ca)
    assert cmp.b_wins == sum(cb[k] > ca[k] for k in ca)
    assert cmp.a_wins + cmp.b_wins + cmp.ties == 6
    assert cmp.b_wins >= 1 and cmp.a_wins >= 1  # the fixture has wins on both sides
    failed = [r for r in b.images if r.failed]
    assert [r.image for r in failed] == ["triangle_alpha.png"] and failed[0].candidate == ""
    assert result.tokenization == "ptb-python" and "METEOR" in result.not_computed


def test_json_output_schema(capsys):
    code = main(
        [
            "evaluate",
            str(EVALUATE_DIR / "captions_coco.json"),
            "--no-java",
            "--json",
            "--predictions",
            str(EVALUATE_DIR / "predictions_a.csv"),
            "--predictions",
            str(EVALUATE_DIR / "predictions_b.jsonl"),
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "schema",
        "date",
        "references",
        "tokenization",
        "metrics",
        "not_computed",
        "settings",
        "systems",
        "comparisons",
    }
    assert data["schema"] == 1 and data["references"]["format"] == "coco-json"
    assert data["metrics"] == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"]
    assert data["tokenization"]["name"] == "ptb-python"
    system = data["systems"][1]
    assert set(system) == {
        "label",
        "source",
        "model",
        "captioned",
        "resumed",
        "failed",
        "corpus",
        "images",
    }
    assert system["failed"] == 1 and len(system["images"]) == 6
    assert set(system["images"][0]) == {"image", "candidate", "references", "scores", "failed"}
    assert set(data["comparisons"][0]) == {"a", "b", "a_wins", "b_wins", "ties"}


def test_text_output_and_a_clear_error(capsys, tmp_path):
    refs = str(EVALUATE_DIR / "captions.txt")
    assert (
        main(
            [
                "evaluate",
                refs,
                "--no-java",
                "--predictions",
                str(EVALUATE_DIR / "predictions_a.csv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "tokenization: nltk TreebankWordTokenizer" in out and "CIDEr-D" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("path,caption\nnobody.jpg,x\n", encoding="utf-8")
    assert main(["evaluate", refs, "--no-java", "--predictions", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"evaluate: {bad}: no prediction for 6 image(s)")
