"""Bulk actions and navigation (review/bulk.py)."""

from __future__ import annotations

import pytest

from nanocaption_desktop.ground.errors import RequestError
from nanocaption_desktop.review import bulk, model
from nanocaption_desktop.review.model import Identity, State

ID = Identity(1, 1)


def workspace() -> model.Workspace:
    items = [
        model.captioned(model.new_item("1.jpg", "/p/1.jpg"), "a boat on a lake", -0.3, ID),
        model.captioned(model.new_item("2.jpg", "/p/2.jpg"), "a Boat and a dog", -2.5, ID),
        model.failed(model.new_item("3.jpg", "/p/3.jpg"), "cannot decode"),
        model.new_item("4.jpg", "/p/4.jpg"),
        model.approve(model.captioned(model.new_item("5.jpg", "/p/5.jpg"), "a cat", -0.2, ID)),
    ]
    return model.Workspace("folder:/p", "folder", "/p", {i.id: i for i in items})


def test_approve_all_approves_what_has_text_and_reports_the_rest() -> None:
    ws = workspace()
    changed, skipped = bulk.approve_all(ws, ["1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg"])
    assert [i.id for i in changed] == ["1.jpg", "2.jpg"]
    assert all(i.state is State.APPROVED for i in changed)
    assert [(s.id, s.reason) for s in skipped] == [
        ("3.jpg", "the caption is empty"),
        ("4.jpg", "the caption is empty"),
    ]


def test_find_and_replace_plain_text_with_and_without_case() -> None:
    ws = workspace()
    ids = ["1.jpg", "2.jpg", "3.jpg"]
    changed = bulk.find_replace(ws, ids, "boat", "ship (.*)")
    assert [(i.id, i.text, i.state) for i in changed] == [
        ("1.jpg", "A ship (.*) on a lake", State.EDITED),
        ("2.jpg", "A ship (.*) and a dog", State.EDITED),
    ]
    cased = bulk.find_replace(ws, ids, "boat", "ship", match_case=True)
    assert [i.id for i in cased] == ["1.jpg"]
    assert bulk.find_replace(ws, ids, "a.", "X") == []  # plain text, not a pattern
    assert changed[0].alternatives[0].text == "A boat on a lake"
    with pytest.raises(RequestError, match="nothing to find"):
        bulk.find_replace(ws, ids, "", "x")


def test_retry_failed_gives_the_failed_and_new_ids() -> None:
    ws = workspace()
    assert bulk.retry_failed(ws) == ["3.jpg", "4.jpg"]
    assert bulk.retry_failed(ws, ["1.jpg", "3.jpg"]) == ["3.jpg"]


def test_next_flagged_and_next_not_approved_wrap_around_in_the_views_order() -> None:
    ws = workspace()
    assert bulk.next_flagged(ws, None) == "2.jpg"  # weak score
    assert bulk.next_flagged(ws, "2.jpg") == "3.jpg"  # failed
    assert bulk.next_flagged(ws, "3.jpg") == "2.jpg"  # wraps
    assert bulk.next_flagged(ws, "3.jpg", order=["5.jpg", "3.jpg", "1.jpg"]) == "3.jpg"
    assert bulk.next_not_approved(ws, "4.jpg") == "1.jpg"  # 5 is approved
    assert bulk.next_not_approved(ws, "1.jpg") == "2.jpg"
    done = model.with_items(ws, bulk.approve_all(ws, ws.ids())[0])
    done = model.with_items(done, [model.edit(done.get(i), "x") for i in ("3.jpg", "4.jpg")])
    done = model.with_items(done, bulk.approve_all(done, ["3.jpg", "4.jpg"])[0])
    assert bulk.next_not_approved(done, "1.jpg") is None
    assert bulk.next_flagged(done, None, order=[]) is None
