"""Folder mode gives memory back (engine/memory.py, issue 18): glibc's mmap threshold fixed
once per process unless the user set one, and the folder's sessions open without
onnxruntime's arena, every caption the same."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from pathlib import Path

import pytest
from fixture_paths import IMAGES_DIR

from nanocaption_desktop.engine import Captioner, memory


def _glibc() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallopt")
    except OSError:
        return False


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """A process where the threshold was never set; mallopt recorded, not called."""
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(memory, "_done", [])
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)

    class FakeLibc:
        def __init__(self, _name: str) -> None:
            self.mallopt = self._mallopt

        @staticmethod
        def _mallopt(param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(memory.ctypes, "CDLL", FakeLibc)
    return calls


@pytest.mark.skipif(not _glibc(), reason="glibc only")
def test_the_threshold_is_set_once(fresh: list[tuple[int, int]]) -> None:
    assert memory.return_large_blocks() is True
    assert memory.return_large_blocks() is True
    assert fresh == [(-3, memory.MMAP_THRESHOLD)]  # M_MMAP_THRESHOLD, once


@pytest.mark.parametrize(
    "name, value",
    [("MALLOC_MMAP_THRESHOLD_", "65536"), ("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=4096")],
)
def test_a_threshold_the_user_set_is_kept(
    fresh: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    assert memory.return_large_blocks() is False
    assert fresh == []


def test_folder_mode_encoder_has_no_arena_and_the_same_captions(bundle: Path) -> None:
    plain = Captioner.load(bundle, threads=1)
    rows = Captioner.load(bundle, threads=1, rows_graph=True)
    arena = [s.get_session_options().enable_cpu_mem_arena for s in _sessions(plain)]
    assert arena == [True, True, True]
    # the rows graph keeps its arena (10% faster steps at 8 rows for about 10 MB more), and so
    # does the cross graph (8 images 25.4 -> 21.2 ms each for 3 MB more)
    assert [s.get_session_options().enable_cpu_mem_arena for s in _sessions(rows)] == [
        False,
        True,
        True,
    ]
    pixels = [rows.prepare(p) for p in sorted(IMAGES_DIR.iterdir())]
    want = [plain.caption_pixels(p, beams=1, max_new_tokens=12).token_ids for p in pixels]
    # two groups: the second writes its first image's keys/values straight into the stack too
    first = rows.caption_rows(pixels[:3], sources=["a", "b", "c"], max_new_tokens=12)
    found = rows.rows_decoder()
    assert found is not None and found._shapes  # the shapes the second group uses
    second = rows.caption_rows(pixels[2:6], sources=["c", "d", "e", "f"], max_new_tokens=12)
    assert [c.token_ids for c in first] == want[:3]
    assert [c.token_ids for c in second] == want[2:6]


def _sessions(c: Captioner) -> list:
    return [c.encoder, c.decoder.cross, c.decoder.step]


def test_give_back_trims_the_heaps_only_where_folder_mode_set_the_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trimmed: list[int] = []

    class FakeLibc:
        def __init__(self, _name: str) -> None:
            self.malloc_trim = self._trim

        @staticmethod
        def _trim(pad: int) -> int:
            trimmed.append(pad)
            return 1

    monkeypatch.setattr(memory.ctypes, "CDLL", FakeLibc)
    monkeypatch.setattr(memory, "_done", [])
    memory.give_back()  # the threshold was never set here: not folder mode, nothing trimmed
    monkeypatch.setattr(memory, "_done", [False])
    memory.give_back()  # not glibc, or the user's own setting: nothing either
    assert trimmed == []
    monkeypatch.setattr(memory, "_done", [True])
    memory.give_back()
    assert trimmed == [0]
