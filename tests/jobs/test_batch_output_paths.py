"""Output paths: the shared regular-file check, atomic_write's modes and temp names, the journal
name, shared-stem sidecars in the scan, and the pre-flight check of a batch's outputs."""

from __future__ import annotations

import os
import shutil
import socket
import stat
from pathlib import Path

import pytest
from batch_helpers import IMAGES, FakeCaptioner, make_images

from nanocaption_desktop.jobs import OutputError, OutputRefused, caption_folder, writers
from nanocaption_desktop.jobs.outputs import check_outputs
from nanocaption_desktop.jobs.scan import scan_images, sidecar_path
from nanocaption_desktop.jobs.settings import journal_name
from nanocaption_desktop.jobs.sidecars import write_sidecar
from nanocaption_desktop.jobs.spec import BatchSpec
from nanocaption_desktop.jobs.writers import SidecarPolicy, atomic_write, check_regular_or_absent


def test_check_regular_or_absent_never_opens(tmp_path: Path) -> None:
    check_regular_or_absent(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    check_regular_or_absent(tmp_path / "file")
    os.mkfifo(tmp_path / "fifo")  # opening it for reading would block: the check must not
    (tmp_path / "dir").mkdir()
    os.symlink(tmp_path / "file", tmp_path / "link")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    sock.close()
    cases = {
        "fifo": "named pipe",
        "dir": "folder",
        "link": "symbolic link",
        "sock": "socket",
    }
    if os.path.exists("/dev/null"):
        cases["/dev/null"] = "device"
    for name, kind in cases.items():
        with pytest.raises(OutputError) as info:
            check_regular_or_absent(tmp_path / name)
        assert kind in str(info.value) and name in str(info.value)


def test_atomic_write_drops_special_bits_and_new_files_follow_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    out.write_text("old")
    os.chmod(out, 0o7640)
    atomic_write(out, b"new")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_bytes() == b"new"
    umask = os.umask(0o027)
    try:
        atomic_write(tmp_path / "fresh.csv", b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "fresh.csv").stat().st_mode) == 0o640


def test_atomic_write_replaces_a_symlink_without_writing_through(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    os.chmod(target, 0o4755)
    os.symlink(target, tmp_path / "o.csv")
    atomic_write(tmp_path / "o.csv", b"new")
    assert not (tmp_path / "o.csv").is_symlink() and (tmp_path / "o.csv").read_bytes() == b"new"
    assert stat.S_IMODE((tmp_path / "o.csv").stat().st_mode) & 0o7000 == 0
    assert target.read_bytes() == b"keep"


def test_temp_name_taken_by_an_image_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    photo = (IMAGES / "gradient.png").read_bytes()
    writers.temp_path(out).write_bytes(photo)  # an image under our temp name (odd, not ours)
    os.symlink(tmp_path / "elsewhere", writers.temp_path(out, 1))  # and a symlink
    atomic_write(out, b"data")
    assert out.read_bytes() == b"data"
    assert writers.temp_path(out).read_bytes() == photo
    assert writers.temp_path(out, 1).is_symlink() and not (tmp_path / "elsewhere").exists()
    assert writers.temp_path(out).name.startswith(".")  # hidden: never an input of a scan


def test_stale_temp_that_is_an_image_is_not_removed(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    stale = writers.temp_path(out).with_name(f".o.csv.999999999{writers.TEMP_SUFFIX}")
    shutil.copy(IMAGES / "gradient.png", stale)
    assert writers.remove_stale_temps(out) == 0 and stale.exists()


def test_journal_name_fits_and_is_stable() -> None:
    assert journal_name("c.csv") == "c.csv.journal.jsonl"
    long = "é" * 124 + ".csv"  # 252 bytes
    name = journal_name(long)
    assert len(os.fsencode(name)) <= 255 and name.endswith(".journal.jsonl")
    assert name == journal_name(long) != journal_name("é" * 124 + ".CSV")


def names(folder: Path) -> dict[str, str]:
    return {Path(e.path).name: e.sidecar.name for e in scan_images(folder)}


def test_scan_marks_shared_stems(tmp_path: Path) -> None:
    for src, name in [
        ("gradient.png", "photo.jpg"),
        ("gradient.png", "photo.png"),
        ("gradient.png", "Photo.webp"),  # one sidecar on a case-insensitive file system
        ("gradient.png", "photo.jpg.png"),  # its plain sidecar would be photo.jpg.txt
        ("gradient.png", "alone.png"),
        ("gradient.png", "sniffed"),  # an image by content: sidecar sniffed.txt
        ("gradient.png", "other.bmp"),
    ]:
        shutil.copy(IMAGES / src, tmp_path / name)
    (tmp_path / "sniffed.dat").write_text("not an image: shares no sidecar")
    (tmp_path / "other.txt").write_text("a sidecar, not an image")
    (tmp_path / "alone.d").mkdir()
    assert names(tmp_path) == {
        "alone.png": "alone.txt",
        "other.bmp": "other.txt",
        "photo.jpg": "photo.jpg.txt",
        "photo.jpg.png": "photo.jpg.png.txt",
        "photo.png": "photo.png.txt",
        "Photo.webp": "Photo.webp.txt",
        "sniffed": "sniffed.txt",
    }
    assert sidecar_path("a/photo.jpg") == Path("a/photo.txt")
    assert sidecar_path("a/photo.jpg", shared_stem=True) == Path("a/photo.jpg.txt")


def test_shared_stems_are_per_folder(tmp_path: Path) -> None:
    make_images(tmp_path / "a", 1, prefix="x")
    make_images(tmp_path / "b", 1, prefix="x")
    entries = list(scan_images(tmp_path, recursive=True))
    assert [(e.relpath, e.sidecar.name) for e in entries] == [
        ("a/x0.png", "x0.txt"),
        ("b/x0.png", "x0.txt"),
    ]


def test_sidecar_may_not_replace_an_output(tmp_path: Path, fake: FakeCaptioner) -> None:
    folder = tmp_path / "in"
    make_images(folder, 2)
    results = list(
        caption_folder(folder, captioner=fake, csv=folder / "img0.txt", sidecars="overwrite")
    )
    by = {r.relpath: r for r in results}
    assert not by["img0.png"].ok and "output of this batch" in (by["img0.png"].error or "")
    assert by["img1.png"].ok
    assert (folder / "img0.txt").read_text(encoding="utf-8").startswith("path,caption")


def test_sidecar_holding_an_image_is_not_replaced(tmp_path: Path) -> None:
    shutil.copy(IMAGES / "gradient.png", tmp_path / "photo.txt")
    with pytest.raises(OutputError, match="holds an image"):
        write_sidecar(tmp_path / "photo.jpg", "x", SidecarPolicy.OVERWRITE)
    assert (tmp_path / "photo.txt").read_bytes() == (IMAGES / "gradient.png").read_bytes()


def settings(tmp_path: Path, **kw) -> BatchSpec:
    base = dict(folder=str(tmp_path), recursive=False, csv=None, jsonl=None, sidecars=None)
    base.update(journal=None, resume=True, retry_failed=True, beams=None, max_new_tokens=None)
    base.update(prefetch=1)
    base.update(kw)
    return BatchSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw,words",
    [
        ({"csv": Path("o.PNG")}, "image's name"),
        ({"csv": Path(".o.csv.12.nctmp")}, "temp files"),
        ({"jsonl": Path("o")}, "same file"),  # with csv o below
        ({"journal": Path("x/../o")}, "same file"),
    ],
)
def test_check_outputs_refusals(tmp_path: Path, kw: dict, words: str) -> None:
    base = {"csv": Path("o")} if "csv" not in kw else {}
    with pytest.raises(OutputRefused, match=words):
        check_outputs(settings(tmp_path, **base, **kw))


def test_check_outputs_accepts_distinct_outputs(tmp_path: Path) -> None:
    check_outputs(settings(tmp_path, csv=Path("o.csv"), jsonl=Path("o.jsonl"), journal=Path("j")))
