"""PNG, WebP, TIFF, IIM and the pixel check: the cases the ExifTool oracle does not reach."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from make_meta_fixtures import ifd, packet, png_chunk, png_with_xmp_after_idat, tiff_mm, webp
from PIL import Image

from nanocaption_desktop.ground.errors import MetadataError
from nanocaption_desktop.metadata.containers import Change, iim, module_for, png, tiff, tiffblock
from nanocaption_desktop.metadata.containers import webp as webp_module
from nanocaption_desktop.metadata.pixels import check_same_pixels


def _png_types(data: bytes) -> list[bytes]:
    return [c.type for c in png.walk(data)[0]]


def test_png_xmp_after_idat_moves_before_it() -> None:
    old = png_with_xmp_after_idat()
    assert png.extract(old).xmp == packet("after IDAT")
    new = png.embed(old, Change(xmp=packet("new")))
    png.check_lossless(old, new)
    check_same_pixels(old, new, "x.png")
    types = _png_types(new)
    assert types.count(b"iTXt") == 1 and types.index(b"iTXt") < types.index(b"IDAT")
    assert png.extract(new).xmp == packet("new")
    again = png.embed(new, Change(xmp=packet("newer")))
    assert _png_types(again) == types  # replaced where it was
    with Image.open(io.BytesIO(again)) as img:
        assert b"newer" in img.info["xmp"]


def test_png_descriptions_from_all_three_text_chunks() -> None:
    base = png_with_xmp_after_idat()
    ztxt = png_chunk(b"zTXt", b"Description\0\0" + zlib.compress("zipped é".encode("latin-1")))
    itxt = png_chunk(b"iTXt", b"Description\0\x01\0de\0\0" + zlib.compress("übersetzt".encode()))
    xmp = png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\x01\0\0\0" + zlib.compress(packet("z")))
    at = base.index(b"IDAT") - 4
    data = base[:at] + ztxt + itxt + xmp + base[at:]
    found = png.extract(data)
    assert found.png_descriptions == ("zipped é", "übersetzt", "a text chunk description")
    assert found.xmp == packet("z")  # the first XMP chunk (compressed) is the one read
    assert found.exif_description == b"OLYMPUS DIGITAL CAMERA"


def test_png_exif_only_changed_when_an_exif_chunk_exists() -> None:
    old = png_with_xmp_after_idat()
    new = png.embed(old, Change(exif_description="New"))
    png.check_lossless(old, new)
    with Image.open(io.BytesIO(new)) as img:
        assert img.getexif()[0x010E] == "New" and img.getexif()[0x010F] == "Canon"
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    plain = buf.getvalue()
    assert png.embed(plain, Change(exif_description="New")) == plain


def test_png_bad_crc_is_named() -> None:
    data = bytearray(png_with_xmp_after_idat())
    data[40] ^= 0xFF
    with pytest.raises(MetadataError, match="bad CRC") as e:
        png.extract(bytes(data), "holiday.png")
    assert str(e.value).startswith("holiday.png: PNG")


def test_png_check_lossless_catches_a_changed_idat() -> None:
    old = png_with_xmp_after_idat()
    new = bytearray(png.embed(old, Change(xmp=packet("n"))))
    chunks, _ = png.walk(bytes(new))
    idat = next(c for c in chunks if c.type == b"IDAT")
    body = bytearray(idat.data)
    body[-5] ^= 1
    new[idat.start : idat.end] = png_chunk(b"IDAT", bytes(body))
    with pytest.raises(MetadataError, match="IDAT"):
        png.check_lossless(old, bytes(new))


@pytest.mark.parametrize("kind", ["lossy", "lossless", "alpha", "extended"])
def test_webp_riff_size_canvas_and_padding(kind: str) -> None:
    old = webp(kind)
    odd = packet("odd", 1 - len(packet("odd", 0)) % 2)
    assert len(odd) % 2 == 1
    new = webp_module.embed(old, Change(xmp=odd))
    assert struct.unpack_from("<I", new, 4)[0] == len(new) - 8
    chunks, _ = webp_module.walk(new)
    assert chunks[0].fourcc == b"VP8X" and chunks[-1].fourcc == b"XMP "
    assert (chunks[-1].end - chunks[-1].start) % 2 == 0  # padded
    canvas = chunks[0].data
    w = int.from_bytes(canvas[4:7], "little") + 1
    h = int.from_bytes(canvas[7:10], "little") + 1
    with Image.open(io.BytesIO(new)) as img:
        assert img.size == (w, h)
        assert b"odd" in img.info["xmp"]
    webp_module.check_lossless(old, new)
    check_same_pixels(old, new, "x.webp")
    assert webp_module.embed(new, Change(xmp=packet("two"))).count(b"XMP ") == 1


def test_webp_check_lossless_catches_a_changed_bitstream() -> None:
    old = webp("lossy")
    new = bytearray(webp_module.embed(old, Change(xmp=packet("n"))))
    new[40] ^= 1
    with pytest.raises(MetadataError, match="image chunk"):
        webp_module.check_lossless(old, bytes(new))


def test_tiff_append_only_and_its_check() -> None:
    old = tiff_mm()
    new = tiff.embed(old, Change(xmp=packet("t"), exif_description="new", iim_caption="c"))
    assert new[8 : len(old)] == old[8:] and new[:4] == old[:4]
    tiff.check_lossless(old, new)
    check_same_pixels(old, new, "x.tif")
    found = tiff.extract(new)
    assert found.xmp == packet("t") and found.exif_description == b"new" and found.iim_utf8
    moved = bytearray(new)
    moved[20] ^= 1
    with pytest.raises(MetadataError, match="append-only"):
        tiff.check_lossless(old, bytes(moved))


def test_raw_and_other_formats_go_to_sidecars() -> None:
    dng = b"II*\0\x08\0\0\0" + ifd([(50706, 1, b"\x01\x04\0\0")], 8, "<")
    cr2 = b"II*\0\x10\0\0\0CR\x02\0" + b"\0" * 20
    for data in (dng, cr2, b"\0\0\0\x1cftypavif", b"GIF87a....", b"BM...."):
        assert module_for(data) is None


def test_tiff_duplicate_tags_are_all_kept() -> None:
    block = b"II*\0\x08\0\0\0" + ifd([(0x010F, 2, b"A\0"), (0x010F, 2, b"B\0")], 8, "<")
    new = tiffblock.set_tags(block, {270: (2, b"text\0")}, "x", "EXIF")
    _, table = tiffblock.ifd0(new, "x")
    assert [e.tag for e in table.entries] == [270, 0x010F, 0x010F]


def test_iim_caption_cut_at_a_character_and_repeats_dropped() -> None:
    assert iim.cut_utf8("é" * 1500) == ("é" * 1000).encode()
    assert iim.cut_utf8("a" + "é" * 1500) == ("a" + "é" * 999).encode()
    two = iim.write_datasets([iim.Dataset(2, 120, b"one"), iim.Dataset(2, 120, b"two")])
    datasets, _ = iim.read_datasets(iim.set_caption(two, "new", "x"), "x")
    assert [(d.record, d.number, d.value) for d in datasets] == [
        (1, 90, iim.UTF8_MARK),
        (2, 120, b"new"),
    ]
    big = iim.write_datasets([iim.Dataset(2, 202, b"\0" * 40_000)])  # an extended length
    assert iim.read_datasets(big, "x")[0] == [iim.Dataset(2, 202, b"\0" * 40_000)]


def test_pixels_differ_undecodable_and_bomb(monkeypatch: pytest.MonkeyPatch) -> None:
    def png_of(value: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (value, 0, 0)).save(buf, "PNG")
        return buf.getvalue()

    with pytest.raises(MetadataError, match="different pixels"):
        check_same_pixels(png_of(1), png_of(2), "a.png")
    with pytest.raises(MetadataError, match="does not decode"):
        check_same_pixels(png_of(1), png_of(1)[:60], "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(MetadataError, match="pixel limit") as e:
        check_same_pixels(png_of(1), png_of(1), "bomb.png")
    assert str(e.value).startswith("bomb.png:")


def test_jpeg_check_catches_a_stale_iptc_digest_and_a_lost_dataset() -> None:
    from make_meta_fixtures import jpeg as make_jpeg

    from nanocaption_desktop.metadata.containers import jpeg

    old = make_jpeg()
    new = jpeg.embed(old, Change(iim_caption="caption"))
    digest = iim.make_resource(iim.DIGEST_RESOURCE, b"\0" * 16).raw
    start = new.index(b"8BIM\x04\x25")
    stale = new[:start] + digest + new[start + len(digest) :]
    with pytest.raises(MetadataError, match="digest"):
        jpeg.check_lossless(old, stale)
    keyworded = jpeg.embed(old, Change(iim_caption="c")).replace(b"\x1c\x02\x78", b"\x1c\x02\x19")
    with pytest.raises(MetadataError):
        jpeg.check_lossless(new, keyworded)
