"""Issue 7 point 7: random and mutated bytes through load_image and the DecodePool.

Only ImageError may come out, and every file in the pool ends within the pool's time limit
(a hang would show up as "took longer than N s" and is counted). The figures are printed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hostile_files import Tally, seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nanocaption_desktop.engine.errors import ImageError
from nanocaption_desktop.engine.images import load_image
from nanocaption_desktop.engine.isolation import DecodePool
from nanocaption_desktop.engine.preprocess import PreprocessConfig

FIXTURE_IMAGES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
SEEDS = seeds() | {p.name: p.read_bytes() for p in sorted(FIXTURE_IMAGES.iterdir())}
MAGICS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 ",
          b"BM", b"II*\x00", b"MM\x00*", b"%!PS-Adobe-3.0", b"%PDF-1.7", b""]  # fmt: skip
POOL_TIMEOUT = 20.0
FUZZ = settings(
    max_examples=250,
    deadline=timedelta(seconds=10),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed image with 1-6 byte-level mutations: flips, overwrites, cuts, inserts, copies."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "header", "cut", "insert", "delete", "copy"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "header" and data:  # size fields, chunk lengths and markers live here
            at = draw(st.integers(0, min(63, len(data) - 1)))
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 256))]
        elif op == "copy" and data:
            start = draw(st.integers(0, len(data) - 1))
            data[pos:pos] = data[start : start + draw(st.integers(1, 512))]
    return name, bytes(data)


random_files = st.tuples(st.sampled_from(MAGICS), st.binary(max_size=4096)).map(
    lambda t: ("random", t[0] + t[1])
)


def _peak_rss_mb() -> int:
    """Peak resident memory of this process in MB (-1 where unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return -1
    rusage = resource.getrusage(resource.RUSAGE_SELF)
    return int(rusage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10))


def _worker_peak_mb(pid: int | None) -> int:
    """A live worker's peak resident memory (Linux: VmHWM), or -1 where that is not available."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmHWM"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        return -1


def _summary(request: pytest.FixtureRequest, tally: Tally) -> None:
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print(tally.table())


@pytest.fixture(scope="module")
def in_process(request: pytest.FixtureRequest) -> Iterator[Tally]:
    # Bound the test's own memory: a mutated header may declare a large but legal size, which
    # would be decoded here in the test process (the calls below pass max_megapixels=4; GIF
    # frames are also checked by Pillow's own limit, lowered here; the product never changes it).
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, 4_000_000
    tally = Tally("fuzz: load_image in process (pixel limit lowered to 4 Mpx for the test)")
    tally.other["slowest (s)"] = 0  # type: ignore[assignment]
    yield tally
    Image.MAX_IMAGE_PIXELS = limit
    tally.other["peak RSS (MB)"] = _peak_rss_mb()  # the whole test process so far
    _summary(request, tally)


@pytest.fixture(scope="module")
def pooled(request: pytest.FixtureRequest) -> Iterator[tuple[DecodePool, Tally]]:
    tally = Tally(f"fuzz: DecodePool (time limit {POOL_TIMEOUT:g} s, memory cap 256 MB)")
    cfg = PreprocessConfig(height=32, width=32)
    with DecodePool(cfg, workers=1, timeout=POOL_TIMEOUT, memory_mb=256) as pool:
        yield pool, tally
        tally.other["workers replaced"] = pool.replaced
        tally.other["worker peak RSS (MB)"] = max(_worker_peak_mb(w.proc.pid) for w in pool._all)
    _summary(request, tally)


def _feed_in_process(tally: Tally, name: str, data: bytes) -> None:
    tally.tried += 1
    start = time.perf_counter()
    try:
        img = load_image(data, name=name, max_megapixels=4)
    except ImageError as e:
        tally.error(e.reason)
    except BaseException:
        tally.crashes += 1
        raise
    else:
        tally.decoded += 1
        assert img.mode == "RGB" and img.width > 0 and img.height > 0
    spent = round(time.perf_counter() - start, 3)
    tally.other["slowest (s)"] = max(tally.other["slowest (s)"], spent)  # type: ignore[assignment]


@FUZZ
@given(case=mutated())
def test_mutated_images_in_process(in_process: Tally, case: tuple[str, bytes]) -> None:
    _feed_in_process(in_process, *case)


@settings(FUZZ, max_examples=150)
@given(case=random_files)
def test_random_bytes_in_process(in_process: Tally, case: tuple[str, bytes]) -> None:
    _feed_in_process(in_process, *case)


@settings(FUZZ, max_examples=80, deadline=timedelta(seconds=POOL_TIMEOUT * 3))
@given(case=st.one_of(mutated(), random_files))
def test_mutated_and_random_through_the_pool(
    pooled: tuple[DecodePool, Tally], case: tuple[str, bytes]
) -> None:
    pool, tally = pooled
    name, data = case
    tally.tried += 1
    try:
        pixels = pool.prepare(data, name=name)
    except ImageError as e:
        tally.error(e.reason)
        assert e.source == name
    except BaseException:
        tally.crashes += 1
        raise
    else:
        tally.decoded += 1
        assert pixels.shape == (1, 3, 32, 32)
    assert tally.crashes == 0 and tally.hangs == 0, tally.table()
