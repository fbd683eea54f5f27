"""A TIFF structure (a TIFF file, or the EXIF block inside a JPEG, PNG or WebP): read IFD0, and
change tags append-only.

Changing IFD0 never edits it in place: the new values and a complete new copy of IFD0 are
appended at the end, and the header's IFD0 pointer (bytes 4..8) is repointed. Every other byte,
the old IFD0 included, stays where it was, so every absolute offset in the block (EXIF and GPS
IFDs, MakerNotes, strips, tiles) still points at the same bytes. One code path for all four
containers, and the check is exact: the new block starts with the old one, except the pointer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...ground.errors import MetadataError

IMAGE_DESCRIPTION = 0x010E
XMP_TAG = 700
IPTC_TAG = 33723
ASCII, UTF8 = 2, 129
#: Bytes per value of each TIFF field type (types 16-18 are BigTIFF's, never written here).
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
TYPE_SIZES.update({16: 8, 17: 8, 18: 8, UTF8: 1})
#: IFD0 of a real file has a few dozen entries; more than this is junk, not a photo.
MAX_ENTRIES = 4096
POINTER_AT = 4  # the header's IFD0 offset: the only existing bytes a change rewrites


@dataclass(frozen=True)
class Entry:
    tag: int
    type: int
    count: int
    raw: bytes  # all 12 bytes, as stored


@dataclass(frozen=True)
class Ifd:
    offset: int
    entries: tuple[Entry, ...]
    next_offset: int  # the next IFD's offset (IFD1, the thumbnail), 0 when none


@dataclass(frozen=True)
class Header:
    endian: str  # "<" (II) or ">" (MM)
    ifd0: int
    bigtiff: bool


def header(data: bytes, name: str, what: str = "TIFF") -> Header:
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        raise MetadataError(name, f"{what}: no II/MM byte-order mark")
    endian = "<" if data[:2] == b"II" else ">"
    (magic,) = struct.unpack_from(endian + "H", data, 2)
    if magic == 43:
        return Header(endian, 0, True)
    if magic != 42:
        raise MetadataError(name, f"{what}: bad magic number {magic} (expected 42)")
    (ifd0,) = struct.unpack_from(endian + "I", data, 4)
    return Header(endian, ifd0, False)


def read_ifd(data: bytes, endian: str, offset: int, name: str, what: str = "TIFF") -> Ifd:
    if offset < 8 or offset + 2 > len(data):
        raise MetadataError(name, f"{what}: IFD0 offset {offset} is outside the block")
    (count,) = struct.unpack_from(endian + "H", data, offset)
    end = offset + 2 + 12 * count
    if count > MAX_ENTRIES or end + 4 > len(data):
        raise MetadataError(name, f"{what}: IFD0 at {offset} with {count} entries runs off the end")
    entries = []
    for at in range(offset + 2, end, 12):
        tag, typ, n = struct.unpack_from(endian + "HHI", data, at)
        entries.append(Entry(tag, typ, n, data[at : at + 12]))
    (next_offset,) = struct.unpack_from(endian + "I", data, end)
    return Ifd(offset, tuple(entries), next_offset)


def value(data: bytes, endian: str, entry: Entry, name: str, what: str = "TIFF") -> bytes:
    """The bytes of an entry's value (inline or at its offset)."""
    size = TYPE_SIZES.get(entry.type, 1) * entry.count
    if size <= 4:
        return entry.raw[8 : 8 + size]
    (offset,) = struct.unpack_from(endian + "I", entry.raw, 8)
    if offset + size > len(data):
        raise MetadataError(name, f"{what}: tag {entry.tag} value runs off the end")
    return data[offset : offset + size]


def find(ifd: Ifd, tag: int) -> Entry | None:
    return next((e for e in ifd.entries if e.tag == tag), None)


def ifd0(data: bytes, name: str, what: str = "TIFF") -> tuple[Header, Ifd]:
    head = header(data, name, what)
    if head.bigtiff:
        raise MetadataError(name, f"{what}: BigTIFF is not supported")
    return head, read_ifd(data, head.endian, head.ifd0, name, what)


def text(data: bytes, name: str, tag: int = IMAGE_DESCRIPTION, what: str = "EXIF") -> bytes | None:
    """A tag of IFD0 (ImageDescription by default), trailing NULs stripped; None when absent."""
    head, ifd = ifd0(data, name, what)
    entry = find(ifd, tag)
    if entry is None:
        return None
    return value(data, head.endian, entry, name, what).rstrip(b"\0")


def description_value(text_: str, utf8: bool, name: str) -> tuple[int, bytes]:
    """ImageDescription's (type, bytes): ASCII, or Exif 3.0 UTF-8 (type 129) when allowed."""
    if text_.isascii():
        return ASCII, text_.encode("ascii") + b"\0"
    if not utf8:
        raise MetadataError(
            name, "EXIF ImageDescription is ASCII only and the text is not (exif_utf8 is off)"
        )
    return UTF8, text_.encode("utf-8") + b"\0"


def set_tags(data: bytes, updates: dict[int, tuple[int, bytes]], name: str, what: str) -> bytes:
    """``data`` with IFD0's tags set (tag -> (type, value bytes)), append-only (module doc)."""
    head, old = ifd0(data, name, what)
    e = head.endian
    out = bytearray(data)
    fields: dict[int, bytes] = {}
    for tag, (typ, payload) in sorted(updates.items()):
        size = TYPE_SIZES[typ]
        if len(payload) % size:
            raise MetadataError(name, f"{what}: tag {tag} value is not whole {typ}-type units")
        if len(payload) <= 4:
            field = payload.ljust(4, b"\0")
        else:
            out += b"\0" * (len(out) % 2)  # values start on a word boundary
            field = struct.pack(e + "I", len(out))
            out += payload
        fields[tag] = struct.pack(e + "HHI", tag, typ, len(payload) // size) + field
    kept = [(entry.tag, entry.raw) for entry in old.entries if entry.tag not in fields]
    # a stable sort: entries of the same tag (a malformed IFD0) are all kept, in their order
    entries = [raw for _, raw in sorted([*kept, *fields.items()], key=lambda item: item[0])]
    out += b"\0" * (len(out) % 2)
    new_ifd0 = len(out)
    out += struct.pack(e + "H", len(entries)) + b"".join(entries)
    out += struct.pack(e + "I", old.next_offset)
    if len(out) > 0xFFFFFFFF:
        raise MetadataError(name, f"{what}: the file would pass 4 GB, which TIFF offsets cannot")
    struct.pack_into(e + "I", out, POINTER_AT, new_ifd0)
    return bytes(out)


def check_appended(old: bytes, new: bytes, name: str, what: str) -> None:
    """``new`` is ``old`` with bytes appended and only the IFD0 pointer rewritten."""
    if len(new) < len(old):
        raise MetadataError(name, f"{what}: the new block is shorter than the old one")
    if old == new[: len(old)]:
        return
    if old[:POINTER_AT] != new[:POINTER_AT] or old[8:] != new[8 : len(old)]:
        raise MetadataError(name, f"{what}: bytes of the original changed (not append-only)")
