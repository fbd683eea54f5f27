"""The container contract's types (re-exported by the package): what a file holds, what to change,
and the refusal that sends the caller to a sidecar."""

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
