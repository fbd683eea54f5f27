"""A caption never depends on the images captioned with it: alone, in a folder, first or last,
parallel lanes or one after the other."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE

from nanocaption_desktop.engine.bundle import Bundle
from nanocaption_desktop.engine.captioner import Captioner
from nanocaption_desktop.engine.decoder import HoistedDecoder
from nanocaption_desktop.engine.pipeline import caption_stream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IMAGES = sorted((FIXTURES / "images").iterdir())


@pytest.fixture(scope="module")
def captioners(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Captioner]:
    dest = tmp_path_factory.mktemp("company") / "tiny"
    shutil.copytree(TINY_BUNDLE, dest, ignore=shutil.ignore_patterns("optimized"))
    return {threads: Captioner(Bundle.open(dest), threads=threads) for threads in (1, 2)}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("beams", [1, 3])
@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_stream_gives_each_image_its_own_caption(captioners, threads, beams, lanes):
    c = captioners[threads]
    pixels = [c.prepare(p) for p in IMAGES]
    alone = [c.caption_pixels(p, beams=beams).token_ids for p in pixels]
    for order in (list(range(len(IMAGES))), list(reversed(range(len(IMAGES))))):
        items = [(k, pixels[k], IMAGES[k].name) for k in order]
        out = list(caption_stream(c, items, beams=beams, lanes=lanes))
        assert [tag for tag, _ in out] == order  # input order
        for tag, cap in out:
            assert cap is not None and cap.ok and cap.source == IMAGES[tag].name
            assert cap.token_ids == alone[tag], IMAGES[tag].name


@pytest.mark.parametrize("lanes", [1, 2])
def test_first_or_last_in_a_folder_and_failures_pass_through(captioners, lanes):
    c = captioners[1]
    target = c.prepare(IMAGES[0])
    alone = c.caption_pixels(target).token_ids
    others = [(f"other{k}", c.prepare(p), "") for k, p in enumerate(IMAGES[1:])]
    first = list(c.caption_stream([("t", target, ""), *others]))
    last = list(c.caption_stream([*others, ("skipped", None, ""), ("t", target, "")]))
    assert dict(first)["t"].token_ids == alone
    assert dict(last)["t"].token_ids == alone
    assert dict(last)["skipped"] is None
    assert len(last) == len(others) + 2


def test_both_cores_strategies_are_chosen_from_the_session_threads(captioners):
    from nanocaption_desktop.engine.pipeline import lanes_for, session_threads
    from nanocaption_desktop.engine.sessions import physical_cores

    assert session_threads(captioners[1]) == 1
    assert lanes_for(captioners[1]) == physical_cores()
    assert session_threads(captioners[2]) == 2
    assert isinstance(captioners[1].decoder, HoistedDecoder)


@pytest.mark.parametrize("lanes", [1, 2])
def test_cancel_stops_the_stream_quietly(captioners, lanes):
    c = captioners[1]
    pixels = [c.prepare(p) for p in IMAGES]
    cancel = threading.Event()
    got = []
    for tag, _cap in caption_stream(
        c, [(k, p, "") for k, p in enumerate(pixels)], lanes=lanes, cancel=cancel
    ):
        got.append(tag)
        cancel.set()
    # no image starts after the cancel; captions already finished in other lanes are still
    # handed out (so a batch writes them), in order, and nothing else
    assert got == list(range(len(got)))
    assert len(got) <= (1 if lanes == 1 else 1 + 2 * lanes)
