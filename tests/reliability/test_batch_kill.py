"""Issue 7.5 / issue 3.4: a batch killed with SIGKILL at 20 random moments and resumed each time
ends with every image exactly once in CSV and JSONL, identical captions, zero stray temp files,
and the originals unchanged; after every kill each output is a complete file."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
IMAGES = 160


def make_folder(folder: Path) -> list[str]:
    names = []
    for i in range(IMAGES):
        sub = folder / ("sub" if i % 4 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        name = f'{"ü-" if i % 7 == 0 else ""}img {i}, "q".png'
        color = ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)
        Image.new("RGB", (12 + i % 9, 10 + i % 5), color).save(sub / name)
        names.append(str((sub / name).relative_to(folder)))
    for bad in ("broken.png", "zero.jpg"):
        (folder / bad).write_bytes(b"" if bad == "zero.jpg" else b"\x89PNG\r\n\x1a\nbroken")
        names.append(bad)
    return sorted(names)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in folder.rglob("*")
        if p.is_file() and p.suffix != ".txt"
    }


def check_complete(csv_path: Path, jsonl_path: Path) -> int:
    """Each output, if present, is a complete file: parses fully, no duplicate, no torn line."""
    rows = 0
    if csv_path.exists():
        raw = csv_path.read_bytes()
        assert raw.endswith(b"\r\n")
        with open(csv_path, encoding="utf-8", newline="") as f:
            recs = list(csv.DictReader(f))
        paths = [r["path"] for r in recs]
        assert len(paths) == len(set(paths))
        assert all(r["status"] in ("ok", "failed") for r in recs)
        rows = len(recs)
    if jsonl_path.exists():
        raw = jsonl_path.read_bytes()
        assert not raw or raw.endswith(b"\n")
        objs = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
        assert len({o["path"] for o in objs}) == len(objs)
    return rows


@pytest.mark.slow  # over 10 s: a batch killed at random moments and resumed each time
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    names = make_folder(folder)
    before = fingerprint(folder)
    out_csv, out_jsonl = tmp_path / "out" / "c.csv", tmp_path / "out" / "c.jsonl"
    out_csv.parent.mkdir()
    journal = out_csv.with_name("c.csv.journal.jsonl")
    cmd = [sys.executable, "-m", "nanocaption_desktop", "batch", str(folder), "--recursive",
           "--csv", str(out_csv), "--jsonl", str(out_jsonl), "--sidecars", "overwrite",
           "--model", str(TINY_BUNDLE)]  # fmt: skip
    env = {**os.environ, "NANOCAPTION_DATA_DIR": str(tmp_path / "data")}
    rng = random.Random(20261122)
    t_start = time.monotonic()
    progress = []
    for n in range(KILLS):
        isolate = [] if n % 2 else ["--no-isolate"]  # both decode paths; halves start-up time
        proc = subprocess.Popen(
            [*cmd, *isolate], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # a random moment: during start-up, while writing, or while captioning
        size0 = journal.stat().st_size if journal.exists() else 0
        deadline = time.monotonic() + 30
        wait_for_work = rng.random() < 0.8
        while wait_for_work and proc.poll() is None and time.monotonic() < deadline:
            if journal.exists() and journal.stat().st_size > size0:
                break
            try:
                proc.wait(timeout=0.01)
            except subprocess.TimeoutExpired:
                pass
        try:
            proc.wait(timeout=rng.uniform(0.0, 0.6))
        except subprocess.TimeoutExpired:
            pass
        proc.kill()
        proc.wait(timeout=30)
        rows_now = check_complete(out_csv, out_jsonl)
        done_now = len(journal.read_bytes().splitlines()) - 1 if journal.exists() else 0
        progress.append(f"{done_now}/{rows_now}")
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t_start
    assert final.returncode == 1, final.stderr  # the two bad files fail; everything else is ok
    check_complete(out_csv, out_jsonl)
    with open(out_csv, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    objs = [json.loads(x) for x in out_jsonl.read_text(encoding="utf-8").splitlines()]
    got = sorted(r["path"].removeprefix("'") for r in rows)
    assert got == names  # every image exactly once: no duplicates, no gaps
    assert sorted(o["path"] for o in objs) == names
    assert {r["path"].removeprefix("'"): r["status"] for r in rows if r["status"] == "failed"} == {
        "broken.png": "failed",
        "zero.jpg": "failed",
    }
    stray = [p for p in tmp_path.rglob("*") if p.name.endswith(".nctmp")]
    assert stray == []
    assert fingerprint(folder) == before  # originals: same bytes and mtime
    # captions equal those of one clean run with the same engine
    from nanocaption_desktop.engine.captioner import Captioner

    cap = Captioner.load(TINY_BUNDLE)
    by_path = {o["path"]: o for o in objs}
    for name in rng.sample(names[:-2], 12):
        assert by_path[name]["caption"] == cap.caption(folder / name).text
        sidecar = (folder / name).with_suffix(".txt")
        assert sidecar.read_text(encoding="utf-8") == by_path[name]["caption"] + "\n"
    print(
        f"\nkill test: {KILLS} SIGKILLs; journal records/CSV rows after each kill: "
        f"{' '.join(progress)}; "
        f"final {len(rows)} rows for {len(names)} files, duplicates 0, gaps 0, "
        f"stray temp files {len(stray)}, originals changed 0; {took:.1f} s"
    )
