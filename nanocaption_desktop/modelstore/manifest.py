"""The bundle manifest (file -> size + SHA-256) and the safety checks run before loading a bundle.

``manifest.json`` is written when a bundle is installed; ``verify`` compares the files against it.
``check_tree_safety`` and ``check_external_data`` refuse bundles that could make onnxruntime read
files outside the bundle folder (issue 7, point 3): symlinks, hard links, external-data references
that are absolute, contain ``..`` or resolve outside the folder.

Hard links (`link_rule`). A bundle file that is a hard link to a file outside the bundle lets
whoever can write that outside name change what we load after it was verified, and lets a bundle
point onnxruntime at a file the user never put in it (a private file linked under an external-data
name is read as raw weights). Neither applies to a file whose content the manifest check pins at
this load (SHA-256, re-hashed whenever the file's ctime moves, which every write through any link
does): such a link is allowed, so an untouched bundle is not refused because another folder
hard-links one of its files. Without a manifest nothing pins any content, and what a link adds is
only the second case: a graph or JSON file is parsed as what it claims to be, so a link is allowed
there too, but a hard-linked external-data file is refused. A bundle with a manifest refuses a
link on any file the manifest does not pin (not listed, or not hashed: inside the executable).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..ground.durable import write_atomically
from ..ground.errors import ModelError
from ..ground.hashing import file_sha256
from .onnxrefs import OnnxReadError, external_refs

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1

__all__ = [
    "MANIFEST_NAME",
    "check_bundle",
    "check_external_data",
    "check_tree_safety",
    "file_sha256",
    "link_rule",
    "pinned_files",
    "read_manifest",
    "verify",
    "write_manifest",
]

StrPath = str | os.PathLike[str]


def _bundle_files(root: Path) -> list[str]:
    """Regular files under ``root`` (relative, with /), minus the manifest and temp files."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name == MANIFEST_NAME or name.startswith(".") or name.endswith((".part", ".tmp")):
                continue
            full = Path(dirpath) / name
            if full.is_file() and not full.is_symlink():
                found.append(full.relative_to(root).as_posix())
    return found


def write_manifest(
    bundle_dir: StrPath,
    *,
    source: dict[str, Any] | None = None,
    files: list[str] | None = None,
    known: dict[str, tuple[int, str]] | None = None,
) -> Path:
    """Write ``manifest.json`` atomically (``ground.durable.write_atomically``) and return its path.

    ``files``: relative paths to list (default: every regular file). ``known``: sizes and hashes
    already computed (``fetch`` hashes while downloading), so large files are not read twice.
    Refuses (ModelError) a folder that fails ``check_tree_safety``.
    """
    root = Path(bundle_dir)
    problems = check_tree_safety(root)
    if problems:
        raise ModelError(str(root), "refusing to write a manifest: " + "; ".join(problems))
    entries: dict[str, dict[str, Any]] = {}
    for rel in files if files is not None else _bundle_files(root):
        size, sha = (known or {}).get(rel) or file_sha256(root / rel)
        entries[rel] = {"size": size, "sha256": sha}
    doc = {
        "format": MANIFEST_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "files": entries,
    }
    target = root / MANIFEST_NAME
    write_atomically(target, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    log.info("wrote %s (%d files)", target, len(entries))
    return target


def read_manifest(bundle_dir: StrPath) -> dict[str, Any] | None:
    """The parsed manifest, or None when there is none. A broken one raises ModelError."""
    path = Path(bundle_dir) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ModelError(str(path), f"cannot read the manifest ({e.strerror or e})") from e
    try:
        doc = json.loads(text)
        files = doc["files"]
        if not isinstance(files, dict) or not all(
            isinstance(v, dict)
            and isinstance(v.get("size"), int)
            and isinstance(v.get("sha256"), str)
            for v in files.values()
        ):
            raise ValueError("bad 'files' table")
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(str(path), f"the manifest is not valid ({e})") from e
    return doc


def verify(bundle_dir: StrPath) -> list[str]:
    """Problems found comparing the files with the manifest; an empty list means all match."""
    root = Path(bundle_dir)
    try:
        doc = read_manifest(root)
    except ModelError as e:
        return [str(e)]
    if doc is None:
        return [f"{MANIFEST_NAME} is missing (the bundle was not installed by models fetch)"]
    problems = []
    for rel, entry in sorted(doc["files"].items()):
        bad = _unsafe_relative(rel)
        if bad:
            problems.append(f"{rel}: manifest entry {bad}")
            continue
        path = root / rel
        try:
            st = path.lstat()
        except FileNotFoundError:
            problems.append(f"{rel}: missing")
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"{rel}: not a regular file")
        elif st.st_size != entry["size"]:
            problems.append(f"{rel}: size {st.st_size} bytes, the manifest says {entry['size']}")
        elif file_sha256(path)[1] != entry["sha256"].lower():
            problems.append(f"{rel}: SHA-256 differs from the manifest (the file was changed)")
    return problems


def check_tree_safety(
    bundle_dir: StrPath, *, links_ok: Callable[[str], bool] | None = None
) -> list[str]:
    """Symlinks, hard-linked files, special files and anything resolving outside the folder.

    `links_ok(relative path)`: whether a hard link on that file is harmless (`link_rule`);
    by default every hard-linked file is refused (writing a manifest over one, for instance)."""
    root = Path(bundle_dir).resolve()
    problems: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            try:
                st = path.lstat()
            except OSError as e:
                problems.append(f"{rel}: cannot be read ({e.strerror or e})")
                continue
            if stat.S_ISLNK(st.st_mode):
                problems.append(f"{rel}: is a symbolic link (copy the real file in its place)")
            elif stat.S_ISDIR(st.st_mode):
                continue
            elif not stat.S_ISREG(st.st_mode):
                problems.append(f"{rel}: not a regular file")
            elif st.st_nlink > 1 and not (links_ok and links_ok(rel)):
                problems.append(f"{rel}: is hard-linked ({st.st_nlink} links; copy it instead)")
            elif not path.resolve().is_relative_to(root):
                problems.append(f"{rel}: resolves outside the bundle folder")
    return problems


def _unsafe_relative(location: str) -> str | None:
    """Why a stored relative path is unsafe, or None."""
    if not location:
        return "is empty"
    if "\x00" in location:
        return "contains a NUL character"
    if (
        PurePosixPath(location).is_absolute()
        or PureWindowsPath(location).is_absolute()
        or (PureWindowsPath(location).drive or location.startswith(("/", "\\")))
    ):
        return f"is an absolute path ({location!r})"
    if ".." in location.replace("\\", "/").split("/"):
        return f"goes up with '..' ({location!r})"
    return None


def check_external_data(onnx_path: StrPath, bundle_dir: StrPath | None = None) -> list[str]:
    """Problems with the external-data references of one ONNX file (empty list: none or all safe).

    References are refused when absolute, containing ``..``, resolving outside ``bundle_dir``
    (default: the model's folder) or pointing at a missing file.
    """
    model = Path(onnx_path)
    root = Path(bundle_dir if bundle_dir is not None else model.parent).resolve()
    label = model.name
    try:
        refs = external_refs(model)
    except OnnxReadError as e:
        return [f"{label}: {e}"]
    except OSError as e:
        return [f"{label}: cannot be read ({e.strerror or e})"]
    problems = []
    for tensor, location in refs:
        what = f"{label}: tensor {tensor!r} keeps its data in another file"
        if location is None:
            problems.append(f"{what} but names none")
            continue
        bad = _unsafe_relative(location)
        if bad:
            problems.append(f"{what} whose path {bad}; refused")
            continue
        target = model.parent / location
        if not target.resolve().is_relative_to(root):
            problems.append(f"{what} outside the bundle folder ({location!r}); refused")
        elif not target.is_file():
            problems.append(f"{what} that is missing ({location!r})")
    return problems


def _external_data_files(root: Path, onnx_files: Iterable[Path]) -> set[str]:
    """The files (relative to `root`) that `onnx_files` name as external data."""
    found = set()
    for model in onnx_files:
        try:
            refs = external_refs(model)
        except (OnnxReadError, OSError):
            continue  # reported by check_external_data
        for _tensor, location in refs:
            if location and not _unsafe_relative(location):
                target = (model.parent / location).resolve()
                if target.is_relative_to(root):
                    found.add(target.relative_to(root).as_posix())
    return found


def pinned_files(root: Path, *, has_manifest: bool, hashed: bool) -> set[str] | None:
    """The files whose content the manifest pins at this load (for `link_rule`): those it lists
    when it is ``hashed`` now; none when a manifest is there but unreadable (verify reports it)
    or not hashed here; None without a manifest."""
    if not has_manifest:
        return None
    try:
        doc = read_manifest(root) if hashed else None
    except ModelError:
        doc = None
    return set(doc["files"]) if doc else set()


def link_rule(
    bundle_dir: StrPath, onnx_files: Iterable[Path], pinned: Iterable[str] | None
) -> Callable[[str], bool]:
    """Which hard-linked files are harmless (module docstring): with a manifest, those whose
    content it pins at this load (`pinned`, relative paths); without one (`pinned` None), all but
    the external-data files that `onnx_files` name."""
    if pinned is not None:
        return set(pinned).__contains__
    data = _external_data_files(Path(bundle_dir).resolve(), onnx_files)
    return lambda rel: rel not in data


def check_bundle(bundle_dir: StrPath, *, require_manifest: bool = False) -> list[str]:
    """Every check to run before creating sessions for a bundle: tree safety, external data of
    each ``.onnx`` file, and the manifest (when there is one, or always with ``require_manifest``).
    """
    root = Path(bundle_dir)
    onnx_files = []
    for dirpath, _dirs, filenames in os.walk(root):  # does not follow symlinked folders
        for name in sorted(filenames):
            onnx_file = Path(dirpath) / name
            if name.endswith(".onnx") and not onnx_file.is_symlink():
                onnx_files.append(onnx_file)
    has_manifest = require_manifest or (root / MANIFEST_NAME).exists()
    pinned = pinned_files(root, has_manifest=has_manifest, hashed=has_manifest)
    problems = check_tree_safety(root, links_ok=link_rule(root, onnx_files, pinned))
    for onnx_file in onnx_files:
        problems += check_external_data(onnx_file, root)
    if has_manifest:
        problems += verify(root)
    return problems
