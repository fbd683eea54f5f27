"""The one SHA-256 helper: bundle manifests, downloads (resumed) and derived copies use it."""

from __future__ import annotations

import hashlib
import os
from typing import Any

__all__ = ["file_sha256", "hash_file"]

_CHUNK = 1 << 20

StrPath = str | os.PathLike[str]


def hash_file(path: StrPath, digest: Any = None) -> Any:
    """Feed the file at ``path`` into ``digest`` (a new SHA-256 when None), 1 MiB at a time, and
    return it: a resumed download continues the digest of what it already has."""
    digest = hashlib.sha256() if digest is None else digest
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest


def file_sha256(path: StrPath) -> tuple[int, str]:
    """``(size in bytes, lowercase hex SHA-256)`` of a file, both from the same read."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
