"""Issue 7.6 for batches: memory stays flat over a long batch; cancel stops within 2 s."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest
from fixture_paths import TINY_BUNDLE
from PIL import Image

from nanocaption_desktop.jobs import caption_folder, read_jsonl

ROOT = Path(__file__).resolve().parents[2]
captioner_mod = pytest.importorskip("nanocaption_desktop.engine.captioner")

N = 400


@pytest.fixture(scope="module")
def captioner():
    return captioner_mod.Captioner.load(TINY_BUNDLE)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("many")
    for i in range(N):
        size = (24 + i % 40, 18 + i % 30)
        Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)).save(
            folder / f"{i:04d}.png"
        )
    return folder


def test_memory_flat_over_a_long_batch(captioner, many: Path, tmp_path: Path) -> None:
    proc = psutil.Process()
    samples: list[tuple[int, int]] = []
    out = tmp_path / "o.jsonl"
    for n, _result in enumerate(
        caption_folder(many, captioner=captioner, jsonl=out, sidecars="overwrite"), 1
    ):
        if n % 25 == 0:
            samples.append((n, proc.memory_info().rss))
    assert len(read_jsonl(out)) == N
    warm = dict(samples)[100]
    late = max(rss for n, rss in samples if n >= 100)
    growth_mb = (late - warm) / 2**20
    print(
        f"\nmemory: {N} images, RSS after 100 {warm / 2**20:.1f} MB, peak after that "
        f"{late / 2**20:.1f} MB, growth {growth_mb:.1f} MB "
        f"({growth_mb * 1024 / (N - 100):.1f} kB per image)"
    )
    assert growth_mb < 24  # the journal index grows a few hundred bytes per image, no more


def test_cancel_stops_within_two_seconds(captioner, many: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    out = tmp_path / "o.jsonl"
    got = []
    stamp: list[float] = []

    def consume() -> None:
        for r in caption_folder(many, captioner=captioner, jsonl=out, cancel=cancel, beams=3):
            got.append(r)
            if len(got) == 20:
                stamp.append(time.monotonic())
                cancel.set()

    worker = threading.Thread(target=consume)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive()
    took = time.monotonic() - stamp[0]
    print(f"\ncancel: returned {took * 1000:.0f} ms after the flag, {len(got)} results written")
    assert len(got) == 20 and len(read_jsonl(out)) == 20
    assert took < 2.0
