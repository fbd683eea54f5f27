"""Batch results as workspace items (review/batch.py): a person's text is never replaced."""

from __future__ import annotations

from nanocaption_desktop.jobs.results import BatchResult, ResultStatus
from nanocaption_desktop.review import batch, model
from nanocaption_desktop.review.model import Identity, Origin, State

ID = Identity(10, 20)


def result(caption: str = "a boat a boat a boat", **kw) -> BatchResult:
    fields = {"path": "/p/sub/1.jpg", "relpath": "sub/1.jpg", "status": ResultStatus.OK,
              "caption": caption, "score": -0.4, **kw}  # fmt: skip
    return BatchResult(**fields)


def ws_with(*items: model.Item) -> model.Workspace:
    return model.Workspace("folder:/p", "folder", "/p", {i.id: i for i in items})


def test_a_new_image_gets_the_cleaned_caption() -> None:
    item = batch.from_batch(ws_with(), result(), ID)
    assert (item.id, item.path, item.state, item.text) == (
        "sub/1.jpg", "/p/sub/1.jpg", State.CAPTIONED, "A boat")  # fmt: skip
    assert item.model_text == "a boat a boat a boat" and item.repetition and item.identity == ID


def test_a_persons_text_stays_and_the_caption_is_offered() -> None:
    base = model.new_item("sub/1.jpg", "/p/sub/1.jpg")
    for person in (
        model.edit(base, "My boat"),
        model.approve(model.edit(base, "My boat")),
        model.written(model.approve(model.edit(base, "My boat")), ["alt-text:file"]),
    ):
        item = batch.from_batch(ws_with(person), result("a ship"), ID)
        assert (item.state, item.text) == (person.state, "My boat")
        assert item.alternatives[0] == model.Alternative("A ship", Origin.REGENERATED, -0.4)
        assert item.model_text == "a ship"


def test_a_resumed_result_changes_nothing_and_a_failure_keeps_the_text() -> None:
    done = model.captioned(model.new_item("sub/1.jpg", "/p/sub/1.jpg"), "a cat", -0.2, ID)
    ws = ws_with(done)
    assert batch.from_batch(ws, result("a cat", resumed=True), ID) is done
    again = batch.from_batch(ws, result("a dog"), ID)
    assert (again.text, again.origin, again.alternatives[0].text) == (
        "A dog", Origin.REGENERATED, "A cat")  # fmt: skip
    broken = batch.from_batch(ws, result("", status=ResultStatus.FAILED, error="truncated"))
    assert (broken.state, broken.text, broken.reason) == (State.FAILED, "A cat", "truncated")
