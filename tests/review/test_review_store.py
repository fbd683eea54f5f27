"""The workspace store (review/store.py): round trip, torn and damaged lines, compaction, the
lock, a foreign file, a failing disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nanocaption_desktop.jobs.filecheck import OutputError
from nanocaption_desktop.review import model, store
from nanocaption_desktop.review.model import Identity
from nanocaption_desktop.review.store import WorkspaceStore


def item(n: int, text: str = "") -> model.Item:
    base = model.new_item(f"d/{n}.jpg", f"/p/d/{n}.jpg", shared_stem=n % 2 == 0)
    it = model.captioned(base, f"photo number {n}", -0.25 * n, Identity(n, n * 10, "h"),
                         others=[("other", -1.5)])  # fmt: skip
    return model.edit(it, text) if text else it


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_items_come_back_exactly_as_saved(tmp_path: Path) -> None:
    path = tmp_path / "ws.jsonl"
    saved = [item(1), model.approve(item(2, "A red boat")), model.failed(item(3), "no pixels")]
    saved.append(model.photo_changed(saved[1], Identity(9, 9)))
    with WorkspaceStore.open(path) as st:
        assert st.read() == {}
        st.save(*saved[:3])
        st.save(saved[3])  # the same id again: the later state wins
    with WorkspaceStore.open(path) as st:
        back = st.read()
    assert list(back) == ["d/1.jpg", "d/2.jpg", "d/3.jpg"]
    assert back["d/2.jpg"] == saved[3] and back["d/1.jpg"] == saved[0]
    assert back["d/3.jpg"] == saved[2]
    assert json.loads(lines(path)[0]) == {"kind": "header", "version": 1, **store.STORE_HEADER}


def test_a_torn_last_line_is_cut_off_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "ws.jsonl"
    with WorkspaceStore.open(path) as st:
        st.save(item(1), item(2))
    whole = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"key":"d/3.jpg","path":"/p/d/3.jpg","sta')  # killed mid-write
    with WorkspaceStore.open(path) as st:
        assert list(st.read()) == ["d/1.jpg", "d/2.jpg"]
        assert path.read_bytes() == whole
        st.save(item(3))
    with WorkspaceStore.open(path) as st:
        assert list(st.read()) == ["d/1.jpg", "d/2.jpg", "d/3.jpg"]


@pytest.mark.parametrize(
    "bad",
    [
        {"state": "bogus"},
        {"origin": "robot"},
        {"score": "high"},
        {"size": "big", "mtime_ns": 1},
        {"alternatives": [["x", "model", None]]},
        {"targets": "everywhere"},
        {"key": 5},
    ],
)
def test_a_line_with_a_wrong_value_is_ignored_like_a_damaged_one(tmp_path: Path, bad) -> None:
    path = tmp_path / "ws.jsonl"
    with WorkspaceStore.open(path) as st:
        st.save(item(1))
    good = json.loads(lines(path)[1])
    with open(path, "a") as f:
        f.write(json.dumps({**good, "text": "damaged", **bad}) + "\n")
        f.write("not json at all\n")
    with WorkspaceStore.open(path) as st:
        assert st.read() == {"d/1.jpg": item(1)}


def test_the_store_is_compacted_while_open_when_superseded_lines_outnumber_items(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ws.jsonl"
    st = WorkspaceStore.open(path, compact_after=5)
    try:
        for n in range(40):
            st.save(item(n % 3, f"edit {n}"))
            st.flush()
        assert len(lines(path)) <= 1 + 3 + 6  # header, items, at most the threshold above
        st.save(item(7))
        st.flush()
    finally:
        st.close()
    with WorkspaceStore.open(path) as again:
        back = again.read()
    assert {k: v.text for k, v in back.items()} == {
        "d/0.jpg": "edit 39",
        "d/1.jpg": "edit 37",
        "d/2.jpg": "edit 38",
        "d/7.jpg": "Photo number 7",
    }


def test_two_windows_never_write_one_store(tmp_path: Path) -> None:
    path = tmp_path / "ws.jsonl"
    with WorkspaceStore.open(path):
        with pytest.raises(OutputError, match=r"ws\.jsonl: in use by process \d+"):
            WorkspaceStore.open(path)
    WorkspaceStore.open(path).close()  # free again


def test_a_file_that_is_not_a_store_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "ws.jsonl"
    path.write_text('{"path": "photo.jpg", "caption": "a dataset someone made"}\n')
    before = path.read_bytes()
    with pytest.raises(OutputError, match="not a NanoCaption workspace store"):
        WorkspaceStore.open(path)
    assert path.read_bytes() == before
    (tmp_path / "folder.jsonl").mkdir()
    with pytest.raises(OutputError, match="folder.jsonl"):
        WorkspaceStore.open(tmp_path / "folder.jsonl")


def test_a_failing_disk_keeps_the_changes_queued_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "RETRY_AFTER", 0.01)
    path = tmp_path / "ws.jsonl"
    st = WorkspaceStore.open(path)
    journal = st._journal
    real = journal.append_many

    def full(records):
        raise OutputError(path, "No space left on device")

    monkeypatch.setattr(journal, "append_many", full)
    st.save(item(1, "typed while the disk was full"))
    with pytest.raises(OutputError, match="No space left"):
        st.flush()
    assert st.error is not None
    monkeypatch.setattr(journal, "append_many", real)
    st.flush()
    assert st.error is None
    st.close()
    with pytest.raises(OutputError, match="closed"):
        st.save(item(2))
    with WorkspaceStore.open(path) as again:
        assert again.read()["d/1.jpg"].text == "typed while the disk was full"


def test_the_lock_holds_while_the_store_is_compacted(tmp_path: Path) -> None:
    path = tmp_path / "ws.jsonl"
    with WorkspaceStore.open(path, compact_after=2) as st:
        for n in range(12):
            st.save(item(1, f"edit {n}"))
            st.flush()
        assert len(lines(path)) <= 1 + 3
        with pytest.raises(OutputError, match="in use by process"):
            WorkspaceStore.open(path)


def test_a_program_that_exits_without_closing_its_store_still_saves(tmp_path: Path) -> None:
    path = tmp_path / "ws.jsonl"
    script = (
        "import sys\n"
        "from nanocaption_desktop.review import model\n"
        "from nanocaption_desktop.review.store import WorkspaceStore\n"
        "store = WorkspaceStore.open(sys.argv[1])\n"
        "store.save(model.edit(model.new_item('a.jpg', '/p/a.jpg'), 'first'))\n"
        "store.flush()  # the next save waits for the writer's pace: queued at exit\n"
        "store.save(model.edit(model.new_item('a.jpg', '/p/a.jpg'), 'typed just before exit'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True)
    assert done.returncode == 0, done.stderr
    with WorkspaceStore.open(path) as st:
        assert st.read()["a.jpg"].text == "typed just before exit"
