"""``models fetch``: download a known bundle, check every file, install it in one rename.

Files are streamed into ``<dest>.partial/`` (beside the destination, so the final rename stays on
one file system): ``<file>.part`` while it arrives, ``<file>`` once its size and SHA-256 are
checked. A later ``fetch`` resumes a ``.part`` file with an HTTP Range request. When every file is
in, ``manifest.json`` is written as the last file and the staging folder is renamed to ``<dest>``
(``ground.durable.rename``: every file fsync'd before its rename), so ``<dest>`` never exists
half-filled. A run that received nothing (hub unreachable) removes the folders it created: it
leaves nothing behind. A file that fails its size or hash check (or an error status) aborts the
run and deletes the staging folder.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from ..ground import durable
from ..ground.errors import ModelError
from .download import CancelFlag, Expected, Interrupted, ProgressFn, Rejected, Unreachable, download
from .locate import MODEL_DIR_ENV, default_install_dir
from .manifest import MANIFEST_NAME, check_tree_safety, verify, write_manifest
from .registry import DEFAULT_BUNDLE, BundleSpec, get_spec, hub_base_url

log = logging.getLogger(__name__)

__all__ = ["FetchError", "fetch", "manual_install_help", "staging_dir"]


class FetchError(ModelError):
    """A bundle could not be downloaded. ``str()`` says why and what to do instead."""


def staging_dir(dest: Path) -> Path:
    """Where a download into ``dest`` is assembled: ``<dest>.partial``."""
    return dest.with_name(dest.name + ".partial")


def manual_install_help(spec: BundleSpec, dest: Path, base_url: str | None = None) -> str:
    """How to install ``spec`` without ``models fetch`` (several lines)."""
    files = "".join(f"\n  {f.path}" for f in spec.files)
    return (
        f"To install the model by hand, download these files from {spec.page_url(base_url)}:"
        f"{files}\nand put them in {dest} (keep the onnx/ subfolder), or put them in any "
        f"folder and pass --model DIR or set {MODEL_DIR_ENV}=DIR."
    )


def fetch(
    name: str = DEFAULT_BUNDLE,
    *,
    dest: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    base_url: str | None = None,
    timeout: float = 10.0,
    retries: int = 3,
    force: bool = False,
) -> Path:
    """Download bundle ``name`` into ``dest`` (default ``<user data dir>/models/<name>``).

    ``progress(bytes_done, bytes_total_or_None, file_name)`` is called as data arrives;
    ``cancel.is_set()`` is checked between chunks (raises Cancelled; the partial download is kept).
    ``retries``: immediate Range resumes after a broken connection that had made progress.
    An installed bundle that verifies is returned untouched; one that does not is downloaded
    again and replaced; a folder without a manifest (installed by hand) is left alone and is an
    error. ``force`` downloads and replaces in every case.
    Raises FetchError (a ModelError) with a message meant for people.
    """
    spec = get_spec(name)
    target = Path(dest).expanduser() if dest is not None else default_install_dir(name)
    hub = hub_base_url(base_url)
    if _installed_already(name, target, force=force):
        return target
    staging = staging_dir(target)
    created = _missing_ancestors(staging)
    staging.mkdir(parents=True, exist_ok=True)
    known: dict[str, tuple[int, str]] = {}
    try:
        for file in spec.files:
            known[file.path] = _fetch_one(
                spec,
                file.path,
                Expected(file.size, file.sha256),
                staging,
                hub,
                progress,
                cancel,
                timeout,
                retries,
            )
        _write_manifest(spec, staging, hub, known)
        _install(staging, target)
    except (Unreachable, Interrupted, Rejected) as e:
        raise _failure(e, spec, staging, created, target, hub, base_url) from e
    except BaseException:
        _cleanup(staging, created)
        raise
    log.info("installed %s in %s", name, target)
    return target


def _installed_already(name: str, target: Path, *, force: bool) -> bool:
    """True when ``target`` holds a bundle that verifies (and ``force`` is off); a
    ``FetchError`` when ``target`` may not be replaced (not a folder, or files fetch did not
    install)."""
    if target.exists() and not target.is_dir():
        raise FetchError(str(target), "exists and is not a folder; choose another destination")
    if not target.exists() or force:
        return False
    if not (target / MANIFEST_NAME).exists() and any(target.iterdir()):
        raise FetchError(
            str(target),
            "this folder holds files that models fetch did not "
            "install; move them away first (or fetch with force)",
        )
    if not verify(target) and not check_tree_safety(target):
        log.info("%s is already installed in %s", name, target)
        return True
    return False


def _write_manifest(
    spec: BundleSpec, staging: Path, hub: str, known: dict[str, tuple[int, str]]
) -> None:
    source = {
        "bundle": spec.name,
        "repo": spec.repo,
        "revision": spec.revision,
        "hub": hub,
        "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_manifest(staging, source=source, files=[f.path for f in spec.files], known=known)


def _failure(
    e: Unreachable | Interrupted | Rejected,
    spec: BundleSpec,
    staging: Path,
    created: list[Path],
    target: Path,
    hub: str,
    base_url: str | None,
) -> FetchError:
    """Clean up after a failed download and say what happened and what to do."""
    if isinstance(e, Unreachable):
        _cleanup(staging, created)
        return FetchError(
            spec.repo,
            f"could not reach the model hub at {hub} ({e}).\n"
            + manual_install_help(spec, target, base_url),
        )
    if isinstance(e, Interrupted):
        _cleanup(staging, created)
        return FetchError(
            str(target),
            f"the download was interrupted ({e}). Run models fetch "
            f"again to resume; what arrived is kept in {staging}.",
        )
    shutil.rmtree(staging, ignore_errors=True)  # the source is not trusted: start clean
    _cleanup(staging, created)
    return FetchError(
        str(target),
        f"{e}. Nothing was installed.\n" + manual_install_help(spec, target, base_url),
    )


def _fetch_one(
    spec: BundleSpec,
    rel: str,
    pinned: Expected,
    staging: Path,
    hub: str,
    progress: ProgressFn | None,
    cancel: CancelFlag | None,
    timeout: float,
    retries: int,
) -> tuple[int, str]:
    final = staging / rel
    part = final.with_name(final.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # checked in an earlier run: check it again against what the hub says now
        durable.rename(final, part)
    url = spec.file_url(rel, hub)
    attempt = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            result = download(
                url,
                part,
                name=rel,
                pinned=pinned,
                progress=progress,
                cancel=cancel,
                timeout=timeout,
            )
            break
        except Interrupted as e:
            now = part.stat().st_size if part.exists() else 0
            attempt += 1
            if attempt > retries or 0 < now <= before:  # no progress: do not loop
                raise
            log.warning("%s; resuming at byte %d (attempt %d of %d)", e, now, attempt, retries)
    durable.rename(part, final)  # the finished file is fsync'd before its rename
    return result


def _install(staging: Path, target: Path) -> None:
    """Rename the finished staging folder to ``target``, replacing an old install if any."""
    if not (staging / MANIFEST_NAME).is_file():
        raise ModelError(str(staging), "refusing to install a folder without a manifest")
    if target.exists() or target.is_symlink():
        old = target.with_name(f"{target.name}.old-{os.getpid()}")
        durable.rename(target, old)
        try:
            durable.rename(staging, target)
        except OSError:
            durable.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        durable.rename(staging, target)


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    return missing


def _cleanup(staging: Path, created: list[Path]) -> None:
    """Remove what this run created when it holds no data; keep partial downloads for resuming."""
    if not created:
        return
    if staging.exists():
        has_data = any(
            f.stat().st_size > 0 for f in staging.rglob("*") if f.is_file() and not f.is_symlink()
        )
        if has_data:
            return
        shutil.rmtree(staging, ignore_errors=True)
    for folder in created[1:]:  # the parents we made, deepest first, only while empty
        try:
            folder.rmdir()
        except OSError:
            break
