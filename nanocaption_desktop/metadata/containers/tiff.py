"""TIFF (II and MM): XMP (tag 700), ImageDescription and IPTC (tag 33723), append-only.

The new values and a new copy of IFD0 go at the end of the file and the header's IFD0 pointer is
repointed (``tiffblock``): no existing byte moves, so strips, tiles, SubIFDs and MakerNotes keep
their offsets. The IIM tag is written only when asked (``change.iim_caption``); a Photoshop
resource block (tag 34377) that holds IPTC or its digest is updated with it, so the digest stays
true. BigTIFF is refused with ``DoesNotFit`` (its 8-byte offsets are not handled): a sidecar.
"""

from __future__ import annotations

from ...ground.errors import MetadataError
from . import iim, tiffblock
from .contract import Change, DoesNotFit, Embedded

PHOTOSHOP_TAG = 34377
BYTE, UNDEFINED, LONG = 1, 7, 4


def _ifd0(data: bytes, name: str) -> tuple[tiffblock.Header, tiffblock.Ifd]:
    head = tiffblock.header(data, name)
    if head.bigtiff:
        raise DoesNotFit("BigTIFF: its metadata is written to a sidecar")
    return head, tiffblock.read_ifd(data, head.endian, head.ifd0, name)


def _value(
    data: bytes, head: tiffblock.Header, ifd: tiffblock.Ifd, tag: int, name: str
) -> bytes | None:
    entry = tiffblock.find(ifd, tag)
    return None if entry is None else tiffblock.value(data, head.endian, entry, name)


def extract(data: bytes, name: str = "<tiff>") -> Embedded:
    try:
        head, ifd = _ifd0(data, name)
    except DoesNotFit as e:
        raise MetadataError(name, str(e)) from e
    description = _value(data, head, ifd, tiffblock.IMAGE_DESCRIPTION, name)
    block = _value(data, head, ifd, tiffblock.IPTC_TAG, name)
    caption, utf8 = iim.caption_and_charset(block, name) if block is not None else (None, False)
    return Embedded(
        format="tiff",
        xmp=_value(data, head, ifd, tiffblock.XMP_TAG, name),
        has_exif=True,  # IFD0 is the EXIF block: ImageDescription can always be written
        exif_description=description.rstrip(b"\0") if description is not None else None,
        has_iim=block is not None,
        iim_caption=caption,
        iim_utf8=utf8,
    )


def _type_of(ifd: tiffblock.Ifd, tag: int, allowed: tuple[int, ...], default: int) -> int:
    entry = tiffblock.find(ifd, tag)
    return entry.type if entry is not None and entry.type in allowed else default


def embed(data: bytes, change: Change, name: str = "<tiff>") -> bytes:
    head, ifd = _ifd0(data, name)
    updates: dict[int, tuple[int, bytes]] = {}
    if change.xmp is not None:
        kind = _type_of(ifd, tiffblock.XMP_TAG, (BYTE, UNDEFINED), BYTE)
        updates[tiffblock.XMP_TAG] = (kind, change.xmp)
    if change.exif_description is not None:
        value = tiffblock.description_value(change.exif_description, change.exif_utf8, name)
        updates[tiffblock.IMAGE_DESCRIPTION] = value
    if change.iim_caption is not None:
        old = _value(data, head, ifd, tiffblock.IPTC_TAG, name)
        block = iim.set_caption(old, change.iim_caption, name)
        kind = _type_of(ifd, tiffblock.IPTC_TAG, (BYTE, UNDEFINED, LONG), UNDEFINED)
        if kind == LONG:  # Photoshop's way: whole 32-bit units, NUL padded
            block += b"\0" * (-len(block) % 4)
        updates[tiffblock.IPTC_TAG] = (kind, block)
        irb = _value(data, head, ifd, PHOTOSHOP_TAG, name)
        if irb is not None and _holds_iptc(irb, name):
            kind = _type_of(ifd, PHOTOSHOP_TAG, (BYTE, UNDEFINED), UNDEFINED)
            updates[PHOTOSHOP_TAG] = (
                kind,
                iim.with_block(irb, block, name, add=False),
            )
    if not updates:
        return data
    return tiffblock.set_tags(data, updates, name, "TIFF")


def _holds_iptc(irb: bytes, name: str) -> bool:
    ids = {r.id for r in iim.read_resources(irb, name)}
    return bool(ids & {iim.IIM_RESOURCE, iim.DIGEST_RESOURCE})


def check_lossless(old: bytes, new: bytes, name: str = "<tiff>") -> None:
    tiffblock.check_appended(old, new, name, "TIFF")
