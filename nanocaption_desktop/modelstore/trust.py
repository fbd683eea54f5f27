"""The check every bundle passes before the engine creates sessions for it (issue: tampering).

Structure and safety (symlinks, hard links, external data leaving the folder) are checked on
every load; they are cheap. The SHA-256 of every file against the manifest is checked too, but
hashing ~250 MB on each launch would cost start-up time, so a verified bundle is remembered by
its files' (size, mtime, inode, ctime) (stamps.py) and re-hashed only when one of them changes;
ctime is the part a writer cannot set back. A failed check forgets what was remembered. A bundle
without a manifest (a folder passed with --model) is checked for structure and safety, and its
sessions are created once in a throw-away process so that a model crashing the runtime costs an
error message, not the app; that probe is remembered the same way. Hard links: see manifest.py
(`link_rule`).

The probe opens sessions, which is the engine's business: the engine passes it in
(`engine.probe.check_before_load` calls `check_trust(..., probe=probe_sessions)`), so this module
decides when to probe and remembers the outcome without importing the engine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ..ground.errors import ModelError, ProbeFailed
from ..ground.paths import shipped_inside
from . import stamps
from .manifest import (
    MANIFEST_NAME,
    check_external_data,
    check_tree_safety,
    link_rule,
    pinned_files,
    read_manifest,
    verify,
)

log = logging.getLogger(__name__)
StrPath = str | os.PathLike[str]
#: Opens the given ONNX files' sessions in a throw-away process; raises `ModelError` naming the
#: file that failed or crashed the runtime (the engine's `probe_sessions`), `ProbeFailed` when the
#: check itself could not run (passed on as it is, never remembered).
ProbeFn = Callable[[Sequence[Path]], None]


def _fingerprint(root: Path) -> str | None:
    try:
        doc = read_manifest(root)
    except ModelError:
        return None
    if doc is None:
        return None
    try:
        return stamps.fingerprint(
            ((rel, root / rel) for rel in sorted(doc["files"])),
            (root / MANIFEST_NAME).read_bytes(),
        )
    except OSError:
        return None


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


def _probe_untrusted(root: Path, files: list[Path], probe: ProbeFn) -> list[str]:
    """No manifest: open the ONNX files in a throw-away process once (remembered per file state;
    a rewrite through any name moves the ctime, so it is probed again)."""
    key = f"probe:{root}"
    fingerprint = stamps.fingerprint((str(p), p) for p in files)
    if stamps.recall(key) == fingerprint:
        return []
    try:
        probe(files)
    except ProbeFailed:
        raise  # the check could not run: nothing is known, nothing is remembered
    except ModelError as e:
        stamps.forget(key)
        return [f"{Path(e.path).name}: {e.reason}"]
    stamps.remember(key, fingerprint)
    return []


def forget_verified(bundle_dir: StrPath) -> None:
    """Drop what is remembered about `bundle_dir` (after `models verify` found a problem)."""
    root = Path(bundle_dir).resolve()
    stamps.forget(str(root), f"probe:{root}")


def check_trust(bundle_dir: StrPath, *, probe: ProbeFn, loads: list[Path] | None = None) -> None:
    """Raise `ModelError` naming the bundle and every problem; return quietly when it is sound.

    `probe`: how to open an untrusted bundle's graphs in a throw-away process (required, so no
    caller can skip it by forgetting it); `loads`: the ONNX files the engine will open (see
    `_onnx_files`)."""
    root = Path(bundle_dir).resolve()
    files = _onnx_files(root, loads)
    has_manifest = (root / MANIFEST_NAME).exists()
    # the model unpacked from the running executable (a new folder at every launch, so a
    # remembered check never applies there) came out of the same archive as this code: hashing
    # it again at each launch (1-2 s for the full model) would guard against nothing that
    # changing the executable could not also do; a model beside the executable is checked
    hashed = has_manifest and not shipped_inside(root)
    pinned = pinned_files(root, has_manifest=has_manifest, hashed=hashed)
    problems = check_tree_safety(root, links_ok=link_rule(root, files, pinned))
    for onnx_file in files:
        if not onnx_file.is_symlink():
            problems += check_external_data(onnx_file, root)
    if not problems and hashed:
        fingerprint = _fingerprint(root)
        if fingerprint is None or stamps.recall(str(root)) != fingerprint:
            problems = verify(root)
            if problems:
                stamps.forget(str(root))
            elif fingerprint is not None:
                stamps.remember(str(root), fingerprint)
    if not problems and not has_manifest:
        problems = _probe_untrusted(root, files, probe)
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise ModelError(str(root), f"refusing to load this model bundle: {shown}")
