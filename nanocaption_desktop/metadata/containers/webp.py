"""WebP: RIFF chunks; the ``XMP `` chunk, an existing ``EXIF`` chunk and the VP8X header.

A simple file (one VP8 or VP8L chunk) gets a VP8X chunk first (canvas size read from the
bitstream; the alpha flag for a VP8L whose header says alpha is used). The order the
specification asks for is kept: VP8X, ICCP, ANIM, image, EXIF, XMP, then unknown chunks. Odd
chunks are padded and the RIFF size is fixed. No EXIF chunk is created (as for PNG), and WebP has
no IIM block. Image chunks (VP8, VP8L, ALPH, ANMF, ANIM, ICCP) and unknown ones are copied as
they are.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...ground.errors import MetadataError
from . import tiffblock
from .contract import Change, Embedded

ICC, ALPHA, EXIF_FLAG, XMP_FLAG, ANIMATION = 0x20, 0x10, 0x08, 0x04, 0x02
#: The chunks an XMP chunk goes after (the specification's order).
BEFORE_XMP = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L", b"EXIF"}
EXIF_PREFIX = b"Exif\0\0"  # some writers put JPEG's APP1 signature in front of the TIFF block


@dataclass(frozen=True)
class Chunk:
    fourcc: bytes
    start: int
    end: int  # after the padding byte
    data: bytes


def walk(data: bytes, name: str = "<webp>") -> tuple[list[Chunk], int]:
    """The chunks, and where the RIFF ends (anything after it is kept as it is)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MetadataError(name, "WebP: no RIFF/WEBP header")
    (size,) = struct.unpack_from("<I", data, 4)
    riff_end = size + 8
    if riff_end > len(data) or size < 4:
        raise MetadataError(name, f"WebP: the RIFF size {size} does not match the file")
    chunks, at = [], 12
    while at < riff_end:
        if at + 8 > riff_end:
            raise MetadataError(name, f"WebP: a chunk header at byte {at} is cut off")
        fourcc, n = data[at : at + 4], struct.unpack_from("<I", data, at + 4)[0]
        end = at + 8 + n + n % 2
        if end > riff_end + n % 2:  # a missing last pad byte is tolerated on read
            raise MetadataError(name, f"WebP: chunk {fourcc!r} at byte {at} runs off the end")
        chunks.append(Chunk(fourcc, at, min(end, riff_end), data[at + 8 : at + 8 + n]))
        at = end
    if not chunks or chunks[0].fourcc not in (b"VP8 ", b"VP8L", b"VP8X"):
        raise MetadataError(name, "WebP: the first chunk is not VP8, VP8L or VP8X")
    return chunks, riff_end


def _tiff(chunk: Chunk) -> bytes:
    return chunk.data[len(EXIF_PREFIX) :] if chunk.data.startswith(EXIF_PREFIX) else chunk.data


def extract(data: bytes, name: str = "<webp>") -> Embedded:
    chunks, _ = walk(data, name)
    xmp = next((c.data for c in chunks if c.fourcc == b"XMP "), None)
    exif = next((c for c in chunks if c.fourcc == b"EXIF"), None)
    description = None
    if exif is not None:
        try:
            description = tiffblock.text(_tiff(exif), name)
        except MetadataError:
            description = None  # a broken EXIF block is read as having no description
    return Embedded(format="webp", xmp=xmp, has_exif=exif is not None, exif_description=description)


def _chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + b"\0" * (len(body) % 2)


def _canvas(first: Chunk, name: str) -> tuple[int, int, bool]:
    """(width, height, alpha) of a simple file's bitstream."""
    d = first.data
    if first.fourcc == b"VP8 ":
        if len(d) < 10 or d[3:6] != b"\x9d\x01\x2a":
            raise MetadataError(name, "WebP: a VP8 chunk without its start code")
        w, h = struct.unpack_from("<HH", d, 6)
        return w & 0x3FFF, h & 0x3FFF, False
    if len(d) < 5 or d[0] != 0x2F:
        raise MetadataError(name, "WebP: a VP8L chunk without its signature")
    (bits,) = struct.unpack_from("<I", d, 1)
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)


def _vp8x(chunks: list[Chunk], name: str) -> bytes:
    """The VP8X payload a simple file gets (flags filled in by the caller)."""
    w, h, alpha = _canvas(chunks[0], name)
    flags = ALPHA if alpha else 0
    return bytes((flags, 0, 0, 0)) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")


def embed(data: bytes, change: Change, name: str = "<webp>") -> bytes:
    chunks, riff_end = walk(data, name)
    # as stored, plus the pad byte a last odd chunk may lack
    pieces = [data[c.start : c.end] + b"\0" * ((c.end - c.start) % 2) for c in chunks]
    kinds = [c.fourcc for c in chunks]
    if change.exif_description is not None and b"EXIF" in kinds:
        i = kinds.index(b"EXIF")
        value = tiffblock.description_value(change.exif_description, change.exif_utf8, name)
        tiff = tiffblock.set_tags(
            _tiff(chunks[i]), {tiffblock.IMAGE_DESCRIPTION: value}, name, "EXIF"
        )
        prefix = EXIF_PREFIX if chunks[i].data.startswith(EXIF_PREFIX) else b""
        pieces[i] = _chunk(b"EXIF", prefix + tiff)
    if change.xmp is None:
        return _riff(pieces, data[riff_end:])
    header = bytearray(chunks[0].data if kinds[0] == b"VP8X" else _vp8x(chunks, name))
    if len(header) < 10:
        raise MetadataError(name, "WebP: a VP8X chunk shorter than 10 bytes")
    header[0] |= XMP_FLAG | (EXIF_FLAG if b"EXIF" in kinds else 0)
    new_xmp = _chunk(b"XMP ", change.xmp)
    if b"XMP " in kinds:
        pieces[kinds.index(b"XMP ")] = new_xmp
    else:
        at = max(i for i, k in enumerate(kinds) if k in BEFORE_XMP) + 1
        pieces.insert(at, new_xmp)
    if kinds[0] == b"VP8X":
        pieces[0] = _chunk(b"VP8X", bytes(header))
    else:
        pieces.insert(0, _chunk(b"VP8X", bytes(header)))
    return _riff(pieces, data[riff_end:])


def _riff(pieces: list[bytes], trailing: bytes) -> bytes:
    body = b"WEBP" + b"".join(pieces)
    return b"RIFF" + struct.pack("<I", len(body)) + body + trailing


def check_lossless(old: bytes, new: bytes, name: str = "<webp>") -> None:
    a, a_end = walk(old, name)
    b, b_end = walk(new, name)
    if old[a_end:] != new[b_end:]:
        raise MetadataError(name, "WebP: the data after the RIFF changed")
    ours = (b"VP8X", b"XMP ", b"EXIF")
    kept_a = [(c.fourcc, c.data) for c in a if c.fourcc not in ours]
    kept_b = [(c.fourcc, c.data) for c in b if c.fourcc not in ours]
    if kept_a != kept_b:
        raise MetadataError(name, "WebP: an image chunk changed, moved or went missing")
    vp8x_a = [c.data for c in a if c.fourcc == b"VP8X"]
    vp8x_b = [c.data for c in b if c.fourcc == b"VP8X"]
    if vp8x_a and (not vp8x_b or vp8x_a[0][1:] != vp8x_b[0][1:]):
        raise MetadataError(name, "WebP: the VP8X canvas changed")
    if vp8x_a and (vp8x_a[0][0] | XMP_FLAG | EXIF_FLAG) != (vp8x_b[0][0] | XMP_FLAG | EXIF_FLAG):
        raise MetadataError(name, "WebP: a VP8X flag other than XMP or EXIF changed")
    if not vp8x_a and vp8x_b and vp8x_b[0][4:] != _vp8x(a, name)[4:]:
        raise MetadataError(name, "WebP: the new VP8X canvas is not the bitstream's size")
    exif_a = [_tiff(c) for c in a if c.fourcc == b"EXIF"]
    exif_b = [_tiff(c) for c in b if c.fourcc == b"EXIF"]
    if len(exif_a) != len(exif_b):
        raise MetadataError(name, "WebP: an EXIF chunk appeared or went missing")
    for x, y in zip(exif_a, exif_b, strict=True):
        tiffblock.check_appended(x, y, name, "EXIF")
