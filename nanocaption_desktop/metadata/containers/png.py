"""PNG: chunks (each CRC checked), the XMP iTXt, eXIf and the ``Description`` text chunks.

We own the iTXt ``XML:com.adobe.xmp`` chunk (written uncompressed, before the first IDAT, where
Apple and Adobe tools look; an old one is replaced where it was when that is before IDAT, and
removed wherever else it was) and an existing eXIf chunk (ImageDescription, append-only; no eXIf
is created: PNG readers take the description from XMP). PNG has no IIM block: ``iim_caption``
is not used. Every other chunk, and anything after IEND, is copied as it is.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ...ground.errors import MetadataError
from . import tiffblock
from .contract import Change, Embedded

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
#: A compressed text chunk inflating past this is junk (or a bomb), not a description.
MAX_INFLATED = 16 * 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    type: bytes
    start: int
    end: int  # after the CRC
    data: bytes


def walk(data: bytes, name: str = "<png>") -> tuple[list[Chunk], int]:
    """The chunks up to IEND, and the offset just after it (trailing data is kept)."""
    if not data.startswith(SIGNATURE):
        raise MetadataError(name, "PNG: no PNG signature")
    chunks, at = [], len(SIGNATURE)
    while True:
        if at + 12 > len(data):
            raise MetadataError(name, "PNG: no IEND chunk (the file is cut off)")
        size, kind = struct.unpack_from(">I4s", data, at)
        end = at + 12 + size
        if size > 0x7FFFFFFF or end > len(data):
            raise MetadataError(name, f"PNG: chunk {kind!r} at byte {at} runs off the end")
        body = data[at + 8 : at + 8 + size]
        (crc,) = struct.unpack_from(">I", data, at + 8 + size)
        if zlib.crc32(kind + body) != crc:
            raise MetadataError(name, f"PNG: chunk {kind!r} at byte {at} has a bad CRC")
        chunks.append(Chunk(kind, at, end, body))
        at = end
        if kind == b"IEND":
            return chunks, at


def _inflate(data: bytes, name: str) -> bytes:
    z = zlib.decompressobj()
    try:
        out = z.decompress(data, MAX_INFLATED)
    except zlib.error as e:
        raise MetadataError(name, f"PNG: a compressed text chunk does not inflate: {e}") from e
    if z.unconsumed_tail:
        raise MetadataError(name, f"PNG: a text chunk inflates past {MAX_INFLATED:,} bytes")
    return out


def _itxt(body: bytes, name: str) -> tuple[bytes, bytes]:
    """(keyword, text as stored in UTF-8) of an iTXt chunk."""
    keyword, sep, rest = body.partition(b"\0")
    if not sep or len(rest) < 2:
        raise MetadataError(name, "PNG: a malformed iTXt chunk")
    compressed, rest = rest[0], rest[2:]
    parts = rest.split(b"\0", 2)
    if len(parts) != 3:
        raise MetadataError(name, "PNG: a malformed iTXt chunk")
    return keyword, _inflate(parts[2], name) if compressed else parts[2]


def _texts(chunks: list[Chunk], name: str) -> tuple[bytes | None, tuple[str, ...]]:
    xmp, descriptions = None, []
    for c in chunks:
        if c.type == b"iTXt":
            keyword, text = _itxt(c.data, name)
            if keyword == XMP_KEYWORD and xmp is None:
                xmp = text
            elif keyword == b"Description":
                descriptions.append(text.decode("utf-8", errors="replace"))
        elif c.type in (b"tEXt", b"zTXt"):
            keyword, _, rest = c.data.partition(b"\0")
            if keyword == b"Description":
                raw = _inflate(rest[1:], name) if c.type == b"zTXt" else rest
                descriptions.append(raw.decode("latin-1"))
    return xmp, tuple(descriptions)


def extract(data: bytes, name: str = "<png>") -> Embedded:
    chunks, _ = walk(data, name)
    xmp, descriptions = _texts(chunks, name)
    exif = next((c for c in chunks if c.type == b"eXIf"), None)
    description = None
    if exif is not None:
        try:
            description = tiffblock.text(exif.data, name)
        except MetadataError:
            description = None  # a broken EXIF block is read as having no description
    return Embedded(
        format="png",
        xmp=xmp,
        has_exif=exif is not None,
        exif_description=description,
        png_descriptions=descriptions,
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _is_xmp(c: Chunk) -> bool:
    return c.type == b"iTXt" and c.data.startswith(XMP_KEYWORD + b"\0")


def embed(data: bytes, change: Change, name: str = "<png>") -> bytes:
    chunks, end = walk(data, name)
    pieces = [data[c.start : c.end] for c in chunks]
    first_idat = next((i for i, c in enumerate(chunks) if c.type == b"IDAT"), None)
    if first_idat is None:
        raise MetadataError(name, "PNG: no IDAT chunk")
    if change.exif_description is not None:
        at = next((i for i, c in enumerate(chunks) if c.type == b"eXIf"), None)
        if at is not None:
            value = tiffblock.description_value(change.exif_description, change.exif_utf8, name)
            tiff = tiffblock.set_tags(
                chunks[at].data, {tiffblock.IMAGE_DESCRIPTION: value}, name, "EXIF"
            )
            pieces[at] = _chunk(b"eXIf", tiff)
    if change.xmp is not None:
        new = _chunk(b"iTXt", XMP_KEYWORD + b"\0\0\0\0\0" + change.xmp)
        old = [i for i, c in enumerate(chunks) if _is_xmp(c)]
        for i in old:
            pieces[i] = b""
        if old and old[0] < first_idat:
            pieces[old[0]] = new
        else:
            pieces[first_idat] = new + pieces[first_idat]
    return SIGNATURE + b"".join(pieces) + data[end:]


def check_lossless(old: bytes, new: bytes, name: str = "<png>") -> None:
    a, a_end = walk(old, name)
    b, b_end = walk(new, name)
    if old[a_end:] != new[b_end:]:
        raise MetadataError(name, "PNG: the data after IEND changed")
    kept_a = [old[c.start : c.end] for c in a if not _is_xmp(c) and c.type != b"eXIf"]
    kept_b = [new[c.start : c.end] for c in b if not _is_xmp(c) and c.type != b"eXIf"]
    if kept_a != kept_b:
        raise MetadataError(
            name, "PNG: IDAT or a chunk we do not own changed, moved or went missing"
        )
    exif_a = [c.data for c in a if c.type == b"eXIf"]
    exif_b = [c.data for c in b if c.type == b"eXIf"]
    if len(exif_a) != len(exif_b):
        raise MetadataError(name, "PNG: an eXIf chunk appeared or went missing")
    for x, y in zip(exif_a, exif_b, strict=True):
        tiffblock.check_appended(x, y, name, "EXIF")
