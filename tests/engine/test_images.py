"""load_image: sources, modes, EXIF orientation, animations; every failure is an ImageError."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nanocaption_desktop.engine.errors import ImageError
from nanocaption_desktop.engine.images import allowed_formats, load_image, source_name, to_rgb

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def stored_pattern() -> np.ndarray:
    """3 wide × 2 high, six different colours: every flip and rotation gives a different array."""
    return np.array(
        [
            [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
            [[255, 255, 0], [0, 255, 255], [255, 0, 255]],
        ],
        dtype=np.uint8,
    )


# What a viewer shows for each EXIF orientation, written from the EXIF specification's table.
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored horizontally
    3: lambda a: a[::-1, ::-1],  # rotated 180°
    4: lambda a: a[::-1, :],  # mirrored vertically
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the top-left/bottom-right diagonal
    6: lambda a: a[::-1].transpose(1, 0, 2),  # needs 90° clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the other diagonal
    8: lambda a: a.transpose(1, 0, 2)[::-1],  # needs 90° counter-clockwise
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_the_upright_pixels(orientation: int) -> None:
    stored = stored_pattern()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(stored), "PNG", exif=exif)
    got = np.asarray(load_image(data))
    want = UPRIGHT[orientation](stored)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_exif_orientation_in_a_jpeg_swaps_the_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.new("RGB", (40, 20), (10, 200, 30)), "JPEG", exif=exif)
    assert load_image(data).size == (20, 40)


def test_broken_exif_block_keeps_the_image(caplog: pytest.LogCaptureFixture) -> None:
    data = encode(Image.new("RGB", (8, 6), (1, 2, 3)), "JPEG", exif=b"Exif\x00\x00MM\x00*garbage")
    assert load_image(data).size == (8, 6)


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("RGB", (10, 20, 30), (10, 20, 30)),
        ("L", 128, (128, 128, 128)),
        ("1", 1, (255, 255, 255)),
        ("RGBA", (0, 0, 0, 0), (255, 255, 255)),  # transparent: white background
        ("RGBA", (0, 0, 0, 255), (0, 0, 0)),
        ("RGBA", (0, 0, 0, 128), (127, 127, 127)),
        ("LA", (0, 0), (255, 255, 255)),
        ("LA", (50, 255), (50, 50, 50)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("YCbCr", (255, 128, 128), (255, 255, 255)),
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 257 * 100, (100, 100, 100)),
        ("I", 257 * 200, (200, 200, 200)),
        ("F", 0.5, (128, 128, 128)),
        ("La", (64, 128), (191, 191, 191)),  # premultiplied: LA (127, 128) over white
        ("La", (0, 0), (255, 255, 255)),
        ("RGBa", (64, 32, 16, 128), (191, 159, 143)),
        ("PA", (0, 0), (255, 255, 255)),
    ],
)
def test_any_mode_becomes_rgb(mode: str, colour: object, expected: tuple[int, int, int]) -> None:
    img = load_image(Image.new(mode, (5, 4), colour))  # type: ignore[arg-type]
    assert img.mode == "RGB" and img.size == (5, 4)
    assert tuple(np.asarray(img)[2, 3]) == expected


def test_palette_with_transparency_and_rgb_colour_key() -> None:
    pal = Image.new("P", (4, 2), 0)
    pal.putpalette([0, 0, 255, 0, 255, 0] + [0] * 762)
    pal.paste(1, (0, 0, 2, 2))
    got = np.asarray(load_image(encode(pal, "PNG", transparency=1)))
    assert tuple(got[0, 0]) == (255, 255, 255) and tuple(got[0, 3]) == (0, 0, 255)
    key = encode(Image.new("RGB", (3, 3), (9, 9, 9)), "PNG", transparency=(9, 9, 9))
    assert tuple(np.asarray(load_image(key))[1, 1]) == (255, 255, 255)


def test_sixteen_bit_png_keeps_its_tonal_range() -> None:
    ramp = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    got = np.asarray(load_image(encode(Image.fromarray(ramp), "PNG")))[0, :, 0]
    np.testing.assert_array_equal(got, np.rint(ramp[0] / 257).astype(np.uint8))


def test_float_image_out_of_range_is_stretched() -> None:
    arr = np.array([[-2.0, 0.0, 2.0, np.nan]], dtype=np.float32)
    got = np.asarray(to_rgb(Image.fromarray(arr)))[0, :, 0]
    assert got[0] == 0 and got[2] == 255 and got[1] in (127, 128)


def test_animation_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (6, 6), c) for c in ((0, 0, 255), (255, 0, 0))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40)
    assert tuple(np.asarray(load_image(data))[0, 0]) == (0, 0, 255)
    webp = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert tuple(np.asarray(load_image(webp))[0, 0]) == (0, 0, 255)


def test_sources_path_bytes_file_object_and_pil(tmp_path: Path) -> None:
    path = FIXTURES / "sun_and_grass.jpg"
    data = path.read_bytes()
    ref = np.asarray(load_image(path))
    for source in (str(path), data, bytearray(data), memoryview(data), io.BytesIO(data)):
        np.testing.assert_array_equal(np.asarray(load_image(source)), ref)
    with path.open("rb") as f:
        np.testing.assert_array_equal(np.asarray(load_image(f)), ref)
        assert not f.closed  # the caller's file stays the caller's
    with Image.open(path) as img:
        np.testing.assert_array_equal(np.asarray(load_image(img)), ref)


def test_a_callers_pil_image_is_not_modified() -> None:
    img = Image.new("RGBA", (3, 3), (0, 0, 0, 0))
    load_image(img)
    assert img.mode == "RGBA" and img.getpixel((1, 1)) == (0, 0, 0, 0)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir()))
def test_fixture_images_load(name: str) -> None:
    img = load_image(FIXTURES / name)
    assert img.mode == "RGB" and min(img.size) > 0


def test_source_names() -> None:
    assert source_name(b"abc") == "<bytes>"
    assert source_name("/a/b.jpg") == "/a/b.jpg"
    assert source_name(Path("x.png")) == "x.png"
    assert source_name(io.BytesIO(b"")) == "<file>"
    assert source_name(Image.new("RGB", (1, 1))) == "<image>"
    assert source_name("caf\udce9.jpg") == "caf\\xe9.jpg"  # a non-UTF-8 name stays printable


def test_error_names_the_source_and_reason() -> None:
    with pytest.raises(ImageError) as err:
        load_image(b"GIF89a nonsense", name="holiday.gif")
    assert err.value.source == "holiday.gif"
    assert str(err.value) == f"holiday.gif: {err.value.reason}"
    with pytest.raises(ImageError, match="empty data"):
        load_image(b"")
    with pytest.raises(ImageError, match="cannot read an image from a int"):
        load_image(42)  # type: ignore[arg-type]


def test_allow_list() -> None:
    formats = allowed_formats()
    assert formats[:6] == ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
    assert not {"EPS", "PDF", "PSD", "ICO", "PPM"} & set(formats)


@pytest.mark.skipif("AVIF" not in allowed_formats(), reason="this Pillow build has no AVIF")
def test_avif_when_the_build_reads_it() -> None:
    img = load_image(encode(Image.new("RGB", (20, 10), (200, 10, 10)), "AVIF", quality=90))
    assert img.size == (20, 10)
    r, g, b = img.getpixel((5, 5))  # type: ignore[misc]
    assert r > 180 and g < 40 and b < 40


def test_camera_multi_picture_jpeg_gives_the_main_image() -> None:
    main, extra = Image.new("RGB", (16, 8), (0, 0, 250)), Image.new("RGB", (16, 8), (250, 0, 0))
    data = encode(main, "MPO", save_all=True, append_images=[extra])
    r, g, b = load_image(data).getpixel((3, 3))  # type: ignore[misc]
    assert b > 200 and r < 40


def test_previews_may_decode_a_large_jpeg_at_a_smaller_scale(tmp_path):
    """`at_least` (previews only) lets a JPEG decode at a fraction of its size, never below the
    asked size; without it, the full image is decoded (what captioning sees)."""
    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 255, (1800, 2400, 3), dtype=np.uint8))
    data = io.BytesIO()
    big.save(data, "JPEG", quality=90)
    path = tmp_path / "big.jpg"
    path.write_bytes(data.getvalue())
    assert load_image(path).size == (2400, 1800)
    small = load_image(path, at_least=400)
    assert min(small.size) >= 400 and small.size[0] < 2400 and small.mode == "RGB"
    assert load_image(data.getvalue(), at_least=400).size == small.size
    png = tmp_path / "big.png"
    big.save(png)
    assert load_image(png, at_least=400).size == (2400, 1800)  # only JPEG scales in decoding


# F19: every Pillow mode converts (or fails clearly), the same whichever way the image comes.
EVERY_MODE = [
    "1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB",
    "HSV", "I", "I;16", "I;16L", "I;16B", "I;16N", "F",
]  # fmt: skip


def random_image(mode: str, size: tuple[int, int] = (7, 5)) -> Image.Image:
    n = len(Image.new(mode, size).tobytes())
    data = np.random.default_rng(len(mode) * 31 + ord(mode[-1])).integers(0, 256, n, np.uint8)
    return Image.frombytes(mode, size, data.tobytes())


@pytest.mark.parametrize("mode", EVERY_MODE)
def test_every_mode_gives_rgb_from_every_kind_of_source(mode: str, tmp_path: Path) -> None:
    img = random_image(mode)
    want = np.asarray(load_image(img))
    assert want.shape == (5, 7, 3) and want.dtype == np.uint8
    saved = 0
    for fmt in ("PNG", "TIFF", "WEBP"):
        path = tmp_path / f"x.{fmt.lower()}"
        try:
            img.save(path, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        except (OSError, ValueError, KeyError):
            continue  # this format cannot store this mode
        saved += 1
        data = path.read_bytes()
        with Image.open(path) as reopened:
            as_pil = np.asarray(load_image(reopened))
        for source in (path, str(path), data, io.BytesIO(data)):
            got = np.asarray(load_image(source))
            np.testing.assert_array_equal(got, as_pil, err_msg=f"{mode} {fmt} {type(source)}")
    assert saved or mode == "La", f"no format stores {mode}"  # La lives in memory only


@pytest.mark.parametrize("size", [(0, 0), (0, 5), (5, 0)])
def test_a_pil_image_without_pixels_is_refused_like_a_file(size: tuple[int, int]) -> None:
    with pytest.raises(ImageError, match=r"^<image>: the image has no pixels"):
        load_image(Image.new("RGB", size))
