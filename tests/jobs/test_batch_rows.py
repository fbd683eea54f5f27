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


def test_groups_of_rows_and_one_bad_image_fails_alone(tmp_path: Path) -> None:
    make_images(tmp_path / "photos", 7)
    alone = {
        r.relpath: r.caption
        for r in caption_folder(tmp_path / "photos", csv=tmp_path / "a.csv", rows=1,
                                captioner=RowsFake())
    }  # fmt: skip
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
