"""`caption FILE... --write` and `batch DIR --write-metadata` as a user runs them (issue 14)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from fixture_paths import IMAGES_DIR, TINY_BUNDLE

from nanocaption_desktop.metadata import read_descriptions

NAMES = ("sun_and_grass.jpg", "gradient.png", "blocks.webp")


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nanocaption_desktop", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def copies(folder: Path) -> list[Path]:
    folder.mkdir()
    return [Path(shutil.copy(IMAGES_DIR / n, folder / n)) for n in NAMES]


def test_caption_write_puts_each_caption_in_its_photo_and_a_refused_one_is_one_line(
    tmp_path: Path,
) -> None:
    photos = copies(tmp_path / "p")
    photos[1].chmod(0o444)
    before = photos[1].read_bytes()
    done = cli("caption", *map(str, photos), "--write", "--json", "--model", str(TINY_BUNDLE))
    assert done.returncode == 1, done.stderr
    rows = {Path(r["path"]).name: r for r in map(json.loads, done.stdout.splitlines())}
    assert rows["sun_and_grass.jpg"]["alt_text"]["where"] == "file"
    assert rows["blocks.webp"]["alt_text"]["fields"][0] == "XMP-iptcCore:AltTextAccessibility"
    refused = [line for line in done.stderr.splitlines() if "gradient.png" in line]
    assert refused == [f"nanocaption-desktop: {photos[1]}: alt text not written: "
                       "the file is read-only; not written"]  # fmt: skip
    assert rows["gradient.png"]["alt_text"] == {"error": "the file is read-only; not written"}
    assert photos[1].read_bytes() == before
    for photo in (photos[0], photos[2]):
        winner = read_descriptions(photo).winner
        assert winner is not None and winner.ours
        assert winner.text == rows[photo.name]["caption"]


def test_caption_write_plain_output_keeps_captions_and_says_where_on_stderr(
    tmp_path: Path,
) -> None:
    photo = copies(tmp_path / "p")[0]
    done = cli("caption", str(photo), "--write", "--model", str(TINY_BUNDLE))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == read_descriptions(photo).winner.text
    assert f"{photo}: alt text written into the photo (XMP-iptcCore:" in done.stderr
    again = cli("caption", str(photo), "--write", "--skip-described", "--model", str(TINY_BUNDLE))
    assert "alt text skipped: it already has alt text" in again.stderr


def test_policy_options_need_the_write_flag(tmp_path: Path) -> None:
    photo = copies(tmp_path / "p")[0]
    done = cli("caption", str(photo), "--overwrite", "--model", str(TINY_BUNDLE))
    assert done.returncode == 2 and "--overwrite needs --write" in done.stderr
    done = cli("batch", str(photo.parent), "--no-exif", "--model", str(TINY_BUNDLE))
    assert done.returncode == 2 and "--exif needs --write-metadata" in done.stderr


def test_batch_write_metadata_then_resume(tmp_path: Path) -> None:
    photos = copies(tmp_path / "p")
    env = {**os.environ, "NANOCAPTION_DATA_DIR": str(tmp_path / "data")}
    args = ("batch", str(photos[0].parent), "--write-metadata", "--model", str(TINY_BUNDLE))
    done = cli(*args, "--jsonl", str(tmp_path / "out.jsonl"), env=env)
    assert done.returncode == 0, done.stderr
    assert "3 captioned" in done.stderr and "alt text in the photos" in done.stderr
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {r["alt_text"]["where"] for r in rows} == {"file"}
    stamps = [p.stat().st_mtime_ns for p in photos]
    again = cli(*args, "--jsonl", str(tmp_path / "out.jsonl"), env=env)
    assert again.returncode == 0 and "3 done earlier" in again.stderr
    assert [p.stat().st_mtime_ns for p in photos] == stamps
    alone = cli(*args, env=env)  # no CSV/JSONL: nothing on stdout, a journal in user data
    assert alone.returncode == 0 and alone.stdout == "", alone.stderr
