"""The check every bundle passes before the engine creates sessions for it (issue: tampering).

Structure and safety (symlinks, hard links, external data leaving the folder) are checked on
every load; they are cheap. The SHA-256 of every file against the manifest is checked too, but
hashing ~250 MB on each launch would cost start-up time, so a verified bundle is remembered by
its files' (size, mtime, inode) and re-hashed only when one of them changes. A bundle without a
manifest (a folder passed with --model) is checked for structure and safety, and its sessions
are created once in a throw-away process (engine/probe.py) so that a model crashing the runtime
costs an error message, not the app.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from ..engine.errors import ModelError
from ..paths import shipped_inside
from .manifest import MANIFEST_NAME, check_external_data, check_tree_safety, read_manifest, verify

log = logging.getLogger(__name__)
StrPath = str | os.PathLike[str]


def _fingerprint(root: Path) -> str | None:
    try:
        doc = read_manifest(root)
    except ModelError:
        return None
    if doc is None:
        return None
    h = hashlib.sha256((root / MANIFEST_NAME).read_bytes())
    for rel in sorted(doc["files"]):
        try:
            st = (root / rel).lstat()
        except OSError:
            return None
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0".encode())
    return h.hexdigest()


def _stamp_file() -> Path:
    from ..paths import user_data_dir

    return user_data_dir() / "verified-bundles.json"


def _read_stamps() -> dict[str, str]:
    try:
        data = json.loads(_stamp_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember(key: Path | str, fingerprint: str) -> None:
    stamps = _read_stamps()
    stamps[str(key)] = fingerprint
    target = _stamp_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stamps, indent=1), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as e:  # a read-only home only costs a re-hash next time
        log.info("cannot remember the verified bundle: %s", e)


def _onnx_files(root: Path, loads: list[Path] | None) -> list[Path]:
    """The ONNX files to check: `loads` (those the engine will open), else every one but the
    derived `optimized/` copies, which the engine makes itself from a checked source. Files the
    engine never opens (other precisions, other decoder forms) cost no time at start-up;
    `models verify` still checks them all."""
    if loads is not None:
        return sorted(loads)
    return sorted(
        p
        for p in root.rglob("*.onnx")
        if p.is_file() and "optimized" not in p.relative_to(root).parts
    )


def _probe_untrusted(root: Path, files: list[Path]) -> list[str]:
    """No manifest: open the ONNX files in a throw-away process once (remembered per file state)."""
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0".encode())
    key, fingerprint = f"probe:{root}", h.hexdigest()
    if _read_stamps().get(key) == fingerprint:
        return []
    from ..engine.probe import probe_sessions

    try:
        probe_sessions(files)
    except ModelError as e:
        return [f"{Path(e.path).name}: {e.reason}"]
    _remember(key, fingerprint)
    return []


def check_before_load(bundle_dir: StrPath, *, loads: list[Path] | None = None) -> None:
    """Raise `ModelError` naming the bundle and every problem; return quietly when it is sound.

    `loads`: the ONNX files the engine will open (see `_onnx_files`)."""
    root = Path(bundle_dir).resolve()
    files = _onnx_files(root, loads)
    problems = check_tree_safety(root)
    for onnx_file in files:
        if not onnx_file.is_symlink():
            problems += check_external_data(onnx_file, root)
    # the model unpacked from the running executable (a new folder at every launch, so a
    # remembered check never applies there) came out of the same archive as this code: hashing
    # it again at each launch (1-2 s for the full model) would guard against nothing that
    # changing the executable could not also do; a model beside the executable is checked
    if not problems and (root / MANIFEST_NAME).exists() and not shipped_inside(root):
        fingerprint = _fingerprint(root)
        if fingerprint is None or _read_stamps().get(str(root)) != fingerprint:
            problems = verify(root)
            if not problems and fingerprint is not None:
                _remember(root, fingerprint)
    if not problems and not (root / MANIFEST_NAME).exists():
        problems = _probe_untrusted(root, files)
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise ModelError(str(root), f"refusing to load this model bundle: {shown}")
