"""Writing approved captions out (review/targets.py): alt text in the photo, sidecars, CSV,
JSONL; a person's text is asked about, a failure stays with its item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanocaption_desktop.ground.errors import RequestError
from nanocaption_desktop.jobs.writers import read_csv, read_jsonl
from nanocaption_desktop.metadata import read_descriptions, write_alt_text
from nanocaption_desktop.review import live, model
from nanocaption_desktop.review.files import identity_of
from nanocaption_desktop.review.model import State
from nanocaption_desktop.review.targets import (
    Outcome,
    Target,
    WriteOptions,
    unwritten_ids,
    write_items,
)


@pytest.fixture
def approved(photos: Path):
    """The folder's workspace with every photo captioned and approved."""
    ws_live = live.open_folder(photos)
    for item in ws_live.workspace.items.values():
        done = model.captioned(
            item, f"a photo of {item.id}", -0.3, identity_of(item.path, with_hash=True)
        )
        ws_live.apply(model.approve(done))
    yield ws_live
    ws_live.close()


def test_alt_text_is_the_default_and_written_items_stay_unchanged_photos(
    approved: live.LiveWorkspace, photos: Path
) -> None:
    ws = approved.workspace
    ids = unwritten_ids(ws)
    assert ids == ws.ids()
    report = write_items(ws, ids)
    assert [o.outcome for o in report.outcomes] == [Outcome.WRITTEN] * 4
    approved.apply(*report.items)
    for item_id in ids:
        item = approved.workspace.get(item_id)
        assert item.state is State.WRITTEN and item.targets == ("alt-text:file",)
        assert read_descriptions(photos / item_id).winner.text == item.text
    assert unwritten_ids(approved.workspace) == []
    approved.close()
    again = live.open_folder(photos)  # our own write is not a "changed photo"
    try:
        assert not any(i.changed for i in again.workspace.items.values())
        assert again.workspace.count(State.WRITTEN) == 4
    finally:
        again.close()


def test_a_persons_alt_text_is_asked_about_and_replaced_only_when_told(
    approved: live.LiveWorkspace, photos: Path
) -> None:
    photo = photos / "sun_and_grass.jpg"
    write_alt_text(photo, "Grandma at the lake, 1987")
    digest = read_descriptions(photo).digest
    assert digest
    photo.write_bytes(photo.read_bytes().replace(digest.encode(), b"0" * 64))  # another tool's
    ws = approved.workspace
    report = write_items(ws, ["sun_and_grass.jpg", "gradient.png"])
    ask, done = report.outcomes
    assert (ask.id, ask.outcome) == ("sun_and_grass.jpg", Outcome.ASK)
    assert "written by a person" in ask.message
    assert done.outcome is Outcome.WRITTEN
    assert read_descriptions(photo).winner.text == "Grandma at the lake, 1987"
    assert [i.id for i in report.items if i.state is State.WRITTEN] == ["gradient.png"]
    told = write_items(
        ws, ["sun_and_grass.jpg"], WriteOptions(overwrite=frozenset({"sun_and_grass.jpg"}))
    )
    assert told.outcomes[0].outcome is Outcome.WRITTEN
    assert read_descriptions(photo).winner.text == ws.get("sun_and_grass.jpg").text


def test_sidecars_csv_and_jsonl_hold_every_approved_or_written_caption(
    approved: live.LiveWorkspace, photos: Path
) -> None:
    targets = (Target.SIDECAR, Target.CSV, Target.JSONL)
    first = write_items(approved.workspace, ["gradient.png"], WriteOptions(targets))
    approved.apply(*first.items)
    item = approved.workspace.get("gradient.png")
    assert item.targets == (f"txt:{photos / 'gradient.txt'}", f"csv:{photos / 'captions.csv'}",
                            f"jsonl:{photos / 'captions.jsonl'}")  # fmt: skip
    assert (photos / "gradient.txt").read_text() == item.text + "\n"
    second = write_items(approved.workspace, ["waves_gray.png"], WriteOptions(targets))
    approved.apply(*second.items)
    rows = read_csv(photos / "captions.csv")
    assert [(r["path"], r["caption"], r["status"]) for r in rows] == [
        ("gradient.png", "A photo of gradient.png", "ok"),
        ("waves_gray.png", "A photo of waves_gray.png", "ok"),
    ]
    assert [r["path"] for r in read_jsonl(photos / "captions.jsonl")] == [
        "gradient.png",
        "waves_gray.png",
    ]
    edited = model.approve(model.edit(approved.workspace.get("gradient.png"), "A new text"))
    approved.apply(edited)
    third = write_items(approved.workspace, ["gradient.png"], WriteOptions((Target.SIDECAR,)))
    assert third.outcomes[0].outcome is Outcome.WRITTEN  # our own sidecar: replaced
    assert (photos / "gradient.txt").read_text() == "A new text\n"


def test_a_persons_sidecar_is_asked_about(approved: live.LiveWorkspace, photos: Path) -> None:
    (photos / "waves_gray.txt").write_text("my own notes\n")
    report = write_items(approved.workspace, ["waves_gray.png"], WriteOptions((Target.SIDECAR,)))
    assert report.outcomes[0].outcome is Outcome.ASK
    assert "already holds other text" in report.outcomes[0].message and report.items == ()
    assert (photos / "waves_gray.txt").read_text() == "my own notes\n"
    told = WriteOptions((Target.SIDECAR,), overwrite=frozenset({"waves_gray.png"}))
    assert write_items(approved.workspace, ["waves_gray.png"], told).outcomes[0].outcome is (
        Outcome.WRITTEN
    )


def test_one_failure_never_stops_the_rest(approved: live.LiveWorkspace, photos: Path) -> None:
    (photos / "gradient.txt").mkdir()  # a folder where the sidecar goes
    (photos / "blocks.webp").write_bytes(b"RIFF\0\0\0\0WEBPbroken")  # cannot be parsed
    ws = model.with_items(approved.workspace, [model.new_item("empty.jpg", str(photos / "x.jpg"))])
    report = write_items(ws, ws.ids(), WriteOptions((Target.ALT_TEXT, Target.SIDECAR)))
    outcome = {o.id: o for o in report.outcomes}
    assert outcome["gradient.png"].outcome is Outcome.FAILED
    assert "sidecar:" in outcome["gradient.png"].message
    assert outcome["gradient.png"].targets == ("alt-text:file",)  # what did get written
    assert outcome["blocks.webp"].outcome is Outcome.FAILED
    assert "alt text:" in outcome["blocks.webp"].message
    assert outcome["empty.jpg"].message == "the caption is empty"
    written = [o.id for o in report.outcomes if o.outcome is Outcome.WRITTEN]
    assert written == ["sun_and_grass.jpg", "waves_gray.png"]
    states = {i.id: i.state for i in report.items}
    assert states["sun_and_grass.jpg"] is State.WRITTEN
    assert states["gradient.png"] is State.APPROVED  # its new identity only


def test_a_session_needs_export_paths_and_nothing_to_write_to_is_refused(
    photos: Path, tmp_path: Path
) -> None:
    session = live.open_session(paths=[photos / "gradient.png"])
    try:
        (item_id,) = session.workspace.ids()
        session.apply(model.approve(model.edit(session.workspace.get(item_id), "Dropped")))
        with pytest.raises(RequestError, match="say where the csv file goes"):
            write_items(session.workspace, [item_id], WriteOptions((Target.CSV,)))
        with pytest.raises(RequestError, match="no target"):
            write_items(session.workspace, [item_id], WriteOptions(()))
        out = tmp_path / "out.jsonl"
        opts = WriteOptions((Target.JSONL,), jsonl_path=str(out))
        assert write_items(session.workspace, [item_id], opts).outcomes[0].outcome is (
            Outcome.WRITTEN
        )
        assert json.loads(out.read_text())["path"] == item_id
    finally:
        session.close()
