"""Every container, checked by ExifTool and Exiv2: our fields read back in both, every other tag
is unchanged, the pixels are the same, the JPEG scan data is byte-identical, the IPTC digest is
current. The XMP packet is a minimal one built here (the merge is the XMP module's job)."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from make_meta_fixtures import packet
from PIL import Image

from nanocaption_desktop.metadata.containers import Change, DoesNotFit, jpeg, module_for
from nanocaption_desktop.metadata.containers.jpeg_parts import walk
from nanocaption_desktop.metadata.pixels import check_same_pixels

ALT = "Ein Hund läuft am Strand – 東京 «test»"
ASCII_DESCRIPTION = "A dog runs on a beach"
IIM_FORMATS = ("jpeg", "tiff")
#: Fields we own, and what changes with any rewrite of a file (names, sizes, dates).
OWNED = {
    "IFD0:ImageDescription",
    "IPTC:Caption-Abstract",
    "IPTC:CodedCharacterSet",
    "IPTC:EnvelopeRecordVersion",
    "IPTC:ApplicationRecordVersion",
    "Photoshop:IPTCDigest",
    "File:CurrentIPTCDigest",
    "SourceFile",
}
#: WebP's VP8X flags (checked on their own: XMP is added, nothing else changes).
VP8X_FIELDS = {"RIFF:WebP_Flags"}
FIXTURES = [
    "canon.jpg",
    "nikon.jpg",
    "sony.jpg",
    "nikon_mm.jpg",
    "progressive_trailing.jpg",
    "utf16_xmp.jpg",
    "big_xmp.jpg",
    "xmp_after_idat.png",
    "lossy.webp",
    "lossless.webp",
    "alpha.webp",
    "extended.webp",
    "ii.tif",
    "mm.tif",
]


def exiftool(path: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", *args, str(path)], check=True, capture_output=True
    )
    return dict(json.loads(out.stdout)[0])


def exiv2(path: Path) -> str:
    out = subprocess.run(["exiv2", "-pa", str(path)], capture_output=True)
    return out.stdout.decode("utf-8", errors="replace")


def _kept(tags: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in tags.items()
        if k not in OWNED
        and k not in VP8X_FIELDS
        and not k.startswith(("XMP", "Composite:", "System:"))
    }


def _packet(text: str, found: Any) -> bytes:
    """Our test packet, naming the file's ExtendedXMP as the XMP merge does."""
    guid = re.search(rb'HasExtendedXMP[=>"\']+([0-9A-F]{32})', found.xmp or b"")
    return packet(text, extended=guid.group(1).decode() if guid else None)


def _change(found: Any, fmt: str) -> Change:
    return Change(
        xmp=_packet(ALT, found),
        exif_description=ASCII_DESCRIPTION if found.has_exif else None,
        iim_caption=ALT if fmt in IIM_FORMATS else None,
    )


def _check_webp_flags(
    old: bytes,
    before: dict[str, Any],
    after: dict[str, Any],
    kept_before: dict[str, Any],
    kept_after: dict[str, Any],
) -> None:
    """A simple file becomes an extended one (VP8X added, same canvas); only the XMP flag is new."""
    flags_before = set(before.get("RIFF:WebP_Flags", "").split(", ")) - {""}
    added = {"XMP"}
    if before["File:FileType"] == "WEBP":  # simple: Alpha is set when the VP8L has alpha
        with Image.open(io.BytesIO(old)) as img:
            added |= {"Alpha"} if img.mode == "RGBA" else set()
    assert set(after["RIFF:WebP_Flags"].split(", ")) == flags_before | added
    if before["File:FileType"] == "WEBP":
        assert after["File:FileType"] == "Extended WEBP"
        kept_before.pop("File:FileType"), kept_after.pop("File:FileType")


@pytest.mark.parametrize("name", FIXTURES)
def test_fields_read_back_and_nothing_else_changes(
    name: str, meta_fixtures: dict[str, Path], tmp_path: Path
) -> None:
    path = meta_fixtures[name]
    old = path.read_bytes()
    module = module_for(old)
    assert module is not None
    found = module.extract(old, name)
    change = _change(found, found.format)
    new = module.embed(old, change, name)
    module.check_lossless(old, new, name)
    check_same_pixels(old, new, name)
    out = tmp_path / path.name
    out.write_bytes(new)

    before, after = exiftool(path), exiftool(out)
    kept_before, kept_after = _kept(before), _kept(after)
    if found.format == "webp":
        _check_webp_flags(old, before, after, kept_before, kept_after)
    assert {
        k: (kept_before.get(k), kept_after.get(k))
        for k in {*kept_before, *kept_after}
        if kept_before.get(k) != kept_after.get(k)
    } == {}
    assert after["XMP-dc:Description"] == ALT
    text = exiv2(out)
    assert ALT in text and "Xmp.dc.description" in text
    if change.exif_description is not None:
        assert after["IFD0:ImageDescription"] == ASCII_DESCRIPTION
        assert ASCII_DESCRIPTION in text
    if change.iim_caption is not None:
        assert after["IPTC:Caption-Abstract"] == ALT
        assert after["IPTC:CodedCharacterSet"] == "UTF8"
        assert "Iptc.Application2.Caption" in text
        digests = exiftool(out, "-IPTCDigest", "-CurrentIPTCDigest")
        if "Photoshop:IPTCDigest" in digests:
            assert digests["Photoshop:IPTCDigest"] == digests["File:CurrentIPTCDigest"]
        else:
            assert name == "mm.tif"  # IPTC made anew in tag 33723: no Photoshop block, no digest
    if found.format == "jpeg":
        scan_at = walk(old, name).scan_at
        assert new.endswith(old[scan_at:])  # the scan data and all after it, byte for byte
    assert module.extract(new, name).xmp == change.xmp


def test_makernotes_of_each_make_survive(meta_fixtures: dict[str, Path], tmp_path: Path) -> None:
    """The MakerNote tags ExifTool decodes are the same after the EXIF block grew."""
    for name, group in (("canon.jpg", "Canon"), ("nikon.jpg", "Nikon"), ("sony.jpg", "Sony")):
        path = meta_fixtures[name]
        old = path.read_bytes()
        xmp = _packet("m", jpeg.extract(old))
        new = jpeg.embed(old, Change(exif_description="x" * 300, xmp=xmp), name)
        (tmp_path / name).write_bytes(new)
        before, after = exiftool(path), exiftool(tmp_path / name)
        notes = {k: v for k, v in before.items() if k.startswith(group + ":")}
        assert len(notes) >= 2, f"{name}: ExifTool decoded no {group} MakerNote"
        assert {k: after.get(k) for k in notes} == notes
        assert "ExifTool:Warning" not in after


def test_extended_xmp_kept_and_read(meta_fixtures: dict[str, Path]) -> None:
    old = meta_fixtures["sony.jpg"].read_bytes()
    found = jpeg.extract(old)
    assert found.xmp is not None and b"HasExtendedXMP" in found.xmp
    assert found.extended_xmp is not None and b"w" * 100_000 in found.extended_xmp
    new = jpeg.embed(old, Change(xmp=_packet("replaces the main packet only", found)))
    assert jpeg.extract(new).extended_xmp == found.extended_xmp


def test_latin1_iim_reencoded_to_utf8(meta_fixtures: dict[str, Path], tmp_path: Path) -> None:
    old = meta_fixtures["sony.jpg"].read_bytes()
    assert jpeg.extract(old).has_iim and not jpeg.extract(old).iim_utf8
    new = jpeg.embed(old, Change(iim_caption="Zürich by night"))
    out = tmp_path / "sony.jpg"
    out.write_bytes(new)
    after = exiftool(out)
    assert after["IPTC:City"] == "Zürich" and after["IPTC:Caption-Abstract"] == "Zürich by night"


def test_big_packet_over_60kb_replaced_and_too_big_refused(meta_fixtures: dict[str, Path]) -> None:
    old = meta_fixtures["big_xmp.jpg"].read_bytes()
    assert len(jpeg.extract(old).xmp or b"") > 60_000
    new = jpeg.embed(old, Change(xmp=packet("still big", 61_500)))
    jpeg.check_lossless(old, new)
    with pytest.raises(DoesNotFit):
        jpeg.embed(old, Change(xmp=packet("too big", 66_000)))


def test_bigtiff_goes_to_a_sidecar(meta_fixtures: dict[str, Path]) -> None:
    from nanocaption_desktop.metadata.containers import tiff

    data = meta_fixtures["big.tif"].read_bytes()
    assert module_for(data) is tiff
    with pytest.raises(DoesNotFit):
        tiff.embed(data, Change(xmp=packet("x")))
