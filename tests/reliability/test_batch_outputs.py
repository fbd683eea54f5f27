"""Reliability round two, batch output paths (F1, F15, F6, F7, F8, F16, F17): an output never
replaces an input or another output, never goes through a symlink or into a FIFO, and no caption
is lost to a shared sidecar name. Reproductions from the issue, by the CLI and by the API."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE

from nanocaption_desktop.cli import main as cli_main
from nanocaption_desktop.jobs import OutputError, caption_folder, read_csv, read_jsonl

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "fixtures" / "images"
captioner_mod = pytest.importorskip("nanocaption_desktop.engine.captioner")


@pytest.fixture(scope="module")
def captioner():
    return captioner_mod.Captioner.load(TINY_BUNDLE)


@pytest.fixture
def t(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The issue's ``t``: a copy of the fixture images; the test runs from its parent."""
    folder = tmp_path / "t"
    shutil.copytree(IMAGES, folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "user-data"))
    return folder


def state(folder: Path) -> dict[str, tuple[str, int]]:
    """Bytes and mode of every input image (what must never change)."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.lstat().st_mode)
        for p in sorted(folder.iterdir())
        if p.suffix in (".png", ".jpg", ".webp", ".bmp")
    }


def batch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    rc = cli_main(["batch", *args, "--model", str(TINY_BUNDLE), "--no-isolate"])
    return rc, capsys.readouterr().err


# -- F1: an output path that names an image ---------------------------------------------------


@pytest.mark.parametrize("flag,name", [("--csv", "gradient.png"), ("--jsonl", "blocks.webp")])
def test_cli_output_naming_an_image_is_refused(t: Path, capsys, flag: str, name: str) -> None:
    before = state(t)
    rc, err = batch(capsys, "t", flag, f"t/{name}")
    assert rc == 2
    assert f"t/{name}" in err and "image" in err
    assert len(err.strip().splitlines()) == 1
    assert state(t) == before


def test_api_output_naming_an_image_is_refused_before_the_model_loads(t: Path) -> None:
    before = state(t)
    for kw in ({"csv": t / "gradient.png"}, {"jsonl": "t/blocks.webp"}, {"journal": t / "x.jpg"}):
        with pytest.raises(OutputError) as info:  # a bogus model: refused before it loads
            caption_folder(t, model=t / "no-model", **kw)
        assert isinstance(info.value, ValueError)
        assert "image" in str(info.value)
    assert state(t) == before


def test_output_that_is_an_image_by_content_is_refused(t: Path, capsys) -> None:
    """A hard link, a symlink or a misnamed photo: the bytes say image, whatever the name."""
    os.link(t / "gradient.png", t / "hard.csv")
    os.symlink(t / "waves_gray.png", t / "link.jsonl")
    shutil.copy(t / "sun_and_grass.jpg", t / "photo.dat")
    before = state(t)
    for flag, name in (("--csv", "hard.csv"), ("--jsonl", "link.jsonl"), ("--csv", "photo.dat")):
        rc, err = batch(capsys, "t", flag, f"t/{name}")
        assert rc == 2 and name in err, err
    assert state(t) == before
    assert (t / "photo.dat").read_bytes() == (t / "sun_and_grass.jpg").read_bytes()


def test_derived_journal_that_is_an_image_is_refused(t: Path, capsys) -> None:
    os.link(t / "gradient.png", t.parent / "c.csv.journal.jsonl")
    before = state(t)
    rc, err = batch(capsys, "t", "--csv", "c.csv")
    assert rc == 2 and "c.csv.journal.jsonl" in err and "journal" in err
    assert state(t) == before


# -- F15: outputs that collide ------------------------------------------------------------------


@pytest.mark.parametrize(
    "csv,jsonl",
    [
        ("c.csv", "c.csv.journal.jsonl"),
        ("same.out", "same.out"),
        ("same.out", "{tmp}/same.out"),  # relative and absolute
        ("same.out", "t/../same.out"),
        ("same.out", "linked/same.out"),  # a symlinked folder
        ("same.out", "SAME.out"),  # one file on a case-insensitive file system
        ("same.out", "hard.out"),  # a hard link of it
    ],
)
def test_cli_outputs_that_are_one_file_are_refused(t: Path, capsys, csv: str, jsonl: str) -> None:
    os.symlink(t.parent, t.parent / "linked")
    (t.parent / "same.out").write_text("earlier\n")
    os.link(t.parent / "same.out", t.parent / "hard.out")
    rc, err = batch(capsys, "t", "--csv", csv, "--jsonl", jsonl.format(tmp=t.parent))
    assert rc == 2, err
    assert "same file" in err
    assert (t.parent / "same.out").read_text() == "earlier\n"
    assert not (t.parent / "c.csv").exists()


def test_api_explicit_journal_equal_to_an_output_is_refused(t: Path, captioner) -> None:
    with pytest.raises(OutputError, match="same file"):
        caption_folder(t, captioner=captioner, jsonl="o.jsonl", journal="./o.jsonl")


# -- F6: one sidecar for several images ---------------------------------------------------------


def shared_stems(folder: Path) -> None:
    for src, name in (("sun_and_grass.jpg", "photo.jpg"), ("gradient.png", "photo.png")):
        shutil.copy(IMAGES / src, folder / name)
    shutil.copy(IMAGES / "blocks.webp", folder / "photo.webp")


def test_shared_stems_get_one_sidecar_each(t: Path, capsys) -> None:
    shared_stems(t)
    rc, err = batch(capsys, "t", "--sidecars", "skip", "--csv", "o.csv")
    assert rc == 0, err
    rows = {r["path"]: r["caption"] for r in read_csv("o.csv")}
    for name in ("photo.jpg", "photo.png", "photo.webp"):
        assert (t / f"{name}.txt").read_text(encoding="utf-8") == rows[name] + "\n"
    assert not (t / "photo.txt").exists()
    assert (t / "gradient.txt").read_text(encoding="utf-8") == rows["gradient.png"] + "\n"
    # resume: every image is done and its sidecar exists: nothing is redone
    rc, _ = batch(capsys, "t", "--sidecars", "skip", "--csv", "o.csv")
    assert rc == 0
    again = list(caption_folder(t, model=TINY_BUNDLE, csv="o.csv", sidecars="skip"))
    assert all(r.resumed for r in again) and len(again) == len(rows)


def test_shared_stem_appearing_later_moves_to_the_full_name(t: Path, captioner) -> None:
    list(caption_folder(t, captioner=captioner, csv="o.csv", sidecars="skip"))
    assert (t / "gradient.txt").exists()
    shutil.copy(IMAGES / "blocks.webp", t / "gradient.webp")  # now gradient.* are two images
    results = {r.relpath: r for r in caption_folder(t, captioner=captioner, csv="o.csv",
                                                     sidecars="skip")}  # fmt: skip
    assert results["gradient.png"].sidecar == "written" and not results["gradient.png"].resumed
    assert results["gradient.webp"].sidecar == "written"
    assert (t / "gradient.png.txt").read_text() == results["gradient.png"].caption + "\n"
    assert (t / "gradient.webp.txt").read_text() == results["gradient.webp"].caption + "\n"
    assert results["waves_gray.png"].resumed  # its sidecar did not move: not redone


def test_sidecar_only_skip_keeps_existing_shared_stem_sidecars(t: Path, captioner) -> None:
    shared_stems(t)
    (t / "photo.jpg.txt").write_text("mine\n")
    results = {r.relpath: r for r in caption_folder(t, captioner=captioner, sidecars="skip")}
    assert results["photo.jpg"].sidecar == "kept"
    assert results["photo.png"].sidecar == "written"
    assert (t / "photo.jpg.txt").read_text() == "mine\n"


# -- F7: append through a symlink ---------------------------------------------------------------


@pytest.mark.parametrize("policy", ["append", "overwrite", "skip"])
def test_sidecar_symlink_is_not_followed(t: Path, capsys, policy: str) -> None:
    target = t.parent / "su"
    target.write_bytes(b"\x7fELF secret")
    os.chmod(target, 0o4755)
    os.symlink(target, t / "gradient.txt")
    rc, err = batch(capsys, "t", "--sidecars", policy, "--csv", "o.csv")
    rows = {r["path"]: r for r in read_csv("o.csv")}
    assert rows["gradient.png"]["status"] == "failed"
    assert "gradient.txt" in rows["gradient.png"]["error"]
    assert "symbolic link" in rows["gradient.png"]["error"]
    assert rc == 1, err
    assert (t / "gradient.txt").is_symlink()
    assert target.read_bytes() == b"\x7fELF secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o4755
    setuid = [p for p in t.iterdir() if p.lstat().st_mode & (stat.S_ISUID | stat.S_ISGID)]
    assert setuid == []
    assert all(r["status"] == "ok" for k, r in rows.items() if k != "gradient.png")


@pytest.mark.parametrize("flag", ["--csv", "--jsonl"])
def test_output_symlink_is_refused(t: Path, capsys, flag: str) -> None:
    (t.parent / "elsewhere").write_text("keep\n")
    os.symlink(t.parent / "elsewhere", t.parent / "out")
    rc, err = batch(capsys, "t", flag, "out")
    assert rc == 2 and "symbolic link" in err
    assert (t.parent / "elsewhere").read_text() == "keep\n"


def test_replaced_output_keeps_rwx_bits_only(t: Path, capsys) -> None:
    out = t.parent / "o.csv"
    out.write_text("old\n")
    os.chmod(out, 0o6750)
    rc, _ = batch(capsys, "t", "--csv", "o.csv")
    assert rc == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((t.parent / "o.csv.journal.jsonl").stat().st_mode) == 0o666 & ~umask


# -- F8: outputs must be regular files ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "folder", "socket"])
@pytest.mark.parametrize("flag", ["--csv", "--jsonl"])
def test_output_not_a_regular_file_is_refused(t: Path, capsys, kind: str, flag: str) -> None:
    import socket

    out = t.parent / "out"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "folder":
        out.mkdir()
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(out))
        sock.close()
    rc, err = batch(capsys, "t", flag, "out")
    assert rc == 2
    assert "not a regular file" in err and "out" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("policy", ["append", "skip"])
def test_sidecar_fifo_does_not_block(t: Path, policy: str) -> None:
    os.mkfifo(t / "gradient.txt")
    (t / "blocks.txt").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "nanocaption_desktop", "batch", "t", "--sidecars", policy,
         "--csv", "o.csv", "--model", str(TINY_BUNDLE), "--no-isolate"],  # fmt: skip
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    rows = {r["path"]: r for r in read_csv(t.parent / "o.csv")}
    assert "FIFO" in rows["gradient.png"]["error"]
    assert "folder" in rows["blocks.webp"]["error"]
    assert sum(r["status"] == "ok" for r in rows.values()) == len(rows) - 2
    assert stat.S_ISFIFO((t / "gradient.txt").lstat().st_mode)


# -- F16, F17: long output names, missing folders ------------------------------------------------


def test_long_csv_name_keeps_a_journal_that_resumes(t: Path, capsys) -> None:
    name = "c" * 246 + ".csv"  # 250 bytes: legal; name + ".journal.jsonl" is not
    rc, err = batch(capsys, "t", "--csv", name)
    assert rc == 0, err
    journals = [p for p in t.parent.iterdir() if p.name.endswith(".journal.jsonl")]
    assert len(journals) == 1 and len(os.fsencode(journals[0].name)) <= 255
    assert len(read_csv(name)) == 6
    again = list(caption_folder(t, model=TINY_BUNDLE, csv=name))
    assert len(again) == 6 and all(r.resumed for r in again)


@pytest.mark.parametrize("csv", [None, "o.csv"])
def test_jsonl_into_a_missing_folder(t: Path, capsys, csv: str | None) -> None:
    args = ["--jsonl", "new/deeper/o.jsonl"] + (["--csv", csv] if csv else [])
    rc, err = batch(capsys, "t", *args)
    assert rc == 0, err
    assert len(read_jsonl(t.parent / "new/deeper/o.jsonl")) == 6


def test_output_folder_that_cannot_be_made_is_refused(t: Path, capsys) -> None:
    (t.parent / "afile").write_text("x")
    rc, err = batch(capsys, "t", "--csv", "o.csv", "--jsonl", "afile/o.jsonl")
    assert rc == 2 and "afile" in err
    assert (t.parent / "afile").read_text() == "x"


def test_help_documents_the_sidecar_and_refusal_rules(capsys) -> None:
    assert cli_main(["batch", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "photo.jpg.txt" in text and "same file" in text and "exit code 2" in text
