"""`metadata show` and `metadata write` as a user runs them: a subprocess, real files, exit codes,
one line on stderr naming a refused file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from core_helpers import JPEG, image_file


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nanocaption_desktop", "metadata", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        encoding="utf-8",
    )


def test_write_then_show(tmp_path: Path):
    photo = tmp_path / "p.jpg"
    shutil.copy(JPEG, photo)
    done = cli("write", str(photo), "--text", "Grass under a low sun", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["where"] == "file" and "XMP-iptcCore:AltTextAccessibility" in result["fields"]
    again = cli("write", str(photo), "--text", "Grass under a low sun")
    assert again.returncode == 0 and again.stdout.startswith(f"unchanged {photo}")
    gif = image_file(tmp_path / "g.gif", "GIF")
    side = cli("write", str(gif), "--text", "-", stdin="Un dessin, café\n")
    assert side.returncode == 0 and side.stdout.strip().startswith(f"wrote {gif}.xmp")
    shown = cli("show", str(photo), str(gif), str(tmp_path / "missing.jpg"))
    assert shown.returncode == 1
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [r["winner"]["text"] for r in rows] == ["Grass under a low sun", "Un dessin, café"]
    assert rows[1]["winner"]["source"] == "sidecar:g.gif.xmp" and rows[1]["format"] is None
    assert shown.stderr.strip().splitlines() == [
        f"nanocaption-desktop: {tmp_path / 'missing.jpg'}: no such file"
    ]


def test_a_refused_file_exits_2_with_one_line(tmp_path: Path):
    photo = tmp_path / "p.jpg"
    shutil.copy(JPEG, photo)
    before = photo.read_bytes()
    os.chmod(photo, 0o444)
    done = cli("write", str(photo), "--text", "A dog")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"nanocaption-desktop: {photo}: the file is read-only; not written"
    ]
    assert photo.read_bytes() == before


def test_a_persons_text_is_skipped_and_said_so(tmp_path: Path):
    gif = image_file(tmp_path / "g.gif", "GIF")
    assert cli("write", str(gif), "--text", "ours").returncode == 0
    person = (tmp_path / "g.gif.xmp").read_text(encoding="utf-8")
    digest = person.split("<nanocaption:DescriptionSHA256>")[1].split("<")[0]
    (tmp_path / "g.gif.xmp").write_text(person.replace(digest, "0" * 64), encoding="utf-8")
    done = cli("write", str(gif), "--text", "new", "--no-exif")
    assert done.returncode == 0 and done.stdout.startswith(f"skipped {gif}: it has alt text")
    forced = cli("write", str(gif), "--text", "new", "--overwrite")
    assert forced.returncode == 0 and forced.stdout.startswith(f"wrote {gif}.xmp")
