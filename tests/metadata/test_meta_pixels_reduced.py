"""The JPEG pixel check at 1/8 scale (issue 14's integration): it still refuses a new file that
does not decode or decodes differently, and write_alt_text uses it for JPEG only."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from fixture_paths import IMAGES_DIR
from PIL import Image

from nanocaption_desktop.ground.errors import MetadataError
from nanocaption_desktop.metadata import pixels, write_alt_text


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_reduced_check_refuses_what_the_full_one_refuses() -> None:
    old = jpeg((10, 200, 30))
    pixels.check_same_pixels(old, old, "a.jpg", reduced=True)
    with pytest.raises(MetadataError, match="different pixels"):
        pixels.check_same_pixels(old, jpeg((200, 10, 30)), "a.jpg", reduced=True)
    with pytest.raises(MetadataError, match="decodes as|does not decode"):
        pixels.check_same_pixels(old, old[: len(old) // 3], "a.jpg", reduced=True)


def test_reduced_check_decodes_at_an_eighth(monkeypatch: pytest.MonkeyPatch) -> None:
    data = jpeg((1, 2, 3), (1600, 1200))
    sizes: list[tuple[int, int]] = []
    real = Image.Image.load

    def load(self: Image.Image):  # type: ignore[no-untyped-def]
        result = real(self)
        sizes.append(self.size)
        return result

    monkeypatch.setattr(Image.Image, "load", load)
    pixels.check_same_pixels(data, data, "a.jpg", reduced=True)
    assert set(sizes) == {(200, 150)}


@pytest.mark.parametrize(
    ("name", "reduced"), [("sun_and_grass.jpg", True), ("gradient.png", False)]
)
def test_write_uses_the_reduced_check_for_jpeg_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, reduced: bool
) -> None:
    seen: list[bool] = []
    real = pixels.check_same_pixels

    def spy(old: bytes, new: bytes, label: str, *, reduced: bool = False) -> None:
        seen.append(reduced)
        real(old, new, label, reduced=reduced)

    monkeypatch.setattr(pixels, "check_same_pixels", spy)
    photo = Path(shutil.copy(IMAGES_DIR / name, tmp_path / name))
    assert write_alt_text(photo, "a meadow").where == "file"
    assert seen == [reduced]
