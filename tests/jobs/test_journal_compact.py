"""The journal's additions for other stores: several lines with one fsync, compaction while
open (index, reads and later appends right; the lock kept), another line check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nanocaption_desktop.jobs.filecheck import OutputError
from nanocaption_desktop.jobs.journal import Journal

HEADER = {"root": "/photos", "recursive": False, "model": "m", "beams": None}


def rec(key: str, caption: str = "c") -> dict:
    return {"key": key, "size": 1, "mtime_ns": 2, "status": "ok", "caption": caption}


def test_append_many_is_one_fsync_and_indexes_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    syncs = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append(fd), real(fd)))
    j.append_many([rec("a.png", "1"), rec("b.png", "2"), rec("a.png", "3")])
    assert len(syncs) == 1
    assert (j.get("a.png")["caption"], j.get("b.png")["caption"]) == ("3", "2")
    assert (len(j), j.lines, j.superseded) == (2, 3, 1)
    j.close()


def test_compact_while_open_keeps_reads_appends_and_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    for n in range(20):
        j.append(rec("a.png" if n % 2 else "b.png", str(n)))
    j.compact()
    assert path.read_bytes().count(b"\n") == 3 and j.superseded == 0
    assert (j.get("a.png")["caption"], j.get("b.png")["caption"]) == ("19", "18")
    j.append(rec("c.png", "after"))
    assert [r["caption"] for r in j.records()] == ["18", "19", "after"]
    with pytest.raises(OutputError, match="in use by process"):
        Journal.open(path, HEADER)
    j.close()
    with pytest.raises(OutputError, match="closed"):
        j.compact()
    again = Journal.open(path, HEADER)
    assert [r["caption"] for r in again.records()] == ["18", "19", "after"]
    again.close()


def test_another_line_check_decides_what_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"

    def only_blue(raw: bytes):
        obj = json.loads(raw)
        return (obj, "") if obj.get("colour") == "blue" else (None, "not blue")

    j = Journal.open(path, HEADER, parse=only_blue)
    j.append_many([{"key": "x", "colour": "blue"}, {"key": "y", "colour": "red"}])
    j.close()
    again = Journal.open(path, HEADER, parse=only_blue)
    assert [r["key"] for r in again.records()] == ["x"]
    again.close()
