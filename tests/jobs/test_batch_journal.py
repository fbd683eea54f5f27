"""Journal: durable appends, truncated last line, other batch -> fresh start; prefetch runner."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from nanocaption_desktop.jobs.journal import Journal
from nanocaption_desktop.jobs.runner import prefetch

HEADER = {"root": "/photos", "recursive": False, "model": "m", "beams": None}


def rec(key: str, status: str = "ok", caption: str = "c") -> dict:
    return {"key": key, "size": 1, "mtime_ns": 2, "status": status, "caption": caption}


def test_append_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    odd = os.fsdecode(b"caf\xe9.png")  # a name that is not UTF-8 survives exactly
    j.append(rec("a.png"))
    j.append(rec(odd, "failed"))
    j.append(rec("a.png", caption="again"))  # latest wins, first position kept
    j.close()
    j2 = Journal.open(path, HEADER)
    assert [r["key"] for r in j2.records()] == ["a.png", odd]
    assert j2.get("a.png")["caption"] == "again"
    assert j2.loaded == 2
    j2.close()


def test_truncated_last_line_dropped(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    j.append(rec("a.png"))
    j.close()
    with open(path, "ab") as f:
        f.write(b'{"key":"b.png","si')  # killed mid-write
    j = Journal.open(path, HEADER)
    assert [r["key"] for r in j.records()] == ["a.png"]
    j.append(rec("c.png"))
    j.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3 and b"b.png" not in path.read_bytes()


def test_other_batch_or_no_resume_starts_fresh(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    j.append(rec("a.png"))
    j.close()
    j = Journal.open(path, {**HEADER, "beams": 3})
    assert len(j) == 0
    j.close()
    j = Journal.open(path, {**HEADER, "beams": 3})
    j.append(rec("a.png"))
    j.close()
    j = Journal.open(path, {**HEADER, "beams": 3}, resume=False)
    assert len(j) == 0
    j.close()
    assert len(path.read_bytes().splitlines()) == 1


def test_stale_journal_temp_removed(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    stale = tmp_path / ".j.jsonl.999999999.nctmp"
    stale.write_text("x")
    Journal.open(path, HEADER).close()
    assert not stale.exists()


def test_prefetch_order_and_errors() -> None:
    assert list(prefetch(range(20), lambda x: x * 2, depth=3)) == [x * 2 for x in range(20)]

    def boom(x: int) -> int:
        if x == 5:
            raise ValueError("bad item")
        return x

    got = []
    with pytest.raises(ValueError, match="bad item"):
        for x in prefetch(range(10), boom, depth=2):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]


def test_prefetch_stops_when_consumer_leaves() -> None:
    produced = []
    gen = prefetch(range(10_000), lambda x: produced.append(x) or x, depth=2)
    assert next(gen) == 0
    gen.close()
    n = len(produced)
    assert n <= 5  # at most depth + in-flight ahead
    names = [t.name for t in threading.enumerate()]
    assert "nanocaption-prefetch" not in names


def test_prefetch_cancel_while_producer_is_slow() -> None:
    cancel = threading.Event()
    release = threading.Event()

    def slow(x: int) -> int:
        if x == 1:
            cancel.set()
            release.wait(10)  # a decode that takes long
        return x

    assert list(prefetch(range(5), slow, depth=2, cancel=cancel)) == [0]
    release.set()


def test_superseded_records_are_compacted_when_reopened(tmp_path: Path, monkeypatch) -> None:
    """Re-captioned and retried images add lines; once most lines are superseded the journal is
    rewritten on open with the latest record of each image, in the same order."""
    from nanocaption_desktop.jobs import journal as journal_module

    monkeypatch.setattr(journal_module, "COMPACT_AFTER", 1000)
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    for round_ in range(3):
        for k in range(500):
            j.append(rec(f"img{k:04d}.jpg", caption=f"round {round_}"))
    j.close()
    lines_before = path.read_bytes().count(b"\n")
    assert lines_before == 1 + 1500
    j = Journal.open(path, HEADER)  # 1,000 superseded of 1,500: not yet over the threshold
    j.close()
    assert path.read_bytes().count(b"\n") == lines_before
    j = Journal.open(path, HEADER)
    j.append(rec("img0000.jpg", caption="round 3"))  # one more superseded line
    j.close()
    j = Journal.open(path, HEADER)
    assert path.read_bytes().count(b"\n") == 1 + 500
    assert j.keys() == [f"img{k:04d}.jpg" for k in range(500)]
    assert j.get("img0000.jpg")["caption"] == "round 3"
    assert j.get("img0499.jpg")["caption"] == "round 2"
    j.append(rec("new.jpg", caption="after compaction"))
    j.close()
    j = Journal.open(path, HEADER)
    assert len(j) == 501 and j.get("new.jpg")["caption"] == "after compaction"
    j.close()
    assert not [p for p in tmp_path.iterdir() if p.name != "j.jsonl"]  # no temp file left
