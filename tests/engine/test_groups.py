"""engine/groups.py: one group decodes while the other workers encode (issue 18). A fake
captioner records what runs at once: never more rows decoding than one group's, encoders beside
a decoding group, the stream's last group split over the workers, results in input order."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from nanocaption_desktop.engine.captioner_rows import Encoded
from nanocaption_desktop.engine.errors import Cancelled
from nanocaption_desktop.engine.groups import grouped_stream


class Fake:
    """Encodes an image into its number; decodes a group into "caption N" for each. The first
    group's decoding waits until an encoder has run beside it (or 30 s: then the test fails)."""

    def __init__(self, bad_encode: str = "", bad_group: str = "") -> None:
        self.lock = threading.Lock()
        self.rows_now = 0
        self.most_rows = 0
        self.groups: list[list[str]] = []
        self.encoded_beside = threading.Event()
        self.decoding = 0
        self.bad_encode, self.bad_group = bad_encode, bad_group

    def encode_rows(self, pixels: np.ndarray, *, source: str = "", cancel: Any = None) -> Any:
        if source == self.bad_encode:
            return "failed: " + source  # what a guarded captioner hands back
        with self.lock:
            if self.decoding:
                self.encoded_beside.set()
        return Encoded(pixels, source, 0.0)

    def decode_rows(self, encoded: list[Encoded], **_: Any) -> list[str]:
        with self.lock:
            first = not self.groups
            self.groups.append([e.source for e in encoded])
            self.decoding += 1
            self.rows_now += len(encoded)
            self.most_rows = max(self.most_rows, self.rows_now)
        try:
            if first:
                assert self.encoded_beside.wait(30), "no encoder ran beside the first group"
            if any(e.source == self.bad_group for e in encoded):
                raise ValueError("a broken group")
            return [f"caption {int(e.hidden[0])}" for e in encoded]
        finally:
            with self.lock:
                self.decoding -= 1
                self.rows_now -= len(encoded)


def items(n: int, gaps: tuple[int, ...] = ()) -> list[tuple[int, Any, str]]:
    return [(k, None if k in gaps else np.array([k]), f"img{k}") for k in range(n)]


def test_one_group_at_a_time_encoders_beside_it_and_the_tail_split() -> None:
    fake = Fake()
    stream = items(21, gaps=(5,))
    out = list(grouped_stream(fake, stream, workers=2, rows=8))
    assert [t for t, _ in out] == list(range(21))
    assert [c for _, c in out] == [None if k == 5 else f"caption {k}" for k in range(21)]
    sizes = [len(g) for g in fake.groups]
    assert sizes == [8, 8, 2, 2], sizes  # 20 images; the last 4 over both workers
    assert fake.most_rows <= 8  # never more image keys/values than one group's
    assert fake.encoded_beside.is_set()
    decoded = sorted(s for g in fake.groups for s in g)
    assert decoded == sorted(f"img{k}" for k in range(21) if k != 5)


def test_more_workers_decode_more_groups_but_never_more_rows_than_they_allow() -> None:
    fake = Fake()
    out = list(grouped_stream(fake, items(40), workers=4, rows=4))
    assert [c for _, c in out] == [f"caption {k}" for k in range(40)]
    assert fake.most_rows <= 2 * 4  # workers // 2 groups of 4


def test_a_failed_encoder_result_is_that_images_result_and_errors_come_in_turn() -> None:
    fake = Fake(bad_encode="img2")
    out = list(grouped_stream(fake, items(9), workers=2, rows=3))
    assert out[2] == (2, "failed: img2")
    assert [c for t, c in out if t != 2] == [f"caption {k}" for k in range(9) if k != 2]
    broken = Fake(bad_group="img4")
    got = []
    with pytest.raises(ValueError, match="a broken group"):
        for tag, cap in grouped_stream(broken, items(9), workers=2, rows=3):
            got.append((tag, cap))
    assert [t for t, _ in got] == [0, 1, 2]  # the groups before the broken one came out first


def test_a_cancel_ends_the_stream_quietly_after_what_finished() -> None:
    class Cancel:
        def __init__(self) -> None:
            self.flag = False

        def is_set(self) -> bool:
            return self.flag

    flag = Cancel()

    class Stopping(Fake):
        def decode_rows(self, encoded: list[Encoded], **kw: Any) -> list[str]:
            if len(self.groups) >= 1:
                flag.flag = True
                raise Cancelled()
            return super().decode_rows(encoded, **kw)

    fake = Stopping()
    fake.encoded_beside.set()  # the first group need not wait here
    out = list(grouped_stream(fake, items(30), workers=2, rows=4, cancel=flag))
    assert [t for t, _ in out] == [0, 1, 2, 3]
