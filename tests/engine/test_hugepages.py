"""engine/hugepages.py: the sessions' memory collapsed onto 2 MB pages in place, contents
unchanged, no page added, only from a captioner's second image on, and never where turned off."""

from __future__ import annotations

import ctypes
import hashlib
import mmap
import os
import sys

import numpy as np
import pytest
from PIL import Image

from nanocaption_desktop.engine import hugepages

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

HUGE = hugepages.HUGE


@pytest.fixture
def on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Huge pages on for this test (tests/conftest.py turns them off for the others)."""
    monkeypatch.setenv("NANOCAPTION_HUGE_PAGES", "1")
    if not hugepages.enabled():
        pytest.skip("transparent huge pages are off on this machine")


class Region:
    """A private anonymous mapping with `pages` 2 MB-aligned huge-page ranges in it."""

    def __init__(self, pages: int) -> None:
        self.map = mmap.mmap(-1, (pages + 1) * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        self.start = (self.base + HUGE - 1) // HUGE * HUGE
        self.offset = self.start - self.base
        self.pages = [self.start + i * HUGE for i in range(pages)]

    def fill(self, page: int, upto: int = HUGE) -> None:
        rng = np.random.default_rng(page)
        at = self.offset + page * HUGE
        self.map[at : at + upto] = rng.integers(0, 256, upto, dtype=np.uint8).tobytes()

    def digest(self) -> str:
        return hashlib.sha256(
            self.map[self.offset : self.offset + len(self.pages) * HUGE]
        ).hexdigest()

    def present(self) -> int:
        """Pages of 4 KB present in the aligned part."""
        with open("/proc/self/pagemap", "rb", buffering=0) as f:
            f.seek(self.start // mmap.PAGESIZE * 8)
            raw = f.read(len(self.pages) * HUGE // mmap.PAGESIZE * 8)
        return int((np.frombuffer(raw, np.uint64) >> np.uint64(63)).sum())

    def huge_kb(self) -> int:
        """AnonHugePages of the mapping that holds this region (/proc/self/smaps; the kernel may
        have merged it with a neighbour, so tests compare before and after)."""
        with open("/proc/self/smaps") as f:
            inside = False
            for line in f:
                head = line.split(maxsplit=1)[0]
                if "-" in head and not head.endswith(":"):
                    lo, hi = (int(x, 16) for x in head.split("-"))
                    inside = lo <= self.start < hi
                elif inside and line.startswith("AnonHugePages:"):
                    return int(line.split()[1])
        return 0

    def close(self) -> None:
        self.map.close()


def collapse_or_skip(pages: list[int]) -> int:
    done = hugepages.collapse(pages)
    if done == 0:
        pytest.skip("this kernel does not collapse pages on request (MADV_COLLAPSE, Linux 6.1)")
    return done


def test_full_pages_are_collapsed_in_place(on: None) -> None:
    r = Region(3)
    try:
        for p in range(3):
            r.fill(p)
        before, kb = r.digest(), r.huge_kb()
        assert set(r.pages) <= hugepages.resident()
        assert collapse_or_skip(r.pages) == 3 * HUGE
        assert r.huge_kb() - kb == 3 * HUGE // 1024
        assert r.digest() == before  # the same bytes
        assert hugepages.collapse(r.pages) == 3 * HUGE  # already huge: nothing to do
        assert r.huge_kb() - kb == 3 * HUGE // 1024 and r.digest() == before
    finally:
        r.close()


def test_a_page_with_a_hole_is_left_alone(on: None) -> None:
    """A range missing pages is not collapsed, so no memory is added (the kernel would fill the
    holes in); nor is one the process only read (the shared zero page), nor never touched."""
    r = Region(3)
    try:
        r.fill(0)
        r.fill(1, upto=HUGE // 2)  # half present
        _ = bytes(r.map[r.offset + 2 * HUGE : r.offset + 3 * HUGE])  # read only: the zero page
        present, kb = r.present(), r.huge_kb()
        assert present == (HUGE + HUGE // 2 + HUGE) // mmap.PAGESIZE or present < 1536
        found = hugepages.resident()
        assert r.pages[0] in found
        assert r.pages[1] not in found and r.pages[2] not in found
        collapse_or_skip(r.pages[:1])
        assert hugepages.collapse(r.pages[1:]) == 0
        assert r.huge_kb() - kb == HUGE // 1024
        assert r.present() == present  # no page added
    finally:
        r.close()


def test_excluded_memory_keeps_its_small_pages(on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hugepages, "_excluded", set())  # by address: not for the next tests
    with hugepages.excluded():
        r = Region(2)
        r.fill(0)
        r.fill(1)
    try:
        kb = r.huge_kb()
        assert set(r.pages) <= hugepages.resident()
        assert hugepages.collapse(r.pages) == 0
        assert r.huge_kb() == kb
    finally:
        r.close()


def test_the_background_pass_and_settle(on: None) -> None:
    r = Region(2)
    try:
        r.fill(0)
        r.fill(1)
        before, kb = r.digest(), r.huge_kb()
        assert hugepages.schedule(lambda: set(r.pages))
        assert hugepages.settle(60)
        if r.huge_kb() == kb:
            pytest.skip("this kernel does not collapse pages on request")
        assert r.huge_kb() - kb == 2 * HUGE // 1024
        assert r.digest() == before
    finally:
        r.close()


def test_a_kernel_before_6_1_is_left_alone(on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def release(text: str) -> None:
        fake = os.uname_result(("Linux", "host", text, "#1", "x86_64"))
        monkeypatch.setattr(hugepages.os, "uname", lambda: fake)

    release("5.15.0-91-generic")
    assert hugepages._kernel() == (5, 15)
    assert not hugepages.enabled()
    assert hugepages.resident() == frozenset()
    release("6.1rc3")
    assert hugepages._kernel() == (6, 1)
    assert hugepages.enabled()


def test_turned_off_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    r = Region(1)
    try:
        r.fill(0)
        kb = r.huge_kb()
        monkeypatch.setenv("NANOCAPTION_HUGE_PAGES", "0")
        assert not hugepages.enabled()
        assert hugepages.resident() == frozenset()
        assert not hugepages.schedule([r.pages[0]])
        assert hugepages.collapse([r.pages[0]]) == 0
        assert r.huge_kb() == kb
    finally:
        r.close()


def test_a_captioner_asks_from_its_second_image(
    on: None, tiny_bundle, monkeypatch: pytest.MonkeyPatch, captioner
) -> None:
    """Not at load nor during the first caption (the cold start), then once; captions as
    without."""
    from nanocaption_desktop.engine import Captioner

    asked: list[object] = []
    monkeypatch.setattr(hugepages, "schedule", lambda pages: asked.append(pages) or True)
    c = Captioner.load(tiny_bundle)
    pixels = c.prepare(Image.new("RGB", (50, 40), (120, 80, 40)))
    first = c.caption_pixels(pixels)
    assert asked == []
    second = c.caption_pixels(pixels)
    c.caption_pixels(pixels)
    assert len(asked) == 1 and callable(asked[0])
    pages = set(asked[0]())  # what became resident since the captioner was created
    assert pages <= hugepages.resident()
    assert first.token_ids == second.token_ids == captioner.caption_pixels(pixels).token_ids
