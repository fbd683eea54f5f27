"""Writers: CSV/JSONL round trips, formula neutralisation, atomic replace, sidecar policies."""

from __future__ import annotations

import csv
import errno
import os
from pathlib import Path

import pytest
from batch_helpers import TRICKY
from hypothesis import given, settings
from hypothesis import strategies as st

from nanocaption_desktop.jobs import writers
from nanocaption_desktop.jobs.sidecars import write_sidecar
from nanocaption_desktop.jobs.writers import (
    OutputError,
    SidecarOutcome,
    SidecarPolicy,
    neutralize,
    read_csv,
    read_jsonl,
    remove_stale_temps,
    render_csv,
    render_jsonl,
    unneutralize,
)


def rows_for(texts: list[str]) -> list[dict]:
    return [
        {"path": f'-{i},x="y".png', "caption": t, "score": -0.25 * i, "status": "ok", "error": ""}
        for i, t in enumerate(texts)
    ]


def test_csv_round_trip_and_neutralised(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    rows = rows_for(TRICKY)
    render_csv(out, rows)
    raw = out.read_bytes()
    assert raw.startswith(b"path,caption,score,status,error\r\n")
    with open(out, encoding="utf-8", newline="") as f:
        cells = list(csv.reader(f))
    for row in cells[1:]:  # what a spreadsheet sees: no cell starts a formula
        for cell in (row[0], row[1], row[4]):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    back = read_csv(out)
    assert [r["caption"] for r in back] == TRICKY
    assert [r["path"] for r in back] == [r["path"] for r in rows]
    assert [float(r["score"]) for r in back] == [r["score"] for r in rows]


def test_jsonl_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    rows = rows_for(TRICKY)
    render_jsonl(out, rows)
    back = read_jsonl(out)
    assert [r["caption"] for r in back] == TRICKY
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(TRICKY)  # newline escaped


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_neutralize_is_exact_and_safe(text: str) -> None:
    cell = neutralize(text)
    assert unneutralize(cell) == text
    assert not cell.startswith(writers.FORMULA_TRIGGERS)


def test_atomic_write_keeps_old_version_on_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.csv"
    render_csv(out, rows_for(["first"]))
    before = out.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writers.os, "fsync", full)
    with pytest.raises(OutputError) as info:
        render_csv(out, rows_for(["first", "second"]))
    assert "disk is full" in str(info.value) and "out.csv" in str(info.value)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temp left


def test_stale_temps_removed_only_when_writer_is_gone(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    dead = tmp_path / ".out.csv.999999999.nctmp"  # no such pid
    alive = tmp_path / f".out.csv.{os.getppid()}.nctmp"  # a live process: not ours to remove
    mine = tmp_path / f".out.csv.{os.getpid()}.nctmp"
    for p in (dead, alive, mine):
        p.write_text("partial")
    assert remove_stale_temps(out) == 1
    assert not dead.exists() and alive.exists() and mine.exists()


def test_sidecar_policies(tmp_path: Path) -> None:
    img = tmp_path / "photo.jpg"
    img.write_bytes(b"not read")
    side = tmp_path / "photo.txt"
    assert write_sidecar(img, "a dog", SidecarPolicy.SKIP) is SidecarOutcome.WRITTEN
    assert side.read_text() == "a dog\n"
    assert write_sidecar(img, "a cat", SidecarPolicy.SKIP) is SidecarOutcome.KEPT
    assert side.read_text() == "a dog\n"
    ino, mtime = side.stat().st_ino, side.stat().st_mtime_ns
    assert write_sidecar(img, "a dog", SidecarPolicy.OVERWRITE) is SidecarOutcome.UNCHANGED
    assert (side.stat().st_ino, side.stat().st_mtime_ns) == (ino, mtime)  # not rewritten
    assert write_sidecar(img, "a cat", SidecarPolicy.OVERWRITE) is SidecarOutcome.WRITTEN
    assert side.read_text() == "a cat\n"
    side.write_text("tag1, tag2")  # no final newline
    assert write_sidecar(img, "a cow", SidecarPolicy.APPEND) is SidecarOutcome.WRITTEN
    assert side.read_text() == "tag1, tag2\na cow\n"
    assert write_sidecar(img, "a cow", SidecarPolicy.APPEND) is SidecarOutcome.UNCHANGED
    assert side.read_text() == "tag1, tag2\na cow\n"
    assert img.read_bytes() == b"not read"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg", "photo.txt"]


def test_sidecar_never_replaces_the_image(tmp_path: Path) -> None:
    img = tmp_path / "odd.txt"  # an image with a .txt name (found by content sniffing)
    img.write_bytes(b"\x89PNG\r\n\x1a\n....")
    with pytest.raises(OutputError):
        write_sidecar(img, "x", SidecarPolicy.OVERWRITE)
    assert img.read_bytes() == b"\x89PNG\r\n\x1a\n...."


def test_sidecar_in_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = tmp_path / "photo.jpg"
    img.write_bytes(b"x")
    real_open = os.open

    def deny(path, flags, *a, **kw):  # a read-only folder, as a non-root user meets it
        p = os.fspath(path)
        if flags & os.O_CREAT and p.endswith(".nctmp"):
            raise PermissionError(errno.EACCES, "Permission denied", p)
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(OutputError) as info:
        write_sidecar(img, "a dog", SidecarPolicy.SKIP)
    assert "photo.txt" in str(info.value) and "cannot write here" in str(info.value)


def test_existing_mode_kept(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    render_csv(out, [])
    os.chmod(out, 0o640)
    render_csv(out, rows_for(["x"]))
    assert out.stat().st_mode & 0o777 == 0o640


def test_long_names_get_short_temp_names(tmp_path: Path) -> None:
    out = tmp_path / ("é" * 120 + ".csv")  # 244 bytes: the temp name must stay under 255
    render_csv(out, rows_for(["x"]))
    assert read_csv(out)[0]["caption"] == "x"
    stale = writers.temp_path(out).with_name(
        writers.temp_path(out).name.replace(str(os.getpid()), "999999999")
    )
    stale.write_text("partial")
    assert remove_stale_temps(out) == 1
