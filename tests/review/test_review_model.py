"""Every state transition of a review item (review/model.py), and the flags."""

from __future__ import annotations

import pytest

from nanocaption_desktop.ground.errors import RequestError
from nanocaption_desktop.review import model
from nanocaption_desktop.review.cleanup import CleanupOptions
from nanocaption_desktop.review.model import Alternative, Identity, Origin, State

ID = Identity(100, 5, "abc")


def fresh() -> model.Item:
    return model.new_item("a/photo.jpg", "/photos/a/photo.jpg")


def captioned(text: str = "a boat on a lake", score: float = -0.4) -> model.Item:
    return model.captioned(fresh(), text, score, ID)


def test_a_new_item_is_new_and_empty() -> None:
    item = fresh()
    assert (item.state, item.text, item.alternatives, item.identity) == (State.NEW, "", (), None)


def test_a_caption_makes_it_captioned_with_the_cleaned_text_and_the_raw_model_text() -> None:
    item = model.captioned(fresh(), "a man a man a man", -0.5, ID)
    assert item.state is State.CAPTIONED
    assert (item.text, item.model_text) == ("A man", "a man a man a man")
    assert (item.text_score, item.score, item.origin) == (-0.5, -0.5, Origin.MODEL)
    assert item.repetition and item.identity == ID
    raw = model.captioned(fresh(), "a man a man a man", -0.5, ID, cleanup=None)
    assert (raw.text, raw.repetition) == ("a man a man a man", False)


def test_an_edit_makes_it_edited_keeps_the_model_text_and_drops_the_shown_score() -> None:
    item = model.edit(captioned(), "A red boat")
    assert (item.state, item.text, item.origin) == (State.EDITED, "A red boat", Origin.PERSON)
    assert (item.model_text, item.score, item.text_score) == ("a boat on a lake", -0.4, None)
    assert item.alternatives == (Alternative("A boat on a lake", Origin.MODEL, -0.4),)


def test_typing_on_is_one_edit_and_an_untouched_commit_changes_nothing() -> None:
    first = model.edit(captioned(), "A red")
    second = model.edit(first, "A red boat")
    assert second.alternatives == first.alternatives  # "A red" is not an alternative
    assert model.edit(second, "A red boat") is second
    untouched = captioned()
    assert model.edit(untouched, untouched.text) is untouched


def test_approve_then_write_then_edit_is_unwritten_again() -> None:
    approved = model.approve(model.edit(captioned(), "A red boat"))
    assert approved.state is State.APPROVED and approved.unwritten
    after = Identity(120, 9, "def")
    done = model.written(approved, ["alt-text:file", "txt:/photos/a/photo.txt"], after)
    assert done.state is State.WRITTEN and not done.unwritten
    assert done.targets == ("alt-text:file", "txt:/photos/a/photo.txt") and done.identity == after
    again = model.edit(done, "A red boat at dawn")
    assert again.state is State.EDITED and again.targets == done.targets
    assert model.approve(again).unwritten


def test_approving_a_written_or_approved_item_changes_nothing_and_empty_is_refused() -> None:
    done = model.written(model.approve(captioned()), ["csv:/x.csv"])
    assert model.approve(done) is done
    approved = model.approve(captioned())
    assert model.approve(approved) is approved
    with pytest.raises(RequestError, match="a/photo.jpg: nothing to approve"):
        model.approve(fresh())
    with pytest.raises(RequestError, match="nothing was written"):
        model.written(fresh(), ["csv:/x.csv"])


def test_unapprove_goes_back_to_where_the_text_came_from() -> None:
    assert model.unapprove(model.approve(captioned())).state is State.CAPTIONED
    edited = model.edit(captioned(), "A red boat")
    assert model.unapprove(model.approve(edited)).state is State.EDITED
    assert model.unapprove(edited) is edited


def test_regenerate_keeps_the_persons_text_as_an_alternative() -> None:
    edited = model.edit(captioned(), "A red boat")
    again = model.captioned(edited, "a small boat", -0.3, ID)
    assert (again.state, again.text, again.origin) == (
        State.CAPTIONED,
        "A small boat",
        Origin.REGENERATED,
    )
    assert again.alternatives[0] == Alternative("A red boat", Origin.PERSON, None)
    assert Alternative("A boat on a lake", Origin.MODEL, -0.4) in again.alternatives


def test_beam_candidates_become_ranked_alternatives() -> None:
    item = model.captioned(fresh(), "a boat", -0.2, ID, others=[("a ship", -0.3), ("a raft", -0.9)])
    assert item.text == "A boat"
    assert item.alternatives == (
        Alternative("A ship", Origin.BEAM, -0.3, 2),
        Alternative("A raft", Origin.BEAM, -0.9, 3),
    )


def test_pick_swaps_an_alternative_in_and_keeps_its_own_score() -> None:
    item = model.captioned(fresh(), "a boat", -0.2, ID, others=[("a ship", -0.3)])
    picked = model.pick(item, 0)
    assert (picked.state, picked.text, picked.origin) == (State.EDITED, "A ship", Origin.BEAM)
    assert picked.text_score == -0.3 and picked.score == -0.2
    assert picked.alternatives == (Alternative("A boat", Origin.MODEL, -0.2),)
    with pytest.raises(RequestError, match="no alternative 5"):
        model.pick(item, 5)


def test_failure_keeps_the_text_and_a_new_caption_clears_the_reason() -> None:
    edited = model.edit(captioned(), "A red boat")
    broken = model.failed(edited, "cannot decode: truncated JPEG")
    assert (broken.state, broken.text, broken.reason) == (
        State.FAILED,
        "A red boat",
        "cannot decode: truncated JPEG",
    )
    assert model.flags(broken) == ("failed",)
    retried = model.captioned(broken, "a boat", -0.2, ID)
    assert retried.reason is None and retried.state is State.CAPTIONED
    assert retried.alternatives[0].text == "A red boat"


def test_a_changed_photo_is_new_again_with_its_old_caption_as_an_alternative() -> None:
    edited = model.edit(captioned(), "A red boat")
    now = Identity(555, 77)
    changed = model.photo_changed(edited, now)
    assert (changed.state, changed.text, changed.changed) == (State.NEW, "", True)
    assert (changed.model_text, changed.score, changed.identity) == (None, None, now)
    assert changed.alternatives[0] == Alternative("A red boat", Origin.PERSON, None)
    assert "changed" in model.flags(changed)
    recaptioned = model.captioned(changed, "a ship", -0.3, now)
    assert not recaptioned.changed and recaptioned.alternatives[0].text == "A red boat"
    typed = model.edit(changed, "A new photo, described by hand")
    assert typed.changed and model.flags(typed) == ("changed",)
    assert not model.approve(typed).changed  # a person looked at it


def test_alternatives_are_unique_and_bounded() -> None:
    item = captioned()
    for n in range(model.MAX_ALTERNATIVES + 5):
        item = model.captioned(item, f"caption number {n}", -0.1, ID)
    assert len(item.alternatives) == model.MAX_ALTERNATIVES
    item = model.captioned(item, "caption number 3", -0.1, ID)
    texts = [a.text for a in item.alternatives]
    assert len(texts) == len(set(texts)) and "Caption number 3" not in texts


def test_flags_weak_score_and_repetition_until_a_person_edits() -> None:
    assert model.flags(captioned(score=-0.4)) == ()
    weak = captioned(score=-2.0)
    assert model.flags(weak) == ("weak score",)
    assert model.flags(weak, weak_score=-3.0) == ()
    looped = model.captioned(fresh(), "a dog and a dog and a dog", -0.3, ID)
    assert model.flags(looped) == ("repetition",) and model.is_flagged(looped) and looped.flagged
    assert model.flags(model.edit(looped, "Two dogs")) == ()
    assert not model.is_flagged(model.edit(weak, "A boat"))


def test_cleanup_options_reach_the_shown_text() -> None:
    opts = CleanupOptions(capitalize=False, template="photo of {caption}, trending")
    item = model.captioned(fresh(), "a  boat", -0.2, ID, cleanup=opts)
    assert (item.text, item.model_text) == ("photo of a boat, trending", "a  boat")


def test_workspace_replaces_items_by_id_in_order_and_is_read_only() -> None:
    a, b = model.new_item("a.jpg", "/p/a.jpg"), model.new_item("b.jpg", "/p/b.jpg")
    ws = model.Workspace("folder:/p", "folder", "/p", {"a.jpg": a, "b.jpg": b})
    ws2 = model.with_items(ws, [model.edit(b, "x"), model.new_item("c.jpg", "/p/c.jpg")])
    assert ws2.ids() == ["a.jpg", "b.jpg", "c.jpg"] and ws.get("b.jpg") is b
    assert ws2.get("b.jpg").text == "x" and ws2.count(State.EDITED) == 1
    with pytest.raises(TypeError):
        ws2.items["a.jpg"] = b  # type: ignore[index]
    with pytest.raises(RequestError, match="no image 'z.jpg'"):
        ws.get("z.jpg")
    assert model.without(ws2, ["a.jpg"]).ids() == ["b.jpg", "c.jpg"]
