"""The stacked image tensors that the rows decoder keeps from one group to the next
(engine/rows.py `_Stacks`): reused, shared out as ranges of rows, let go of at a stream's end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fixture_paths import IMAGES_DIR

from nanocaption_desktop.engine import Captioner
from nanocaption_desktop.engine.pipeline import caption_stream
from nanocaption_desktop.engine.rows import _Stacks

KINDS = [((2, 3), np.dtype(np.float32)), None, ((4,), np.dtype(np.float32))]


def test_a_group_reuses_the_arrays_of_the_group_before() -> None:
    stacks = _Stacks()
    first = stacks.take(8, KINDS)
    assert first[1] is None and first[0].shape == (8, 2, 3) and first[2].shape == (8, 4)
    first[0][:] = 7.0
    stacks.give(first)
    again = stacks.take(8, KINDS)
    assert np.shares_memory(again[0], first[0]) and np.shares_memory(again[2], first[2])
    assert again[0].flags.c_contiguous


def test_the_halves_of_a_split_group_take_disjoint_rows_of_the_same_arrays() -> None:
    stacks = _Stacks()
    stacks.give(stacks.take(8, KINDS))
    a, b = stacks.take(4, KINDS), stacks.take(4, KINDS)
    for x, y in ((a[0], b[0]), (a[2], b[2])):
        assert x.base is y.base is not None  # views of the kept arrays
        assert not np.shares_memory(x, y)
        assert x.flags.c_contiguous and y.flags.c_contiguous
    third = stacks.take(1, KINDS)  # no row left: arrays of its own
    assert third[0].base is None and third[0].shape == (1, 2, 3)
    stacks.give(a)
    fourth = stacks.take(3, KINDS)  # the first half's rows are free again
    assert np.shares_memory(fourth[0], a[0]) and not np.shares_memory(fourth[0], b[0])


def test_other_shapes_or_a_larger_group_get_arrays_that_fit() -> None:
    stacks = _Stacks()
    stacks.give(stacks.take(2, KINDS))
    bigger = stacks.take(5, KINDS)  # nothing handed out: the kept arrays grow
    assert bigger[0].shape == (5, 2, 3)
    other = [((9,), np.dtype(np.float32))]
    mine = stacks.take(2, other)  # another model's shapes while a range is out: its own
    assert mine[0].shape == (2, 9) and mine[0].base is None
    stacks.give(bigger)
    stacks.clear()
    fresh = stacks.take(5, KINDS)
    assert not np.shares_memory(fresh[0], bigger[0])
    stacks.give(bigger)  # a range handed out before `clear` comes back harmlessly
    assert stacks.take(5, KINDS)[0].base is None  # `fresh` still holds the kept rows


def test_a_stream_of_groups_lets_go_of_its_arrays_and_captions_stay_as_alone(
    bundle: Path,
) -> None:
    cap = Captioner.load(bundle, threads=1)
    rows = cap.rows_decoder()
    assert rows is not None
    pixels = [cap.prepare(p) for p in sorted(IMAGES_DIR.iterdir())[:3]] * 3  # 9 images
    alone = [cap.caption_pixels(p, beams=1, max_new_tokens=10).token_ids for p in pixels]
    taken: list[int] = []
    take = rows._stacks.take

    def counting(count: int, kinds: list) -> list:
        out = take(count, kinds)
        taken.append(sum(isinstance(a, np.ndarray) and a.base is not None for a in out))
        return out

    rows._stacks.take = counting  # type: ignore[method-assign]
    items = [(k, p, f"img{k}") for k, p in enumerate(pixels)]
    out = list(caption_stream(cap, items, beams=1, max_new_tokens=10, rows=2, lanes=2))
    assert [c.token_ids for _, c in out] == alone
    assert len(taken) >= 3 and sum(n > 0 for n in taken) >= 2  # later groups reused arrays
    assert rows._stacks._arrays == [] and rows._stacks._taken == {}  # let go at the end
