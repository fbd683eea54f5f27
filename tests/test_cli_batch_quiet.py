"""A CLI batch run by cron or CI (standard error not a terminal) says what failed (issue 16):
one line per failed file, "nanocaption-desktop batch: path: reason", and one summary line with
the counts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fixture_paths import IMAGES_DIR, TINY_BUNDLE


def test_a_piped_batch_prints_each_failure_and_a_summary(tmp_path: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(IMAGES_DIR / "gradient.png", folder / "good.png")
    (folder / "notes.jpg").write_text("not an image")
    (folder / "cut.png").write_bytes((IMAGES_DIR / "gradient.png").read_bytes()[:200])
    env = dict(os.environ, NANOCAPTION_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(  # stdout and stderr are pipes, as under cron
        [sys.executable, "-m", "nanocaption_desktop", "batch", str(folder)]
        + ["--model", str(TINY_BUNDLE), "--csv", str(tmp_path / "out.csv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    failed = sorted(line for line in lines if ": " in line and "images:" not in line)
    prog = "nanocaption-desktop batch"
    assert failed == [
        f"{prog}: {folder / 'cut.png'}: the file is truncated or damaged",
        f"{prog}: {folder / 'notes.jpg'}: not an image (or a format we do not read)",
    ], done.stderr
    assert re.fullmatch(
        r"3 images: 1 captioned, 2 failed in \d+:\d\d( \([\d.]+ img/s\))? -> .*out\.csv",
        lines[-1],
    ), lines[-1]
    assert "\r" not in done.stderr  # no progress bar off a terminal
