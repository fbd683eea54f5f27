"""Issue 7.4 for batches: odd names and folders, zero-byte, read-only, vanished and replaced files,
a full disk. Nothing crashes, every file gets one row, the originals never change."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE
from PIL import Image

from nanocaption_desktop.ground import durable
from nanocaption_desktop.jobs import OutputError, caption_folder, read_csv, read_jsonl

ROOT = Path(__file__).resolve().parents[2]
captioner_mod = pytest.importorskip("nanocaption_desktop.engine.captioner")


@pytest.fixture(scope="module")
def captioner():
    return captioner_mod.Captioner.load(TINY_BUNDLE)


def png(path: Path | bytes, i: int) -> None:
    img = Image.new("RGB", (14, 11), ((i * 53) % 256, (i * 29) % 256, 200))
    if isinstance(path, bytes):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        with os.fdopen(fd, "wb") as f:
            img.save(f, format="PNG")
    else:
        img.save(path, format="PNG")


def snapshot(folder: Path) -> dict[bytes, tuple[str, int]]:
    out = {}
    for dirpath, _dirs, files in os.walk(os.fsencode(folder)):
        for name in files:
            p = os.path.join(dirpath, name)
            if not name.endswith(b".txt"):
                with open(p, "rb") as f:
                    out[p] = (hashlib.sha256(f.read()).hexdigest(), os.stat(p).st_mtime_ns)
    return out


def odd_folder(base: Path) -> tuple[Path, list[str]]:
    folder = base / "odd names"
    folder.mkdir()
    names = [
        unicodedata.normalize("NFC", "café.png"),
        unicodedata.normalize("NFD", "café.png"),  # another file on Linux: both captioned
        "🐱 cat 🐶.png",
        "a  b   c.png",
        "-rf.png",
        "--help.png",
        "=cmd|' ,x.png",
        "x" * 240 + ".png",
    ]
    for i, name in enumerate(names):
        png(folder / name, i)
    deep = folder
    for level in range(6):  # a path far longer than 260 characters
        deep = deep / (f"{level}" + "d" * 180)
    deep.mkdir(parents=True)
    png(deep / "deep.png", 99)
    png(os.fsencode(folder) + b"/latin1-caf\xe9.png", 7)  # not valid UTF-8
    (folder / "zero.jpg").write_bytes(b"")
    png(folder / "readonly.png", 5)
    os.chmod(folder / "readonly.png", 0o444)
    return folder, names


def test_odd_names_every_file_once(captioner, tmp_path: Path) -> None:
    folder, names = odd_folder(tmp_path)
    before = snapshot(folder)
    out_csv, out_jsonl = tmp_path / "o.csv", tmp_path / "o.jsonl"
    results = list(
        caption_folder(
            folder,
            captioner=captioner,
            recursive=True,
            csv=out_csv,
            jsonl=out_jsonl,
            sidecars="skip",
        )
    )
    reasons = Counter(r.error for r in results if not r.ok)
    assert reasons == Counter({"empty file (0 bytes)": 1})
    assert len(results) == len(names) + 4
    rows, objs = read_csv(out_csv), read_jsonl(out_jsonl)
    assert [r["path"] for r in rows] == [o["path"] for o in objs] == [r.relpath for r in results]
    assert len(set(r.relpath for r in results)) == len(results)
    for name in names:
        assert name in {r["path"] for r in rows}
    assert "latin1-caf\\xe9.png" in {r["path"] for r in rows}
    for r in results:
        if r.ok:
            side = os.fsencode(r.path)[: -len(b".png")] + b".txt"
            with open(side, "rb") as f:
                assert f.read().decode("utf-8") == r.caption + "\n"
    assert snapshot(folder) == before
    again = list(caption_folder(folder, captioner=captioner, recursive=True, csv=out_csv))
    assert sum(not r.resumed for r in again) == 1  # only the zero-byte file is retried
    print(
        f"\nodd names: files {len(results)}, ok {sum(r.ok for r in results)}, "
        f"errors {dict(reasons)}, crashes 0, originals changed 0"
    )


def test_cli_folder_with_leading_dash(tmp_path: Path) -> None:
    folder = tmp_path / "-photos"
    folder.mkdir()
    png(folder / "-a.png", 1)
    done = subprocess.run(
        [sys.executable, "-m", "nanocaption_desktop", "batch", "--csv", "o.csv",
         "--model", str(TINY_BUNDLE), "--", "-photos"],  # fmt: skip
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r["path"] for r in read_csv(tmp_path / "o.csv")] == ["-a.png"]
    assert (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()[1].startswith("'-a.png")


def test_read_only_folder_sidecars_fail_per_file(
    captioner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_only
) -> None:
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "data"))  # sidecar-only journal
    folder = tmp_path / "in"
    (folder / "ro").mkdir(parents=True)
    for i in range(3):
        png(folder / f"w{i}.png", i)
        png(folder / "ro" / f"r{i}.png", i)
    read_only(folder / "ro")
    results = list(
        caption_folder(folder, captioner=captioner, recursive=True, sidecars="overwrite")
    )
    failed = [r for r in results if not r.ok]
    assert [r.relpath for r in failed] == [f"ro/r{i}.png" for i in range(3)]
    assert all("sidecar not written" in r.error and "ro/r" in r.error for r in failed)
    assert all(r.caption for r in failed)  # captioned; only the sidecar failed
    assert sorted(p.name for p in (folder / "ro").iterdir()) == ["r0.png", "r1.png", "r2.png"]
    print(f"\nread-only folder: {len(failed)} per-file sidecar errors, batch went on")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_keeps_earlier_outputs(
    captioner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        png(folder / f"{i}.png", i)
    out = tmp_path / "o.jsonl"
    list(caption_folder(folder, captioner=captioner, jsonl=out))
    before = out.read_bytes()
    png(folder / "new.png", 9)

    def full_disk(tmp: Path):  # the temp file exists, its bytes go to /dev/full: real ENOSPC
        tmp.touch()
        return open("/dev/full", "wb")

    monkeypatch.setattr(durable, "_open_temp", full_disk)  # moved from jobs.writers
    with pytest.raises(OutputError) as info:
        list(caption_folder(folder, captioner=captioner, jsonl=out))
    monkeypatch.undo()
    print(f"\nfull disk: {info.value}")
    assert "disk is full" in str(info.value)
    assert out.read_bytes() == before
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".nctmp")]
    list(caption_folder(folder, captioner=captioner, jsonl=out))  # space again: caught up
    assert [o["path"] for o in read_jsonl(out)] == ["0.png", "1.png", "2.png", "3.png", "new.png"]
