"""File containers (JPEG, PNG, WebP, TIFF): find the metadata blocks a photo holds and splice new
ones in without moving or re-encoding a single byte of the image.

The contract every container module keeps (``jpeg``, ``png``, ``webp``, ``tiff``):

- ``extract(data) -> Embedded``: the raw metadata found (raises ``MetadataError`` on a malformed
  container);
- ``embed(data, change) -> bytes``: a new file with ``change`` applied and every other byte copied
  (raises ``DoesNotFit`` when the XMP cannot go into the file, so the caller uses a sidecar);
- ``check_lossless(old, new)``: raises ``MetadataError`` unless the image payload of ``new`` is
  byte-identical to ``old``'s (JPEG scan data, PNG IDAT, WebP image chunks, TIFF original bytes).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Embedded:
    """The metadata blocks one file holds, as raw as they are stored."""

    format: str  # "jpeg" | "png" | "webp" | "tiff"
    xmp: bytes | None = None  # the main XMP packet, in whatever encoding it is stored
    extended_xmp: bytes | None = None  # JPEG ExtendedXMP, reassembled (read only, never touched)
    has_exif: bool = False  # an EXIF block exists
    exif_description: bytes | None = None  # IFD0 ImageDescription (trailing NULs stripped)
    has_iim: bool = False  # an IPTC IIM block exists (JPEG APP13 / TIFF tag 33723)
    iim_caption: bytes | None = None  # IIM 2:120 Caption-Abstract
    iim_utf8: bool = False  # IIM 1:90 declares UTF-8
    png_descriptions: tuple[str, ...] = ()  # PNG tEXt/zTXt/iTXt "Description" texts


@dataclass(frozen=True)
class Change:
    """What to change; ``None`` keeps a block as it is."""

    xmp: bytes | None = None  # the complete new main packet, UTF-8, with <?xpacket?> wrapper
    exif_description: str | None = None
    exif_utf8: bool = False  # allow non-ASCII ImageDescription (Exif 3.0 UTF-8); off by default
    iim_caption: str | None = None  # written UTF-8 with 1:90, Photoshop IRB digest recomputed


class DoesNotFit(Exception):
    """The XMP packet does not fit into this container (JPEG: one APP1 of at most 65,502 bytes
    of packet); the caller writes a sidecar instead."""
