"""References in the three formats, our predictions files, and the matching rule's errors."""

from __future__ import annotations

import json

import pytest
from fixture_paths import EVALUATE_DIR

from nanocaption_desktop.evaluation import EvaluationError, load_predictions, load_references
from nanocaption_desktop.evaluation.predictions import match


def _rows(name):
    return [json.loads(line) for line in (EVALUATE_DIR / name).read_text().splitlines()]


FORMATS = {
    "captions.txt": "csv",
    "Flickr8k.token.txt": "flickr8k-token",
    "captions_coco.json": "coco-json",
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_the_three_formats_give_the_same_references(name):
    refs = load_references(EVALUATE_DIR / name)
    assert refs.format == FORMATS[name]
    base = load_references(EVALUATE_DIR / "captions.txt")
    assert dict(refs.captions) == dict(base.captions)
    assert len(refs.captions) == 6 and refs.count == 17
    assert refs.captions["blocks.webp"][1] == "Squares of red, green and blue arranged in rows."


def test_an_unquoted_comma_in_flickr_captions_txt_stays_in_the_caption(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text("image,caption\na.jpg,A dog , running .\n", encoding="utf-8")
    assert load_references(path).captions == {"a.jpg": ("A dog , running .",)}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"images": [], "annotations": [', "not valid JSON (line 1"),
        (
            '{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 2, '
            '"caption": "x"}]}',
            "annotations[0]: image_id 2 not in images",
        ),
        ("a.jpg#0\tfine\nno tab here#\n", "line 2: expected 'name.jpg#n<TAB>caption'"),
        ("a.jpg#0\tfine\nb.jpg caption\n", "line 2: expected 'name.jpg#n<TAB>caption'"),
        ("name,text\na.jpg,x\n", "not a references file"),
        ("image,caption\n", "no reference captions in the file"),
        ("image,caption\na.jpg,   \n", "image 'a.jpg' has only empty captions"),
    ],
)
def test_malformed_references_name_the_file_and_what_is_wrong(tmp_path, text, reason):
    path = tmp_path / "refs.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EvaluationError) as info:
        load_references(path)
    assert str(info.value).startswith(f"{path}: ")
    assert reason in str(info.value)


def test_predictions_in_both_formats_and_a_failed_image():
    a = load_predictions(EVALUATE_DIR / "predictions_a.csv")
    b = load_predictions(EVALUATE_DIR / "predictions_b.jsonl")
    assert len(a.captions) == 6 and not a.failed
    assert set(b.failed) == {"triangle_alpha.png"} and len(b.captions) == 5


def test_a_prediction_without_references_is_an_error_naming_both_files(tmp_path):
    refs = load_references(EVALUATE_DIR / "captions.txt")
    rows = _rows("predictions_b.jsonl")
    extra = tmp_path / "extra.jsonl"
    rows.append({"path": "stranger.jpg", "caption": "a cat", "status": "ok"})
    extra.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(EvaluationError, match=r"predictions for 1 image\(s\): 'stranger.jpg'"):
        match(refs, load_predictions(extra))
    # the same rows from a model run over a bigger folder: the stranger is ignored
    assert "stranger.jpg" not in match(refs, load_predictions(extra), extra_ok=True).captions


def test_a_reference_without_a_prediction_is_an_error(tmp_path):
    refs = load_references(EVALUATE_DIR / "captions.txt")
    short = tmp_path / "short.csv"
    lines = (EVALUATE_DIR / "predictions_a.csv").read_text().splitlines()
    short.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(EvaluationError) as info:
        match(refs, load_predictions(short), extra_ok=True)
    assert str(info.value).startswith(f"{short}: no prediction for 1 image(s): 'waves_gray.png'")


def test_predictions_in_subfolders_match_by_a_unique_file_name(tmp_path):
    refs = load_references(EVALUATE_DIR / "captions.txt")
    rows = _rows("predictions_b.jsonl")
    moved = tmp_path / "moved.jsonl"
    moved.write_text(
        "".join(json.dumps({**r, "path": "sub/" + r["path"]}) + "\n" for r in rows),
        encoding="utf-8",
    )
    matched = match(refs, load_predictions(moved))
    assert matched.captions["waves_gray.png"] == "gray wavy lines like water"
