"""A derived copy's manifest: what it records of the source and of its own files.

`manifest.json` in the copy's folder records the source file (name, size, mtime, SHA-256), the
copy's own files (size, mtime, SHA-256), the format of the recipe that made it and the library
versions; or, for a source no copy can be derived from, that it is unusable and why. Written
atomically and fsync'd (`ground.durable.write_atomically`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import onnxruntime as ort

from ...ground.durable import write_atomically
from ...ground.hashing import file_sha256

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
UNUSABLE = "unusable"  # what `cache.read` returns for a source no copy can be derived from


def sha256(path: Path) -> str:
    """The hex SHA-256 of the file at `path` (ground.hashing, the one hash helper)."""
    return file_sha256(path)[1]


def source_facts(source: Path) -> dict[str, Any]:
    st = source.stat()
    return {"name": source.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> SHA-256


def digest(source: Path, facts: dict[str, Any]) -> str:
    """`sha256(source)`, hashed once per file state (a first open asks twice: `derive_pending`,
    then the load itself)."""
    key = (str(source), facts["size"], facts["mtime_ns"])
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256(source)
    return _DIGESTS[key]


def read_manifest(folder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return doc


def write_manifest(folder: Path, doc: dict[str, Any]) -> None:
    write_atomically(folder / MANIFEST, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))


def recorded(
    folder: Path, doc: dict[str, Any], files: Iterable[str], facts: tuple[str, ...]
) -> bool:
    """Whether the `files` in `folder` have the `facts` ("size", "mtime_ns") that `doc`, their
    manifest, records."""
    for name in files:
        st = (folder / name).stat()
        if any(getattr(st, f"st_{f}") != doc["files"][name][f] for f in facts):
            log.info("%s: %s is not the file its manifest records", folder, name)
            return False
    return True


def versions() -> dict[str, str]:
    try:
        import onnx

        onnx_version = onnx.__version__
    except ImportError:
        onnx_version = "none"
    return {"onnx": onnx_version, "onnxruntime": ort.__version__}
