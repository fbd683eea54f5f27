"""Issue 14: `batch --write-metadata` over JPEG/PNG/WebP copies killed with SIGKILL at 20 random
moments and resumed each time. After every kill each photo is either byte-identical to its
original or holds our alt text with its image payload byte-identical (never half-written); after
the last resume every photo holds its caption, no temp file is left, and one more run writes
nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixture_paths import IMAGES_DIR, TINY_BUNDLE
from PIL import Image

from nanocaption_desktop.metadata import read_descriptions
from nanocaption_desktop.metadata.containers import module_for
from nanocaption_desktop.metadata.xmp_merge import clean_text

KILLS = 20
SOURCES = ("sun_and_grass.jpg", "gradient.png", "blocks.webp")


def make_folder(folder: Path) -> dict[str, bytes]:
    """~20 photos: the fixture JPEG/PNG/WebP copies, and larger JPEGs with EXIF (a write takes
    long enough there to be caught in the middle)."""
    folder.mkdir()
    originals = {}
    for i in range(15):
        src = IMAGES_DIR / SOURCES[i % 3]
        name = f"{'ü ' if i % 5 == 0 else ''}photo {i}{src.suffix}"
        originals[name] = src.read_bytes()
    for i in range(5):
        img = Image.new("RGB", (1600, 1200), ((i * 50) % 256, 120, 200 - i * 30))
        exif = Image.Exif()
        exif[0x010F] = f"Camera {i}"  # Make
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90, exif=exif)
        originals[f"large {i}.jpg"] = buf.getvalue()
    for name, data in originals.items():
        (folder / name).write_bytes(data)
    return originals


def check_photo(path: Path, original: bytes) -> str:
    """'original' or 'ours'; fails on anything in between."""
    data = path.read_bytes()
    if data == original:
        return "original"
    module = module_for(data)
    assert module is not None, f"{path.name}: no longer a JPEG/PNG/WebP"
    module.check_lossless(original, data, path.name)  # image payload byte-identical
    with Image.open(io.BytesIO(data)) as im:
        im.load()
    found = read_descriptions(path)
    assert found.winner is not None and found.winner.ours and found.has_alt_text, path.name
    return "ours"


def temp_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.name.endswith(".nctmp"))


@pytest.mark.slow  # ~20 runs of the CLI with the tiny model
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_write_metadata_then_resume(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    originals = make_folder(folder)
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.journal.jsonl"
    cmd = [sys.executable, "-m", "nanocaption_desktop", "batch", str(folder), "--write-metadata",
           "--jsonl", str(out), "--model", str(TINY_BUNDLE)]  # fmt: skip
    env = {**os.environ, "NANOCAPTION_DATA_DIR": str(tmp_path / "data")}
    rng = random.Random(20261130)
    t_start = time.monotonic()
    seen = []
    temps = 0
    for n in range(KILLS):
        isolate = [] if n % 2 else ["--no-isolate"]
        proc = subprocess.Popen(
            [*cmd, *isolate], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        size0 = journal.stat().st_size if journal.exists() else 0
        deadline = time.monotonic() + 30
        wait_for_work = rng.random() < 0.8  # else: a moment during start-up
        while wait_for_work and proc.poll() is None and time.monotonic() < deadline:
            if journal.exists() and journal.stat().st_size > size0:
                break
            try:
                proc.wait(timeout=0.01)
            except subprocess.TimeoutExpired:
                pass
        try:
            proc.wait(timeout=rng.uniform(0.0, 0.4))  # the random moment
        except subprocess.TimeoutExpired:
            pass
        proc.kill()
        proc.wait(timeout=30)
        states = [check_photo(folder / name, data) for name, data in originals.items()]
        seen.append(states.count("ours"))
        temps += len(temp_files(folder))  # a write caught before its rename: removed on resume
        if n % 5 == 4:  # now and then, start again from the originals: kills early in a run
            for name, data in originals.items():
                (folder / name).write_bytes(data)
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    took = time.monotonic() - t_start
    assert final.returncode == 0, final.stderr
    rows = {r["path"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert sorted(rows) == sorted(originals)
    for name, data in originals.items():
        assert check_photo(folder / name, data) == "ours"
        # XML holds no control characters: the tiny model's odd tokens are cleaned out
        want = clean_text(rows[name]["caption"])
        assert read_descriptions(folder / name).winner.text == want
    assert temp_files(tmp_path) == []
    stamps = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"{len(originals)} done earlier" in again.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()} == stamps
    print(
        f"\nalt-text kill test: {KILLS} SIGKILLs; photos holding our alt text after each kill: "
        f"{' '.join(map(str, seen))}; final {len(rows)} of {len(originals)}, half-written 0, "
        f"temp files left by the kills {temps}, after the resume 0; {took:.1f} s"
    )
