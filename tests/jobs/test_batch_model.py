"""Batches with the real engine on the tiny fixture model, and the ``batch`` command line."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from batch_helpers import IMAGES
from fixture_paths import TINY_BUNDLE as MODEL

from nanocaption_desktop.jobs import caption_folder, read_csv, read_jsonl

captioner_mod = pytest.importorskip("nanocaption_desktop.engine.captioner")
CLI = [sys.executable, "-m", "nanocaption_desktop", "batch"]


@pytest.fixture(scope="module")
def captioner():
    return captioner_mod.Captioner.load(MODEL)


def test_batch_caption_equals_the_image_alone(captioner) -> None:
    for beams in (None, 3):
        alone = {p.name: captioner.caption(p, beams=beams) for p in sorted(IMAGES.iterdir())}
        results = list(caption_folder(IMAGES, captioner=captioner, beams=beams, prefetch=3))
        assert {r.relpath for r in results} == set(alone)
        for r in results:
            assert r.ok, r.error
            assert r.caption == alone[r.relpath].text
            assert r.score == alone[r.relpath].score


def test_decode_pool_as_preparer(captioner, tmp_path: Path) -> None:
    from nanocaption_desktop.engine.isolation import DecodePool

    folder = tmp_path / "in"
    folder.mkdir()
    for p in IMAGES.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    plain = {r.relpath: r.caption for r in caption_folder(folder, captioner=captioner)}
    with DecodePool(captioner.preprocess_config, workers=1) as pool:
        pooled = list(caption_folder(folder, captioner=captioner, preparer=pool.prepare))
    assert {r.relpath: r.caption for r in pooled} == plain
    assert [r.relpath for r in pooled if not r.ok] == ["broken.jpg"]


def cli(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kw)


def test_cli_readme_command_and_exit_codes(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    done = cli(str(IMAGES), "--csv", str(out), "--model", str(MODEL), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # off a terminal: no bar, only the summary line (issue 16)
    assert done.stderr.splitlines() == [done.stderr.strip()] and " 0 failed in " in done.stderr
    rows = read_csv(out)
    assert sorted(r["path"] for r in rows) == sorted(p.name for p in IMAGES.iterdir())
    assert all(r["status"] == "ok" and r["caption"] for r in rows)

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes((IMAGES / "gradient.png").read_bytes())
    (bad / "b.png").write_text("text, not a PNG")
    jl = tmp_path / "bad.jsonl"
    done = cli(str(bad), "--jsonl", str(jl), "--model", str(MODEL), cwd=tmp_path)
    assert done.returncode == 1
    assert [x["status"] for x in read_jsonl(jl)] == ["ok", "failed"]
    assert done.stderr.splitlines()[0].endswith(
        f"{bad / 'b.png'}: not an image (or a format we do not read)"
    )

    assert cli(str(tmp_path / "nope"), "--model", str(MODEL), cwd=tmp_path).returncode == 2
    assert cli(str(bad), "--model", str(tmp_path), cwd=tmp_path).returncode == 2
    assert cli(str(bad), "--beams", "0", cwd=tmp_path).returncode == 2


def test_cli_stdout_when_no_output_given(tmp_path: Path) -> None:
    done = cli(str(IMAGES), "--model", str(MODEL), "--no-isolate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "path,caption,score,status,error"
    assert len(lines) >= 1 + len(list(IMAGES.iterdir()))


def test_cli_progress_bar_and_summary_on_a_terminal(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*CLI, str(IMAGES), "--csv", str(tmp_path / "o.csv"), "--model", str(MODEL)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=follower,
            cwd=tmp_path,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=120) == 0
    finally:
        os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "img/s" in text and "ETA" in text and "failed" in text
    assert "6 images: 6 captioned, 0 failed" in text


def test_cli_ctrl_c_writes_what_finished_and_exits_130(tmp_path: Path) -> None:
    import signal
    import time

    from PIL import Image

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(400):
        Image.new("RGB", (20, 16), (i % 256, 7, 99)).save(folder / f"{i}.png")
    out = tmp_path / "o.csv"
    journal = tmp_path / "o.csv.journal.jsonl"
    proc = subprocess.Popen(
        [*CLI, str(folder), "--csv", str(out), "--model", str(MODEL), "--beams", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # wait until a few are done
        if journal.exists() and len(journal.read_bytes().splitlines()) > 5:
            break
        try:
            proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass
    # paused while the signal is sent: under load the batch could otherwise finish first
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    t0 = time.monotonic()
    _out, err = proc.communicate(timeout=60)
    print(f"Ctrl+C -> exit: {(time.monotonic() - t0) * 1000:.0f} ms")
    assert proc.returncode == 130, err
    assert "cancelled" in err
    rows = read_csv(out)
    done = len(journal.read_bytes().splitlines()) - 1
    assert 0 < len(rows) == done < 400  # every finished image written, nothing half done


def test_recursive_folder_with_loop_unreadable_hidden_and_non_images(
    captioner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanocaption_desktop.jobs import scan as scan_mod

    folder = tmp_path / "photos"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    (folder / "locked").mkdir()
    src = sorted(IMAGES.iterdir())
    (folder / src[0].name).write_bytes(src[0].read_bytes())
    (folder / "sub" / src[1].name).write_bytes(src[1].read_bytes())
    (folder / "sub" / "deeper" / src[2].name).write_bytes(src[2].read_bytes())
    (folder / ".hidden" / src[3].name).write_bytes(src[3].read_bytes())
    (folder / ".dot.png").write_bytes(src[3].read_bytes())
    (folder / "locked" / src[4].name).write_bytes(src[4].read_bytes())
    (folder / "notes.txt").write_text("hello")
    (folder / "data.bin").write_bytes(os.urandom(64))
    os.symlink("../..", folder / "sub" / "deeper" / "loop")
    real = os.scandir
    locked = str(folder / "locked")

    def scandir(path):  # tests run as root: refuse the folder as the OS would for a user
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real(path)

    monkeypatch.setattr(scan_mod.os, "scandir", scandir)
    out = tmp_path / "o.csv"
    results = list(caption_folder(folder, captioner=captioner, recursive=True, csv=out))
    assert [(r.relpath, r.status.value) for r in results] == [
        (src[0].name, "ok"),
        ("locked", "failed"),
        (f"sub/deeper/{src[2].name}", "ok"),
        (f"sub/{src[1].name}", "ok"),
    ]
    assert results[1].error == "cannot read folder: Permission denied"
    rows = read_csv(out)
    assert [r["path"] for r in rows] == [r.relpath for r in results]
    assert rows[2]["caption"] == captioner.caption(folder / "sub" / "deeper" / src[2].name).text
