"""Opening workspaces (review/live.py, places.py, recent.py): a folder's states come back, a
changed photo is marked, a touched one is not, read-only folders and sessions keep their store
in the user data folder, and "Recent" lists them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nanocaption_desktop.jobs import places as job_places
from nanocaption_desktop.jobs.filecheck import OutputError
from nanocaption_desktop.review import live, model, places, recent
from nanocaption_desktop.review.files import identity_of
from nanocaption_desktop.review.model import Origin, State


def caption_all(ws_live: live.LiveWorkspace) -> None:
    for item in ws_live.workspace.items.values():
        ws_live.apply(
            model.captioned(
                item, f"a photo of {item.id}", -0.3, identity_of(item.path, with_hash=True)
            )
        )


def test_reopening_a_folder_restores_every_caption_edit_state_and_alternative(
    photos: Path,
) -> None:
    first = live.open_folder(photos)
    assert first.workspace.ids() == ["blocks.webp", "gradient.png", "sun_and_grass.jpg",
                                     "waves_gray.png"]  # fmt: skip
    assert first.workspace.id == f"folder:{os.path.realpath(photos)}"
    assert first.store.path == photos / places.STORE_NAME
    caption_all(first)
    ws = first.workspace
    first.apply(model.approve(model.edit(ws.get("gradient.png"), "A soft gradient")))
    first.apply(model.failed(ws.get("blocks.webp"), "cannot decode"))
    before = first.workspace
    first.close()
    again = live.open_folder(photos)
    try:
        assert again.workspace.items == before.items
        grad = again.workspace.get("gradient.png")
        assert (grad.state, grad.text, grad.alternatives[0].origin) == (
            State.APPROVED, "A soft gradient", Origin.MODEL)  # fmt: skip
    finally:
        again.close()


def test_a_changed_photo_is_marked_and_a_touched_one_is_not(photos: Path) -> None:
    first = live.open_folder(photos)
    caption_all(first)
    first.apply(model.edit(first.workspace.get("gradient.png"), "A person's words"))
    first.close()
    os.utime(photos / "sun_and_grass.jpg", ns=(1, 1_000_000_000))  # touched: same bytes
    data = bytearray((photos / "gradient.png").read_bytes())
    data[-20] ^= 0xFF  # the same size, other bytes
    (photos / "gradient.png").write_bytes(bytes(data))
    with open(photos / "waves_gray.png", "ab") as f:
        f.write(b"\0")  # another size
    again = live.open_folder(photos)
    try:
        ws = again.workspace
        assert [i for i in ws.ids() if ws.get(i).changed] == ["gradient.png", "waves_gray.png"]
        grad = ws.get("gradient.png")
        assert (grad.state, grad.text) == (State.NEW, "")
        assert grad.alternatives[0].text == "A person's words"
        sun = ws.get("sun_and_grass.jpg")
        assert sun.state is State.CAPTIONED and sun.identity.mtime_ns == 1_000_000_000
    finally:
        again.close()
    third = live.open_folder(photos)  # the marks were saved: still changed, not changed again
    try:
        assert third.workspace.get("gradient.png").alternatives[0].text == "A person's words"
        assert third.workspace.get("gradient.png").changed
    finally:
        third.close()


def test_a_photo_gone_from_the_folder_keeps_its_caption_in_the_store(photos: Path) -> None:
    first = live.open_folder(photos)
    first.apply(model.edit(first.workspace.get("gradient.png"), "Typed before the move"))
    first.close()
    (photos / "gradient.png").rename(photos.parent / "gradient.png")
    second = live.open_folder(photos)
    assert "gradient.png" not in second.workspace.items
    second.close()
    (photos.parent / "gradient.png").rename(photos / "gradient.png")
    third = live.open_folder(photos)
    assert third.workspace.get("gradient.png").text == "Typed before the move"
    third.close()


def test_a_moved_folder_keeps_its_store(photos: Path) -> None:
    first = live.open_folder(photos)
    first.apply(model.edit(first.workspace.get("gradient.png"), "Still here"))
    first.close()
    moved = photos.rename(photos.parent / "renamed")
    with live.open_folder(moved) as second:
        item = second.workspace.get("gradient.png")
        assert item.text == "Still here" and item.path == str(moved / "gradient.png")


def test_two_windows_on_one_folder_the_second_is_refused(photos: Path) -> None:
    first = live.open_folder(photos)
    try:
        with pytest.raises(OutputError, match="in use by process"):
            live.open_folder(photos)
    finally:
        first.close()


def test_a_read_only_folder_keeps_its_store_in_the_user_data_folder(
    photos: Path, data_dir: Path, read_only
) -> None:
    before = sorted(p.name for p in photos.iterdir())
    read_only(photos)
    first = live.open_folder(photos)
    try:
        assert first.store.path.parent == data_dir / "workspaces"
        assert first.store.path.name.startswith("photos-")
        first.apply(model.edit(first.workspace.get("gradient.png"), "On a read-only card"))
    finally:
        first.close()
    assert sorted(p.name for p in photos.iterdir()) == before
    second = live.open_folder(photos)
    try:
        assert second.workspace.get("gradient.png").text == "On a read-only card"
    finally:
        second.close()


def test_the_read_only_rule_is_the_jobs_one_and_a_kept_store_stays_in_use(
    photos: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(places, "folder_writable", lambda f: False)
    fallback = places.folder_store_path(photos)
    assert fallback == places.fallback_store_path(photos)
    first = live.open_folder(photos)
    first.apply(model.edit(first.workspace.get("gradient.png"), "Card locked"))
    first.close()
    monkeypatch.setattr(places, "folder_writable", job_places.folder_writable)
    assert places.folder_store_path(photos) == fallback  # unlocked: the kept store wins
    second = live.open_folder(photos)
    assert second.workspace.get("gradient.png").text == "Card locked"
    second.close()
    assert not (photos / places.STORE_NAME).exists()


def test_a_session_of_dropped_files_is_kept_and_reopened_from_recent(
    photos: Path, tmp_path: Path, data_dir: Path
) -> None:
    session = live.open_session(paths=[photos / "gradient.png"])
    ids = live.add_files(session, [photos / "blocks.webp", photos / "gradient.png"])
    assert ids == [str(photos / "blocks.webp"), str(photos / "gradient.png")]
    assert session.workspace.ids() == [str(photos / "gradient.png"), str(photos / "blocks.webp")]
    session.apply(model.edit(session.workspace.get(ids[0]), "A dropped photo"))
    sid = session.workspace.id
    assert (
        session.workspace.title.startswith("Dropped files 20") and "UTC" in session.workspace.title
    )
    assert session.store.path.parent == data_dir / "workspaces"
    session.close()
    entries = recent.load_recent()
    assert [(e.id, e.kind, e.count) for e in entries] == [(sid, "session", 2)]
    again = live.open_session(entries[0].id)
    try:
        assert again.workspace.get(ids[0]).text == "A dropped photo"
    finally:
        again.close()
    with pytest.raises(ValueError, match="session workspace only"):
        folder = live.open_folder(photos)
        try:
            live.add_files(folder, [photos / "gradient.png"])
        finally:
            folder.close()


def test_recent_lists_the_newest_first_once_each_and_at_most_the_limit(
    tmp_path: Path, data_dir: Path
) -> None:
    folders = []
    for n in range(recent.LIMIT + 2):
        folder = tmp_path / f"f{n}"
        folder.mkdir()
        folders.append(folder)
        live.open_folder(folder).close()
    live.open_folder(folders[3]).close()
    entries = recent.load_recent()
    assert len(entries) == recent.LIMIT
    assert [e.root for e in entries[:3]] == [str(folders[3]), str(folders[-1]), str(folders[-2])]
    assert len({e.id for e in entries}) == recent.LIMIT
    assert not list(data_dir.glob("*.nctmp")) and not list(data_dir.glob(".*.nctmp"))
    recent.forget(entries[0].id)
    assert recent.load_recent()[0].root == str(folders[-1])
    (data_dir / recent.RECENT_FILE).write_text("{ damaged")
    assert recent.load_recent() == []


def test_a_subfolder_that_cannot_be_read_is_reported_not_fatal(
    photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (photos / "locked").mkdir()
    real_scandir = os.scandir

    def refuse(path):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    opened = live.open_folder(photos, recursive=True)
    try:
        assert len(opened.workspace) == 4
        assert len(opened.problems) == 1 and "locked" in opened.problems[0]
    finally:
        opened.close()
