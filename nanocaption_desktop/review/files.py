"""A photo's identity on disk, and whether it changed since it was captioned.

Size and mtime say it at once for almost every photo. A photo whose mtime moved but whose size
did not (copied back, touched, synced) is compared by a quick hash: SHA-256 of its size and of
its first and last ``QUICK_CHUNK`` bytes, where every format keeps what changes when an image is
edited (headers, metadata, the end of the pixel data). It is computed only when an identity is
taken for a caption (``identity_of(..., with_hash=True)``) and when a photo's mtime moved.
"""

from __future__ import annotations

import hashlib
import os

from .model import Identity

QUICK_CHUNK = 64 * 1024


def quick_hash(path: str | os.PathLike[str]) -> str:
    """``OSError`` when the photo cannot be read."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        digest = hashlib.sha256(str(size).encode("ascii"))
        digest.update(f.read(QUICK_CHUNK))
        if size > QUICK_CHUNK:
            f.seek(max(QUICK_CHUNK, size - QUICK_CHUNK))
            digest.update(f.read(QUICK_CHUNK))
    return digest.hexdigest()


def identity_of(path: str | os.PathLike[str], *, with_hash: bool = False) -> Identity:
    """The photo's identity now; ``OSError`` when it cannot be read."""
    st = os.stat(path)
    return Identity(st.st_size, st.st_mtime_ns, quick_hash(path) if with_hash else None)


def identity_if_readable(
    path: str | os.PathLike[str], *, with_hash: bool = False
) -> Identity | None:
    """``identity_of``, or None when the photo cannot be read (captioning will say why)."""
    try:
        return identity_of(path, with_hash=with_hash)
    except OSError:
        return None


def unchanged(saved: Identity, path: str | os.PathLike[str], st: os.stat_result) -> Identity | None:
    """The photo's identity when it is the photo ``saved`` describes (touched at most: then
    with the new mtime), None when it changed or cannot be read."""
    if st.st_size != saved.size:
        return None
    if st.st_mtime_ns == saved.mtime_ns:
        return saved
    if saved.quick_hash is None:
        return None
    try:
        now = quick_hash(path)
    except OSError:
        return None
    return Identity(st.st_size, st.st_mtime_ns, now) if now == saved.quick_hash else None
