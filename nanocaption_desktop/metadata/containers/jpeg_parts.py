"""JPEG's structure: the segment walker, ExtendedXMP reassembly and the IIM part of the check.

The walker reads markers (with any 0xFF fill bytes before them, kept with the segment), the
standalone markers (TEM, RSTn), and every length-prefixed segment up to the first SOS. From there
it walks the entropy-coded data (stuffed 0xFF00 and RSTn skipped, further DHT/SOS/... segments of
a progressive file stepped over) to EOI. Anything after EOI is kept as it is.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from ...ground.errors import MetadataError
from . import iim

APP0, APP1, APP13 = 0xE0, 0xE1, 0xED
SOS, EOI, SOI = 0xDA, 0xD9, 0xD8
XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"
EXTENDED_SIG = b"http://ns.adobe.com/xmp/extension/\0"
EXIF_SIG = b"Exif\0\0"
PHOTOSHOP_SIG = b"Photoshop 3.0\0"
STANDALONE = {0x01, *range(0xD0, 0xD8)}
#: A marker that ends entropy-coded data: 0xFF then anything but a stuffed 0x00, RSTn, TEM or fill.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\x01\xd0-\xd7\xff]")
#: ExtendedXMP may be large, but not larger than anything a photo's metadata could need.
MAX_EXTENDED = 64 * 1024 * 1024


@dataclass(frozen=True)
class Segment:
    marker: int
    start: int  # the first byte, fill bytes before the marker included
    payload_at: int  # after the length field (== end for a standalone marker)
    end: int


@dataclass(frozen=True)
class Layout:
    segments: tuple[Segment, ...]  # SOI and every segment before the first SOS
    scan_at: int  # where the first SOS starts (its fill bytes included)
    eoi_end: int  # just after EOI; anything beyond is trailing data


def _marker(data: bytes, at: int, name: str) -> tuple[int, int]:
    """(marker, offset of the byte after it), skipping fill bytes."""
    if at >= len(data) or data[at] != 0xFF:
        raise MetadataError(name, f"JPEG: expected a marker at byte {at}")
    while at < len(data) and data[at] == 0xFF:
        at += 1
    if at >= len(data):
        raise MetadataError(name, "JPEG: the file ends inside a marker")
    return data[at], at + 1


def _length(data: bytes, at: int, marker: int, name: str) -> int:
    """The end of the segment whose length field starts at ``at``."""
    if at + 2 > len(data):
        raise MetadataError(name, f"JPEG: segment {marker:#04x} at byte {at} is cut off")
    (size,) = struct.unpack_from(">H", data, at)
    if size < 2 or at + size > len(data):
        raise MetadataError(name, f"JPEG: segment {marker:#04x} at byte {at} runs off the end")
    return at + size


def walk(data: bytes, name: str) -> Layout:
    if not data.startswith(b"\xff\xd8"):
        raise MetadataError(name, "JPEG: no start-of-image marker")
    segments = [Segment(SOI, 0, 2, 2)]
    at = 2
    while True:
        start = at
        marker, at = _marker(data, at, name)
        if marker == SOS:
            return Layout(tuple(segments), start, _scan(data, start, name))
        if marker in (SOI, EOI):
            raise MetadataError(name, f"JPEG: marker {marker:#04x} before any image data")
        if marker in STANDALONE:
            segments.append(Segment(marker, start, at, at))
            continue
        end = _length(data, at, marker, name)
        segments.append(Segment(marker, start, at + 2, end))
        at = end


def _scan(data: bytes, at: int, name: str) -> int:
    """The end of EOI, walking from the first SOS through the entropy-coded data."""
    marker, at = _marker(data, at, name)
    at = _length(data, at, marker, name)
    while True:  # the regex skips stuffed 0xFF00, RSTn, TEM and fill bytes in C, not per byte
        found = _NEXT_MARKER.search(data, at)
        if found is None:
            raise MetadataError(name, "JPEG: no end-of-image marker (the file is cut off)")
        following = data[found.start() + 1]
        if following == EOI:
            return found.start() + 2
        if following == SOI:
            raise MetadataError(name, "JPEG: a start-of-image marker inside the image data")
        at = _length(data, found.start() + 2, following, name)


def extended_xmp(data: bytes, layout: Layout, main: bytes | None) -> bytes | None:
    """ExtendedXMP reassembled by GUID and offset; the GUID the main packet names wins. None
    when there is none, or when its parts are inconsistent or incomplete (read only: never an
    error)."""
    parts: dict[bytes, tuple[int, dict[int, bytes]]] = {}
    for s in layout.segments:
        if s.marker != APP1 or not data.startswith(EXTENDED_SIG, s.payload_at):
            continue
        at = s.payload_at + len(EXTENDED_SIG)
        if at + 40 > s.end:
            continue
        guid = data[at : at + 32]
        full, offset = struct.unpack_from(">II", data, at + 32)
        total, chunks = parts.setdefault(guid, (full, {}))
        if total == full:
            chunks[offset] = data[at + 40 : s.end]
    if not parts:
        return None
    guid = next((g for g in parts if main is not None and g in main), next(iter(parts)))
    total, chunks = parts[guid]
    if total > MAX_EXTENDED:
        return None
    out = bytearray()
    for offset in sorted(chunks):
        if offset != len(out):
            return None
        out += chunks[offset]
    return bytes(out) if len(out) == total else None


def check_iim(old_irb: bytes | None, new_irb: bytes, name: str) -> None:
    """The new IIM block keeps every old dataset but ours, and its digest is its MD5."""
    new_block = iim.find_iim(new_irb, name)
    if new_block is None:
        if old_irb is not None and iim.find_iim(old_irb, name) is not None:
            raise MetadataError(name, "IPTC: the IIM block went missing")
        return
    digest = next(
        (r.data for r in iim.read_resources(new_irb, name) if r.id == iim.DIGEST_RESOURCE), None
    )
    if digest is not None and digest != hashlib.md5(new_block).digest():
        raise MetadataError(name, "IPTC: the Photoshop IPTC digest does not match the IIM block")
    old_block = iim.find_iim(old_irb, name) if old_irb is not None else None
    check_datasets(old_block, new_block, name)


def check_datasets(old_block: bytes | None, new_block: bytes, name: str) -> None:
    ours = {iim.CAPTION, iim.CHARSET}
    if old_block is None:
        return
    old, old_tail = iim.read_datasets(old_block, name)
    new, new_tail = iim.read_datasets(new_block, name)
    if not iim.caption_and_charset(old_block, name)[1]:
        old = [iim._reencoded(d) for d in old]
    keep_old = [d for d in old if (d.record, d.number) not in ours]
    keep_new = [d for d in new if (d.record, d.number) not in ours]
    if keep_old != keep_new or old_tail != new_tail:
        raise MetadataError(name, "IPTC: a dataset other than the caption and charset changed")
