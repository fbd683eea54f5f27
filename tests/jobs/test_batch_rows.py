"""A folder batch with ``rows``: groups go to the captioner's ``caption_rows``; a group that
raises is captioned again image by image, so only the image at fault fails (issue 18)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from batch_helpers import FakeCaptioner, make_images

from nanocaption_desktop.jobs import caption_folder


class Greedy:
    num_beams = 1

    def override(self, **_: Any) -> Greedy:
        return self


@dataclass
class RowsFake(FakeCaptioner):
    """A greedy fake that decodes groups; a group holding `bad` raises, and so does `bad` alone."""

    bad: str = ""
    groups: list[list[str]] = field(default_factory=list)
    settings: Any = field(default_factory=lambda: Greedy())

    def caption_pixels(self, pixels, *, source="", **kw):
        if source == self.bad:
            raise ValueError("this image breaks the decoder")
        return super().caption_pixels(pixels, source=source, **kw)

    def caption_rows(self, pixels, *, sources, max_new_tokens=None, cancel=None):
        self.groups.append(list(sources))
        if self.bad in sources:
            raise ValueError("a row broke the group")
        return [self.caption_pixels(p, source=s) for p, s in zip(pixels, sources, strict=True)]


def _alone(tmp_path: Path, count: int) -> dict[str, str]:
    """`count` images in tmp_path/photos, and each one's caption one row at a time."""
    make_images(tmp_path / "photos", count)
    results = caption_folder(tmp_path / "photos", csv=tmp_path / "a.csv", rows=1,
                             captioner=RowsFake())  # fmt: skip
    return {r.relpath: r.caption for r in results}


def test_groups_of_rows_and_one_bad_image_fails_alone(tmp_path: Path) -> None:
    alone = _alone(tmp_path, 7)
    fake = RowsFake(bad="img4.png")
    results = list(
        caption_folder(tmp_path / "photos", csv=tmp_path / "b.csv", rows=3, captioner=fake)
    )
    assert fake.groups and max(len(g) for g in fake.groups) == 3
    assert sorted(s for g in fake.groups for s in g) == sorted(alone)
    failed = [r.relpath for r in results if not r.ok]
    assert failed == ["img4.png"]
    assert "breaks the decoder" in (results[4].error or "")
    assert {r.relpath: r.caption for r in results if r.ok} == {
        k: v for k, v in alone.items() if k != "img4.png"
    }


def test_beams_never_go_to_caption_rows(tmp_path: Path) -> None:
    make_images(tmp_path / "photos", 4)
    fake = RowsFake()
    results = list(caption_folder(tmp_path / "photos", rows=4, beams=2, captioner=fake,
                                  sidecars="overwrite"))  # fmt: skip
    assert all(r.ok for r in results) and fake.groups == []
    assert np.isfinite([r.score for r in results]).all()


@dataclass
class GroupsFake(RowsFake):
    """Encodes and decodes apart (engine/groups.py): `bad` breaks its group and itself alone,
    `unreadable` breaks its encoder."""

    unreadable: str = ""

    def rows_decoder(self):
        return self  # a rows graph is there

    def encode_rows(self, pixels, *, source="", cancel=None):
        if source == self.unreadable:
            raise ValueError("this image breaks the encoder")
        from nanocaption_desktop.engine.captioner_rows import Encoded

        return Encoded(pixels, source, 0.0)

    def decode_rows(self, encoded, *, max_new_tokens=None, cancel=None):
        self.groups.append([e.source for e in encoded])
        if any(e.source == self.bad for e in encoded):
            raise ValueError("a row broke the group" if len(encoded) > 1 else "a bad row alone")
        return [self.caption_pixels(e.hidden, source=e.source) for e in encoded]


def test_groups_beside_the_encoders_fail_only_the_image_at_fault(tmp_path: Path) -> None:
    alone = _alone(tmp_path, 9)
    fake = GroupsFake(bad="img4.png", unreadable="img7.png")
    results = list(
        caption_folder(tmp_path / "photos", csv=tmp_path / "b.csv", rows=4, captioner=fake)
    )
    assert [r.relpath for r in results] == sorted(alone)  # in order
    failed = {r.relpath: r.error or "" for r in results if not r.ok}
    assert set(failed) == {"img4.png", "img7.png"}
    assert "a bad row alone" in failed["img4.png"]  # its group was decoded again one by one
    assert "breaks the encoder" in failed["img7.png"]
    assert ["img4.png"] in fake.groups and max(len(g) for g in fake.groups) == 4
    assert {r.relpath: r.caption for r in results if r.ok} == {
        k: v for k, v in alone.items() if k not in failed
    }
