"""Derived copies of a bundle's graphs: derived once, cached beside the bundle, checked.

`derived_decoder(decoder_file)` returns the cross graph and step graph derived from that decoder
file (recipes.py), deriving them the first time; `derived_encoder(encoder_file)` the encoder
with its patch projection as a matrix product. A derived copy lives in `<bundle>/optimized/<stem>/`
(or, when the bundle folder is read-only, in the user cache folder under the source's SHA-256)
with a manifest (manifest.py). A changed source is derived again; a missing or broken copy is
derived again, and so is one whose files fail their SHA-256 check (copycheck.py); a copy
shipped without its stock graph that fails it is refused (ModelError). When `onnx` is not
installed or anything fails, it logs why and returns None, and the stock graph stays in use.
Before a derived copy is used for the first time it is checked against the stock graph on a
random input, bit for bit (checks.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...ground import durable
from ...ground.paths import user_cache_dir
from ..bundle import OPTIMIZED as FOLDER
from ..errors import ModelError
from .copycheck import content_problems, remember_made
from .manifest import (
    UNUSABLE,
    digest,
    read_manifest,
    recorded,
    sha256,
    source_facts,
    versions,
    write_manifest,
)
from .recipes import (
    CROSS,
    DECODER_RECIPE,
    ENCODER,
    ENCODER_RECIPE,
    ENGINE_RECIPE,
    OWN,
    OWN_RECIPE,
    ROWS,
    ROWS_RECIPE,
    STEP,
    Recipe,
    recipe_for,
)

log = logging.getLogger(__name__)

STOCK_ENV = "NANOCAPTION_STOCK_DECODER"


@dataclass(frozen=True)
class DerivedDecoder:
    folder: Path
    cross: Path
    step: Path
    broadcast: bool  # the step graph takes batch-1 image tensors next to several rows
    source: Path


@dataclass(frozen=True)
class DerivedRows:
    step: Path  # the rows graph
    per_image: frozenset[str]  # image tensors that take one row per image


def cache_root() -> Path:
    """The user's cache folder (ground.paths: the one place that knows platformdirs)."""
    return user_cache_dir()


def bundle_folder(source: Path, recipe: Recipe | None = None) -> Path:
    """Where the bundle keeps the derived copy of its graph `source` (the one `recipe` makes,
    when a source has two)."""
    root = source.parent.parent if source.parent.name == "onnx" else source.parent
    return root / FOLDER / ((recipe.folder if recipe else None) or source.stem)


def cache_folder(source: Path, facts: dict[str, Any], recipe: Recipe | None = None) -> Path:
    """Where the user cache keeps the derived copy of `source` (a read-only bundle's)."""
    stem = (recipe.folder if recipe else None) or source.stem
    return cache_root() / FOLDER / f"{stem}-{digest(source, facts)[:24]}"


def _read(
    folder: Path, source: Path, facts: dict[str, Any], recipe: Recipe
) -> dict[str, Any] | str | None:
    """The manifest of the cached copy in `folder` if it matches `source` and its files are the
    ones it records; `UNUSABLE` if it records that no copy can be derived from `source`; None if
    there is no valid copy."""
    try:
        doc = read_manifest(folder)
        if doc.get("format") != recipe.format:
            return None
        if recipe.stamp is not None and doc.get("stamp") != recipe.stamp():
            return None  # made with something else (another build of the own kernel)
        src = doc["source"]
        if (src["name"], src["size"]) != (facts["name"], facts["size"]):
            return None
        if src["mtime_ns"] != facts["mtime_ns"]:
            if src["sha256"] != sha256(source):
                return None  # touched and changed (a touched but equal file is still good)
            try:  # remember the new mtime so that the next start need not hash it again
                write_manifest(folder, doc | {"source": src | {"mtime_ns": facts["mtime_ns"]}})
            except OSError:
                pass
        if not doc.get("usable", True):
            return UNUSABLE if doc.get("versions") == versions() else None
        if not recorded(folder, doc, recipe.files, ("size", "mtime_ns")):
            return None
        return None if content_problems(folder, doc, recipe.files) else doc
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


def _cached(
    source: Path, facts: dict[str, Any], recipe: Recipe
) -> tuple[Path, dict[str, Any] | str | None]:
    """Where the copy of `source` is (beside the bundle, else in the user cache under the
    source's SHA-256) and what `_read` found there; the user-cache folder when none is found."""
    here = bundle_folder(source, recipe)
    found = _read(here, source, facts, recipe)
    if found is not None:
        return here, found
    elsewhere = cache_folder(source, facts, recipe)
    return elsewhere, _read(elsewhere, source, facts, recipe)


def _derived(source: Path, recipe: Recipe, derive: bool) -> tuple[Path, dict[str, Any]] | None:
    """The folder and manifest of the checked copy of `source` that `recipe` makes, or None."""
    if not source.exists():
        return _shipped(source, recipe)
    try:
        facts = source_facts(source)
        folder, found = _cached(source, facts, recipe)
        if found is None and derive:
            here = bundle_folder(source, recipe)
            folder = here if _writable(here) else folder
            facts |= {"sha256": digest(source, facts)}
            found = _derive(source, folder, facts, recipe)
        if found == UNUSABLE:
            log.info(
                "using the stock %s graph for %s (no derived copy can be made of it)",
                recipe.what,
                source,
            )
            return None
        return (folder, found) if isinstance(found, dict) else None
    except Exception as e:  # noqa: BLE001 - any failure leaves the stock graphs in use
        log.warning("using the stock %s graph for %s: %s", recipe.what, source, e)
        return None


def derived_decoder(source: str | Path, *, derive: bool = True) -> DerivedDecoder | None:
    """The checked cross graph and step graph for `source` (a with-past or merged decoder), or
    None."""
    source = Path(source)
    found = _derived(source, DECODER_RECIPE, derive)
    if found is None:
        return None
    folder, doc = found
    return DerivedDecoder(folder, folder / CROSS, folder / STEP, bool(doc["broadcast"]), source)


def derived_encoder(source: str | Path, *, derive: bool = True) -> Path | None:
    """The checked derived copy of the encoder `source`, or None."""
    found = _derived(Path(source), ENCODER_RECIPE, derive)
    return None if found is None else found[0] / ENCODER


def derived_rows(step: Path, *, derive: bool = True) -> DerivedRows | None:
    """The checked rows graph of a derived step graph `step` (several images per step, each
    exactly as alone: rows_copy.py), derived the first time; or None."""
    found = _derived(step, ROWS_RECIPE, derive)
    if found is None:
        return None
    folder, doc = found
    return DerivedRows(folder / ROWS, frozenset(doc["rows"]["per_image"]))


def derived_own(rows: Path, *, derive: bool = True) -> Path | None:
    """The checked own graph of a rows graph `rows` (its weight products on the own kernel,
    engine/kernels/, own.py), derived the first time; None when the kernel cannot run here
    (then nothing is derived or remembered) or no such copy can be made."""
    from .. import kernels

    if kernels.library() is None:
        return None
    found = _derived(rows, OWN_RECIPE, derive)
    return None if found is None else found[0] / OWN


def derived_engine(step: Path, *, derive: bool = True) -> Path | None:
    """The folder of the checked step engine copy of a derived step graph `step` (its weights
    for the own library's engine, own_step.py, derive/engine.py), derived the first time; None
    when the engine cannot run here (then nothing is derived or remembered) or no such copy can
    be made."""
    from .. import own_step

    if own_step.library() is None:
        return None
    found = _derived(step, ENGINE_RECIPE, derive)
    return None if found is None else found[0]


def derived_copy(source: Path) -> Path | None:
    """The folder of the checked derived copy of the encoder or decoder `source` (derived if
    need be), or None."""
    found = _derived(source, recipe_for(source), derive=True)
    return None if found is None else found[0]


def mark_shipped_alone(source: Path) -> None:
    """Record that the bundle will ship the copy derived from `source` without `source`
    (packaging/build.py, right before it leaves the stock graph out)."""
    folder = bundle_folder(source)
    write_manifest(folder, read_manifest(folder) | {"shipped_alone": True})


def _shipped(source: Path, recipe: Recipe) -> tuple[Path, dict[str, Any]] | None:
    """The copy a bundle ships without its stock graph `source` (packaging/build.py): used as
    recorded, files of the recorded sizes and SHA-256 (copycheck.py; not hashed inside the
    running executable, like the bundle's own manifest, modelstore/trust.py). One that fails its
    hashes is refused: there is no stock graph to derive it again from."""
    from ...paths import shipped_inside

    folder = bundle_folder(source, recipe)
    try:
        doc = read_manifest(folder)
        if (
            doc.get("format") != recipe.format
            or not doc.get("usable")
            or doc.get("shipped_alone") is not True
            or doc["source"]["name"] != source.name
        ):
            log.warning(
                "%s: the shipped derived %s is from another version or unusable",
                folder,
                recipe.what,
            )
            return None
        if not recorded(folder, doc, recipe.files, ("size",)):
            return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("%s: no usable derived %s (%s)", folder, recipe.what, e)
        return None
    problems = [] if shipped_inside(folder) else content_problems(folder, doc, recipe.files)
    if problems:
        raise ModelError(
            str(folder),
            f"refusing the optimized {recipe.what} shipped without its stock graph "
            "(there is none to derive it again from): " + "; ".join(problems),
        )
    return folder, doc


def derived_files(source: Path) -> list[Path]:
    """The graphs derived from `source` (wherever the bundle keeps them): the ONNX files a
    session opens, not their data files (which the copy check covers, `Recipe.files`)."""
    return [bundle_folder(source) / name for name in recipe_for(source).graphs]


def derive_pending(source: str | Path) -> bool:
    """Whether opening the stock graph `source` will derive its copy first (none is cached
    beside the bundle or in the user cache, none is known to be impossible, `onnx` is
    installed and the stock graphs are not asked for): a few seconds for a full-size model, so
    the window can say so."""
    source = Path(source)
    if stock_graphs_asked():
        return False
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    try:
        return _cached(source, source_facts(source), recipe_for(source))[1] is None
    except OSError:  # no such file (a bundle that ships the copy alone), unreadable
        return False


def stock_graphs_asked() -> bool:
    """NANOCAPTION_STOCK_DECODER=1: use the stock graphs where the bundle has them."""
    return os.environ.get(STOCK_ENV, "") not in ("", "0")


def _derive(
    source: Path, folder: Path, facts: dict[str, Any], recipe: Recipe
) -> dict[str, Any] | str | None:
    try:
        import onnx  # noqa: F401 - every recipe needs it
    except ImportError as e:
        log.info(
            "the onnx package is not installed (%s): stock %s graph for %s", e, recipe.what, source
        )
        return None
    import time

    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"format": recipe.format, "source": facts, "versions": versions()}
    if recipe.stamp is not None:
        doc["stamp"] = recipe.stamp()
    tmp = Path(tempfile.mkdtemp(prefix=".derive-", dir=folder))
    try:
        made = recipe.make(source, tmp)
        files = {}
        for name in recipe.files:
            durable.rename(tmp / name, folder / name)  # fsync'd, then renamed
            st = (folder / name).stat()
            files[name] = {
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "sha256": sha256(folder / name),
            }
        doc |= {"usable": True, "files": files} | made
    except OSError:
        raise  # disk trouble: try again next time
    except Exception as e:  # noqa: BLE001 - a model this cannot help: remember that
        reason = f"{type(e).__name__}: {e}"[:500]
        write_manifest(folder, doc | {"usable": False, "reason": reason})
        log.info("stock %s graph for %s: %s", recipe.what, source, reason)
        return UNUSABLE
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_manifest(folder, doc)
    remember_made(folder, recipe.files)
    log.info(
        "derived copy %s of %s in %.1f s: %s",
        folder,
        source.name,
        time.perf_counter() - t0,
        {k: v for k, v in doc.items() if k in ("split", "folded", "encoder")},
    )
    return doc
