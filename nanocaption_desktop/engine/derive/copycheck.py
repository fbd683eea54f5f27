"""The content check of a derived copy (cache.py): as strong as the stock files' check.

A derived copy's manifest records each file's size, mtime and SHA-256. Before a copy is used the
files are hashed and compared, unless the same check already passed on the same file states
(size, mtime, inode, ctime and the manifest's bytes; modelstore/stamps.py, the store the bundle
check uses): a start with a remembered copy hashes nothing. A copy that fails is forgotten; a
cached copy is then derived again, a copy shipped alone (no stock graph to derive from) refused.
Files the check refuses: not regular files (a symlink), of another size or SHA-256, with no
SHA-256 recorded (made by an older version), a graph keeping data anywhere but in its own data
file (`<graph>.data` beside it, itself one of the copy's files, hashed like the graph).
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .external import data_file
from .manifest import MANIFEST

log = logging.getLogger(__name__)


def _key(folder: Path) -> str:
    return f"derived:{folder.resolve()}"


def _fingerprint(folder: Path, names: tuple[str, ...]) -> str:
    from ...modelstore import stamps

    return stamps.fingerprint(((n, folder / n) for n in names), (folder / MANIFEST).read_bytes())


def remember_made(folder: Path, names: tuple[str, ...]) -> None:
    """Record a copy just derived and hashed here, so that the next start does not hash it."""
    from ...modelstore import stamps

    try:
        stamps.remember(_key(folder), _fingerprint(folder, names))
    except OSError as e:
        log.info("%s: not remembered (%s)", folder, e)


def _file_problem(path: Path, entry: Mapping[str, Any]) -> str | None:
    from ...modelstore.manifest import check_external_data, file_sha256
    from ...modelstore.onnxrefs import external_refs

    st = path.lstat()
    sha = entry.get("sha256")
    if not stat.S_ISREG(st.st_mode):
        return f"{path}: not a regular file"
    if not isinstance(sha, str):
        return f"{path}: its manifest records no SHA-256 (made by an older version)"
    if st.st_size != entry.get("size"):
        return f"{path}: size {st.st_size} bytes, its manifest says {entry.get('size')}"
    if file_sha256(path)[1] != sha.lower():
        return f"{path}: SHA-256 differs from its manifest (the file was changed)"
    if path.suffix != ".onnx":
        return None  # a graph's data file: its bytes are all there is to check
    external = check_external_data(path, path.parent)
    if not external:
        external = [
            f"tensor {tensor!r} keeps its data in {location!r}, not in {data_file(path.name)!r}"
            for tensor, location in external_refs(path)
            if location != data_file(path.name)
        ]
    return f"{path}: {external[0]}" if external else None


def content_problems(
    folder: Path, doc: Mapping[str, Any], names: tuple[str, ...], *, force: bool = False
) -> list[str]:
    """What is wrong with the files `names` of the derived copy in `folder` (manifest `doc`);
    an empty list when they match. `force`: hash even when a passed check is remembered."""
    from ...modelstore import stamps

    key = _key(folder)
    try:
        fingerprint = _fingerprint(folder, names)
    except OSError as e:
        stamps.forget(key)
        return [f"{folder}: cannot be read ({e.strerror or e})"]
    if not force and stamps.recall(key) == fingerprint:
        return []
    problems = []
    for name in names:
        try:
            problem = _file_problem(folder / name, doc["files"][name])
        except OSError as e:
            problem = f"{folder / name}: cannot be read ({e.strerror or e})"
        except (KeyError, TypeError, AttributeError):
            problem = f"{folder / name}: not recorded in its manifest"
        if problem:
            problems.append(problem)
    if problems:
        stamps.forget(key)
        log.warning("derived copy %s: %s", folder, "; ".join(problems))
    else:
        stamps.remember(key, fingerprint)
    return problems
