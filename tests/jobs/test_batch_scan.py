"""Folder scan: order, formats, hidden files, outputs, symlink loops, unreadable folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batch_helpers import IMAGES, make_images

from nanocaption_desktop.jobs import scan as scan_mod
from nanocaption_desktop.jobs.scan import display_path, natural_key, scan_images, sniff_image


def rels(root: Path, **kw) -> list[str]:
    return [e.relpath for e in scan_images(root, **kw)]


def test_natural_order_and_formats(tmp_path: Path) -> None:
    make_images(tmp_path, 11)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "data.csv").write_text("a,b")
    (tmp_path / "IMG_B.JPG").write_bytes((IMAGES / "sun_and_grass.jpg").read_bytes())
    (tmp_path / "noext").write_bytes((IMAGES / "gradient.png").read_bytes())  # sniffed
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.4 nothing")
    (tmp_path / "text.jpg").write_text("a .jpg name, text inside")  # yielded: decode will fail
    got = rels(tmp_path)
    assert got == [
        *[f"img{i}.png" for i in range(11)],
        "IMG_B.JPG",  # "img" then a number sorts before "img" then "_"
        "noext",
        "text.jpg",
    ]


def test_natural_key() -> None:
    names = ["a10.png", "a2.png", "A1.png", "a02b.png", "b.png"]
    assert sorted(names, key=natural_key) == ["A1.png", "a2.png", "a02b.png", "a10.png", "b.png"]
    assert natural_key("x2") < natural_key("x02") or natural_key("x02") < natural_key("x2")


def test_sniff() -> None:
    for f in IMAGES.iterdir():
        assert sniff_image(f.read_bytes()[:16]), f.name
    assert not sniff_image(b"hello world, text")
    assert not sniff_image(b"")


def test_hidden_and_excluded_skipped(tmp_path: Path) -> None:
    make_images(tmp_path, 2)
    make_images(tmp_path / ".hidden", 2)
    (tmp_path / ".secret.png").write_bytes((IMAGES / "gradient.png").read_bytes())
    out = tmp_path / "out.png"  # an output that happens to look like an image
    out.write_bytes((IMAGES / "gradient.png").read_bytes())
    assert rels(tmp_path, recursive=True, exclude=[out]) == ["img0.png", "img1.png"]


def test_recursive_depth_first_natural(tmp_path: Path) -> None:
    make_images(tmp_path, 2)
    make_images(tmp_path / "a10", 1)
    make_images(tmp_path / "a2", 1)
    make_images(tmp_path / "a2" / "deep", 1)
    assert rels(tmp_path) == ["img0.png", "img1.png"]
    assert rels(tmp_path, recursive=True) == [
        "a2/deep/img0.png",
        "a2/img0.png",
        "a10/img0.png",
        "img0.png",
        "img1.png",
    ]


def test_symlink_loop_not_followed(tmp_path: Path) -> None:
    make_images(tmp_path / "a", 1)
    os.symlink("..", tmp_path / "a" / "up")
    os.symlink(tmp_path / "a", tmp_path / "again")
    os.symlink("self", tmp_path / "self")  # a link to itself: broken, skipped quietly
    got = rels(tmp_path, recursive=True)
    assert got.count("a/img0.png") + got.count("again/img0.png") == 1
    assert len(got) == 1


def test_unreadable_folder_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_images(tmp_path, 1)
    make_images(tmp_path / "locked", 3)
    locked = str(tmp_path / "locked")
    real = os.scandir

    def scandir(path):  # root ignores chmod 000, so simulate the refusal the OS would give
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real(path)

    monkeypatch.setattr(scan_mod.os, "scandir", scandir)
    entries = list(scan_images(tmp_path, recursive=True))
    assert [(e.relpath, e.error) for e in entries] == [
        ("img0.png", None),
        ("locked", "cannot read folder: Permission denied"),
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder anyway")
def test_unreadable_folder_real(tmp_path: Path) -> None:  # pragma: no cover - not as root
    make_images(tmp_path / "locked", 1)
    os.chmod(tmp_path / "locked", 0)
    try:
        entries = list(scan_images(tmp_path, recursive=True))
    finally:
        os.chmod(tmp_path / "locked", 0o755)
    assert len(entries) == 1 and entries[0].error


def test_starts_at_once_directory_by_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_images(tmp_path, 1)
    for i in range(30):
        (tmp_path / f"sub{i}").mkdir()
    calls: list[str] = []
    real = os.scandir

    def scandir(path):
        calls.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(scan_mod.os, "scandir", scandir)
    it = scan_images(tmp_path, recursive=True)
    next(it)
    assert len(calls) == 1  # the first image came before any subfolder was listed
    assert list(it) == []
    assert len(calls) == 31


def test_root_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(scan_images(tmp_path / "missing"))
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        list(scan_images(tmp_path / "f"))


def test_display_path_of_bytes_name() -> None:
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 name on a UTF-8 system
    assert display_path(name) == "caf\\xe9.png"
    assert display_path("ü/é.png") == "ü/é.png"
