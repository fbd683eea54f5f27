"""Descriptions inside photos: read what a photo already says, write alt text losslessly.

Beside ``jobs`` (which uses it); uses only ``ground``, the standard library, defusedxml and Pillow
(to verify pixels). No Qt. See docs/architecture.md.

    read_descriptions(path) -> Descriptions     every field found, where, and which one wins
    write_alt_text(path, text, ...) -> WriteResult   into the file, or its XMP sidecar
"""

from __future__ import annotations

from .descriptions import Descriptions, Field, read_descriptions
from .write import WriteResult, write_alt_text

__all__ = ["Descriptions", "Field", "WriteResult", "read_descriptions", "write_alt_text"]
