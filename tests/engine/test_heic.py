"""HEIC/HEIF photos (every iPhone photo) are read through pi-heif (issue 16).

pi-heif is the decode-only build of pillow-heif: libheif + libde265 (LGPL-3.0, dynamically
linked), no x265 (GPL-2.0, which pillow-heif's wheels bundle). The fixture photo.heic (96×64)
was made with libheif's heif-enc (tests/fixtures/heic/make.sh), since pi-heif cannot encode.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from fixture_paths import FIXTURES, IMAGES_DIR
from PIL import Image

from nanocaption_desktop.engine.errors import ImageError
from nanocaption_desktop.engine.images import allowed_formats, load_image

HEIC = FIXTURES / "heic" / "photo.heic"


def test_a_heic_photo_decodes_to_the_picture_it_holds():
    assert "HEIF" in allowed_formats()
    img = load_image(HEIC)
    assert img.mode == "RGB" and img.size == (96, 64)
    with Image.open(IMAGES_DIR / "sun_and_grass.jpg") as src:
        want = np.asarray(src.convert("RGB").resize((96, 64), Image.Resampling.BILINEAR), float)
    got = np.asarray(img, float)
    assert np.abs(got - want).mean() < 12  # the same picture, through a lossy codec twice
    assert load_image(HEIC.read_bytes()).size == (96, 64)


def test_a_heic_photo_captions_in_the_decode_pool(captioner):
    from nanocaption_desktop.engine.isolation import DecodePool

    with DecodePool(captioner.preprocess_config) as pool:
        pixels = pool.prepare(HEIC)
    np.testing.assert_array_equal(pixels, captioner.prepare(HEIC))
    assert captioner.caption(HEIC).text


def _ftyp(brand: bytes) -> bytes:
    box = b"ftyp" + brand + b"\x00\x00\x00\x00" + brand + b"mif1"
    return len(box + b"1234").to_bytes(4, "big") + box + b"\x00" * 40


@pytest.mark.parametrize(("brand", "fmt"), [(b"heic", "HEIF"), (b"avif", "AVIF")])
def test_a_broken_heif_or_avif_names_its_own_format(brand: bytes, fmt: str):
    """A damaged file names the format it claims; AVIF is not blamed for a HEIC (and a format
    this build reads is never called unsupported)."""
    with pytest.raises(ImageError) as err:
        load_image(io.BytesIO(_ftyp(brand)), name=f"x.{fmt.lower()}")
    reason = err.value.reason
    other = "AVIF" if fmt == "HEIF" else "HEIF"
    assert fmt in reason and other not in reason, reason
    if fmt in allowed_formats():
        assert "unsupported" not in reason, reason
