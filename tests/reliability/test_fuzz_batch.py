"""Issue 7 point 7, the batch side: folders of random and mutated files through caption_folder.

The real tiny model captions whatever decodes; everything else must become a failed result with
a readable reason. No exception escapes, every file gets exactly one result, the CSV has one
row per file, and each file ends within the decode pool's time limit.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanocaption_desktop.jobs import caption_folder

FIXTURE_IMAGES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
SEEDS = [p.read_bytes() for p in sorted(FIXTURE_IMAGES.iterdir())]
EXTS = [".jpg", ".png", ".webp", ".gif", ".bmp", ".tif"]
TALLY: Counter[str] = Counter()


@st.composite
def hostile_file(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=2048))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
    return bytes(data)


@pytest.fixture(scope="module", autouse=True)
def _report(figures):
    yield
    rows = "\n".join(
        f"{k:<44} {v}" for k, v in TALLY.most_common() if k not in ("files", "batches")
    )
    figures(
        "batch runner fuzz (caption_folder, isolated decoding, tiny model)",
        f"{TALLY['files']} files in {TALLY['batches']} folders; exceptions 0\n{rows}",
    )


@settings(
    max_examples=12,
    deadline=timedelta(seconds=60),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=st.lists(st.tuples(hostile_file(), st.sampled_from(EXTS)), min_size=1, max_size=6))
def test_hostile_folder_through_the_batch_runner(captioner, tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("fuzz")
    for i, (data, ext) in enumerate(files):
        (folder / f"f{i:02d}{ext}").write_bytes(data)
    out = folder.parent / f"{folder.name}.csv"
    results = list(
        caption_folder(
            folder,
            captioner=captioner,
            csv=out,
            isolate=True,
            resume=False,
            journal=folder.parent / f"{folder.name}.j",
        )
    )
    assert sorted(os.path.basename(r.path) for r in results) == sorted(
        f"f{i:02d}{ext}" for i, (_, ext) in enumerate(files)
    )
    for r in results:
        if r.ok:
            TALLY["captioned"] += 1
        else:
            assert r.error and isinstance(r.error, str)
            assert "longer than" not in r.error, r.error  # no file hit the time limit
            TALLY[f"failed: {r.error[:40]}"] += 1
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(files)
    TALLY["files"] += len(files)
    TALLY["batches"] += 1
