"""JPEG: the segments before the first scan, the scan data to EOI, and what follows EOI.

We own three kinds of segment: the main XMP APP1, the first EXIF APP1 (changed append-only, see
``tiffblock``) and the Photoshop APP13 blocks (IIM caption). Every other byte -- fill bytes,
ExtendedXMP, MakerNotes, ICC profiles, the scan data, anything after EOI -- is copied as it is.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ...ground.errors import MetadataError
from . import iim, tiffblock
from . import jpeg_parts as parts
from .contract import Change, DoesNotFit, Embedded
from .jpeg_parts import APP0, APP1, APP13, EXIF_SIG, PHOTOSHOP_SIG, XMP_SIG, Layout, Segment

#: The main packet must fit in one APP1: 65,535 - 2 (length) - 29 (signature) = 65,504; we keep
#: the 2 bytes of margin the XMP specification's figure of 65,502 leaves.
MAX_XMP = 65_502
MAX_PAYLOAD = 65_533  # a segment's length field counts itself: 65,535 - 2


def extract(data: bytes, name: str = "<jpeg>") -> Embedded:
    layout = parts.walk(data, name)
    xmp_seg = _first(data, layout, _is_xmp)
    xmp = data[xmp_seg.payload_at + len(XMP_SIG) : xmp_seg.end] if xmp_seg else None
    exif_seg = _first(data, layout, _is_exif)
    description = None
    if exif_seg is not None:
        tiff = data[exif_seg.payload_at + len(EXIF_SIG) : exif_seg.end]
        try:
            description = tiffblock.text(tiff, name)
        except MetadataError:
            description = None  # a broken EXIF block is read as having no description
    irb = _photoshop(data, layout)
    block = iim.find_iim(irb, name) if irb is not None else None
    caption, utf8 = iim.caption_and_charset(block, name) if block is not None else (None, False)
    return Embedded(
        format="jpeg",
        xmp=xmp,
        extended_xmp=parts.extended_xmp(data, layout, xmp),
        has_exif=exif_seg is not None,
        exif_description=description,
        has_iim=block is not None,
        iim_caption=caption,
        iim_utf8=utf8,
    )


def embed(data: bytes, change: Change, name: str = "<jpeg>") -> bytes:
    layout = parts.walk(data, name)
    pieces = [data[s.start : s.end] for s in layout.segments]
    owned: list[Segment | None] = list(layout.segments)
    if change.exif_description is not None:
        _set_exif(data, layout, pieces, owned, change, name)
    if change.xmp is not None:
        _set_xmp(data, pieces, owned, change.xmp)
    if change.iim_caption is not None:
        _set_iim(data, layout, pieces, owned, change.iim_caption, name)
    return b"".join(pieces) + data[layout.scan_at :]


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _leading_end(data: bytes, owned: list[Segment | None]) -> int:
    """Where a new segment goes: after SOI and the leading APP0s and EXIF APP1s (``None``: a
    segment this change added, which before this is only a new EXIF APP1)."""
    at = 1
    while at < len(owned):
        s = owned[at]
        if s is not None and not (s.marker == APP0 or _is_exif(data, s)):
            break
        at += 1
    return at


def _set_xmp(data: bytes, pieces: list[bytes], owned: list[Segment | None], xmp: bytes) -> None:
    if len(xmp) > MAX_XMP:
        raise DoesNotFit(f"the XMP packet is {len(xmp):,} bytes; one JPEG APP1 holds {MAX_XMP:,}")
    new = _segment(APP1, XMP_SIG + xmp)
    found = [i for i, s in enumerate(owned) if s is not None and _is_xmp(data, s)]
    if found:
        pieces[found[0]] = new
        for i in found[1:]:  # a second main packet is invalid: readers would see the stale one
            pieces[i] = b""
        return
    at = _leading_end(data, owned)
    pieces.insert(at, new)
    owned.insert(at, None)


def _set_exif(
    data: bytes,
    layout: Layout,
    pieces: list[bytes],
    owned: list[Segment | None],
    change: Change,
    name: str,
) -> None:
    assert change.exif_description is not None
    value = tiffblock.description_value(change.exif_description, change.exif_utf8, name)
    found = next((i for i, s in enumerate(owned) if s is not None and _is_exif(data, s)), None)
    if found is None:
        tiff = b"II*\0\x08\0\0\0\0\0\0\0\0\0"  # a header and an empty IFD0
    else:
        s = layout.segments[found]
        tiff = data[s.payload_at + len(EXIF_SIG) : s.end]
    new_tiff = tiffblock.set_tags(tiff, {tiffblock.IMAGE_DESCRIPTION: value}, name, "EXIF")
    payload = EXIF_SIG + new_tiff
    if len(payload) > MAX_PAYLOAD:
        raise MetadataError(name, "EXIF: the new ImageDescription does not fit in the APP1")
    if found is None:
        at = 2 if len(owned) > 1 and owned[1] is not None and owned[1].marker == APP0 else 1
        pieces.insert(at, _segment(APP1, payload))
        owned.insert(at, None)
    else:
        pieces[found] = _segment(APP1, payload)


def _set_iim(
    data: bytes,
    layout: Layout,
    pieces: list[bytes],
    owned: list[Segment | None],
    caption: str,
    name: str,
) -> None:
    found = [i for i, s in enumerate(owned) if s is not None and _is_photoshop(data, s)]
    irb = _photoshop(data, layout) or b""
    new_irb = iim.set_caption_in_resources(irb, caption, name)
    room = MAX_PAYLOAD - len(PHOTOSHOP_SIG)
    chunks = [new_irb[i : i + room] for i in range(0, len(new_irb), room)]
    new = b"".join(_segment(APP13, PHOTOSHOP_SIG + c) for c in chunks)
    if found:
        pieces[found[0]] = new
        for i in found[1:]:
            pieces[i] = b""
        return
    at = _leading_end(data, owned)
    while at < len(owned) and _is_app(owned[at]):
        at += 1
    pieces.insert(at, new)
    owned.insert(at, None)


def _is_app(s: Segment | None) -> bool:
    return s is None or 0xE0 <= s.marker <= 0xEF


def _is_xmp(data: bytes, s: Segment) -> bool:
    return s.marker == APP1 and data.startswith(XMP_SIG, s.payload_at)


def _is_exif(data: bytes, s: Segment) -> bool:
    return s.marker == APP1 and data.startswith(EXIF_SIG, s.payload_at)


def _is_photoshop(data: bytes, s: Segment) -> bool:
    return s.marker == APP13 and data.startswith(PHOTOSHOP_SIG, s.payload_at)


def _first(data: bytes, layout: Layout, test: Callable[[bytes, Segment], bool]) -> Segment | None:
    return next((s for s in layout.segments if test(data, s)), None)


def _photoshop(data: bytes, layout: Layout) -> bytes | None:
    """The Photoshop resources, joined across APP13 segments; None when there are none."""
    found = [s for s in layout.segments if _is_photoshop(data, s)]
    if not found:
        return None
    return b"".join(data[s.payload_at + len(PHOTOSHOP_SIG) : s.end] for s in found)


def check_lossless(old: bytes, new: bytes, name: str = "<jpeg>") -> None:
    a, b = parts.walk(old, name), parts.walk(new, name)
    if old[a.scan_at :] != new[b.scan_at :]:
        raise MetadataError(name, "JPEG: the scan data or what follows it changed")
    exif_a, exif_b = _first(old, a, _is_exif), _first(new, b, _is_exif)
    kept_a = [old[s.start : s.end] for s in a.segments if not _owned(old, s, exif_a)]
    kept_b = [new[s.start : s.end] for s in b.segments if not _owned(new, s, exif_b)]
    if kept_a != kept_b:
        raise MetadataError(name, "JPEG: a segment we do not own changed, moved or went missing")
    if exif_a is not None:
        if exif_b is None:
            raise MetadataError(name, "JPEG: the EXIF block went missing")
        tiff_a = old[exif_a.payload_at + len(EXIF_SIG) : exif_a.end]
        tiff_b = new[exif_b.payload_at + len(EXIF_SIG) : exif_b.end]
        tiffblock.check_appended(tiff_a, tiff_b, name, "EXIF")
    irb_a, irb_b = _photoshop(old, a), _photoshop(new, b)
    if irb_a is not None:
        if irb_b is None or iim.others(irb_a, name) != iim.others(irb_b, name):
            raise MetadataError(name, "JPEG: a Photoshop resource other than IPTC changed")
    if irb_b is not None:
        parts.check_iim(irb_a, irb_b, name)


def _owned(data: bytes, s: Segment, exif: Segment | None) -> bool:
    return s == exif or _is_xmp(data, s) or _is_photoshop(data, s)
