"""JPEG container: the walker, extract, embed and the lossless check, on files built here."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from nanocaption_desktop.ground.errors import MetadataError
from nanocaption_desktop.metadata.containers import Change, DoesNotFit, jpeg, module_for
from nanocaption_desktop.metadata.containers.jpeg_parts import walk
from nanocaption_desktop.metadata.pixels import check_same_pixels

XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
    '<rdf:li xml:lang="x-default">{}</rdf:li></rdf:Alt></dc:description></rdf:Description>'
    '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def xmp(text: str) -> bytes:
    return XMP.format(text).encode("utf-8")


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def plain_jpeg(progressive: bool = False) -> bytes:
    buf = io.BytesIO()
    img = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    img.save(buf, "JPEG", quality=90, progressive=progressive)
    return buf.getvalue()


def with_segments(data: bytes, *segments: bytes, trailing: bytes = b"") -> bytes:
    """``data`` with segments inserted after SOI and APP0, and bytes after EOI."""
    layout = walk(data, "x")
    after = layout.segments[1].end if layout.segments[1].marker == 0xE0 else 2
    return data[:after] + b"".join(segments) + data[after:] + trailing


def test_module_for_sniffs_jpeg_and_refuses_others() -> None:
    assert module_for(plain_jpeg()) is jpeg
    assert module_for(b"GIF89a" + b"\0" * 20) is None
    assert module_for(b"BM" + b"\0" * 40) is None
    assert module_for(b"\0\0\0\x18ftypheic" + b"\0" * 20) is None


@pytest.mark.parametrize("progressive", [False, True])
def test_xmp_inserted_after_app0_then_replaced(progressive: bool) -> None:
    old = with_segments(plain_jpeg(progressive), trailing=b"TRAILER\xff\xd9")
    assert jpeg.extract(old).xmp is None
    new = jpeg.embed(old, Change(xmp=xmp("first")))
    jpeg.check_lossless(old, new)
    check_same_pixels(old, new, "x.jpg")
    assert jpeg.extract(new).xmp == xmp("first")
    assert new.endswith(b"TRAILER\xff\xd9")
    layout = walk(new, "x")
    assert [s.marker for s in layout.segments[:3]] == [0xD8, 0xE0, 0xE1]
    again = jpeg.embed(new, Change(xmp=xmp("secnd")))
    assert jpeg.extract(again).xmp == xmp("secnd")
    assert len(again) == len(new)  # replaced in place, not added
    with Image.open(io.BytesIO(again)) as img:
        assert b"secnd" in img.info["xmp"]


def test_xmp_too_large_does_not_fit() -> None:
    old = plain_jpeg()
    big = xmp("a" * (jpeg.MAX_XMP - len(xmp(""))))
    assert len(big) == jpeg.MAX_XMP
    jpeg.check_lossless(old, jpeg.embed(old, Change(xmp=big)))
    with pytest.raises(DoesNotFit):
        jpeg.embed(old, Change(xmp=big + b" "))


def test_fill_bytes_and_other_segments_copied() -> None:
    com = b"\xff\xff\xff" + segment(0xFE, b"a comment")
    icc = segment(0xE2, b"ICC_PROFILE\0\x01\x01" + bytes(range(256)))
    old = with_segments(plain_jpeg(), com, icc)
    new = jpeg.embed(old, Change(xmp=xmp("x")))
    assert com in new and icc in new
    jpeg.check_lossless(old, new)


def test_check_lossless_catches_a_changed_scan_and_a_changed_segment() -> None:
    old = with_segments(plain_jpeg(), segment(0xFE, b"comment"))
    new = jpeg.embed(old, Change(xmp=xmp("x")))
    bad_scan = bytearray(new)
    bad_scan[-10] ^= 0x01
    with pytest.raises(MetadataError, match="scan data"):
        jpeg.check_lossless(old, bytes(bad_scan))
    with pytest.raises(MetadataError, match="segment we do not own"):
        jpeg.check_lossless(old, new.replace(b"comment", b"COMMENT"))


def test_exif_description_added_then_changed_append_only() -> None:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x927C] = b"MAKERNOTE-BLOB" * 10  # stored in IFD0 here: it must not move
    Image.linear_gradient("L").save(buf, "JPEG", exif=exif.tobytes())
    old = buf.getvalue()
    assert jpeg.extract(old).exif_description is None
    new = jpeg.embed(old, Change(exif_description="A dog on a beach"))
    jpeg.check_lossless(old, new)
    assert jpeg.extract(new).exif_description == b"A dog on a beach"
    with Image.open(io.BytesIO(new)) as img:
        got = img.getexif()
        assert got[0x010E] == "A dog on a beach" and got[0x010F] == "Canon"
        assert got[0x927C] == b"MAKERNOTE-BLOB" * 10
    newer = jpeg.embed(new, Change(exif_description="Short"))
    jpeg.check_lossless(new, newer)
    assert jpeg.extract(newer).exif_description == b"Short"


def test_exif_description_non_ascii_needs_the_opt_in() -> None:
    old = plain_jpeg()
    with pytest.raises(MetadataError, match="ASCII only"):
        jpeg.embed(old, Change(exif_description="café"))
    new = jpeg.embed(old, Change(exif_description="café", exif_utf8=True))
    assert jpeg.extract(new).exif_description == "café".encode()
    jpeg.check_lossless(old, new)


def test_iim_created_only_when_asked_and_digest_kept() -> None:
    old = plain_jpeg()
    assert not jpeg.embed(old, Change(xmp=xmp("x"))).count(b"Photoshop 3.0")
    new = jpeg.embed(old, Change(iim_caption="Ünïcode " * 400))
    found = jpeg.extract(new)
    assert found.has_iim and found.iim_utf8
    assert found.iim_caption is not None and len(found.iim_caption) <= 2000
    found.iim_caption.decode("utf-8")  # cut at a character boundary
    jpeg.check_lossless(old, new)


@pytest.mark.parametrize(
    "junk",
    [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\x00", b"\xff\xd8\xff\xda\x00\x02abc", b"\x00" * 10],
)
def test_malformed_files_raise_metadata_error(junk: bytes) -> None:
    with pytest.raises(MetadataError):
        jpeg.extract(junk, "bad.jpg")


def test_cut_off_file_names_the_file() -> None:
    data = plain_jpeg()
    with pytest.raises(MetadataError, match="cut off") as e:
        jpeg.extract(data[:-2], "photo.jpg")
    assert "photo.jpg" in str(e.value)


def test_new_blocks_go_in_the_usual_order() -> None:
    """SOI, APP0 (JFIF), APP1 EXIF, APP1 XMP, APP13 Photoshop, then the tables."""
    old = plain_jpeg()
    new = jpeg.embed(old, Change(xmp=xmp("x"), exif_description="d", iim_caption="c"))
    jpeg.check_lossless(old, new)
    segments = walk(new, "x").segments
    heads = [new[s.payload_at : s.payload_at + 4] for s in segments[:5]]
    assert [s.marker for s in segments[:5]] == [0xD8, 0xE0, 0xE1, 0xE1, 0xED]
    assert heads[2:] == [b"Exif", b"http", b"Phot"]
