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

from types import ModuleType

from ...ground.errors import MetadataError
from . import jpeg, png, tiff, tiffblock, webp
from .contract import Change, DoesNotFit, Embedded

__all__ = ["Change", "DoesNotFit", "Embedded", "module_for"]

DNG_VERSION = 50706


def module_for(data: bytes) -> ModuleType | None:
    """The container module for ``data``, sniffed from its first bytes; None for every other
    format (HEIC, AVIF, RAW, GIF, BMP, ...), whose metadata goes to a sidecar."""
    if data.startswith(b"\xff\xd8\xff"):
        return jpeg
    if data.startswith(png.SIGNATURE):
        return png
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return webp
    if data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+") and not _is_raw(data):
        return tiff
    return None


def _is_raw(data: bytes) -> bool:
    """Camera RAW built on TIFF is sidecar-only (its makers' tools expect it untouched): a CR2
    mark, or DNGVersion in IFD0. NEF, ARW and the like look like plain TIFF from their bytes;
    the caller routes them by their extension."""
    if data[8:10] == b"CR":
        return True
    try:
        _, ifd = tiffblock.ifd0(data, "<sniff>")
    except MetadataError:
        return False
    return tiffblock.find(ifd, DNG_VERSION) is not None
