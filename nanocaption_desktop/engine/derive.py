"""Optimized copies of a bundle's graphs: derived once, cached beside the bundle, checked.

`optimized_decoder(decoder_file)` returns the cross/step graph pair made by `optimize.py` for
that decoder file, its shape arithmetic folded first by `shapefold.py` (a plain split if the
folded pair ever fails its check), deriving it the first time; `optimized_encoder(encoder_file)`
the encoder with its patch projection as a matrix product (`patch_embed.py`). A copy lives in
`<bundle>/optimized/<stem>/` (or, when the bundle folder is read-only, in the user cache folder
under the source's SHA-256) with a manifest naming the source file (size, mtime, SHA-256), its
own files (size, mtime, SHA-256) and the library versions. A changed source is derived again; a
missing or broken copy is derived again, and so is one whose files fail their SHA-256 check
(copycheck.py: hashed like the stock files, remembered per file state); a copy shipped without
its stock graph that fails it is refused (ModelError). When `onnx` is not installed or anything
fails, it logs why and returns None, and the stock graph stays in use.

Before a derived copy is used for the first time it is checked against the stock graph on a
random input, bit for bit: the decoder pair's logits and key/values over a few steps with two
rows, fed the image tensors once per row and once as a single row that the step graph
broadcasts; the encoder's output for one and for two images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from .bundle import OPTIMIZED as FOLDER
from .copycheck import content_problems, remember_made
from .errors import ModelError
from .recipes import CROSS, ENCODER, STEP, make_encoder, make_pair

log = logging.getLogger(__name__)

FORMAT = 4  # 2: shape arithmetic folded; 3: flatten pairs dropped; 4: casts to bool (shapefold.py)
ENCODER_FORMAT = 1
MANIFEST = "manifest.json"
APP_NAME = "NanoCaption"  # as nanocaption_desktop.paths.APP_NAME
DATA_DIR_ENV = "NANOCAPTION_DATA_DIR"
STOCK_ENV = "NANOCAPTION_STOCK_DECODER"


@dataclass(frozen=True)
class Optimized:
    folder: Path
    cross: Path
    step: Path
    broadcast: bool  # the step graph takes batch-1 image tensors next to several rows
    source: Path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_root() -> Path:
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser() / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def _bundle_folder(source: Path) -> Path:
    root = source.parent.parent if source.parent.name == "onnx" else source.parent
    return root / FOLDER / source.stem


def _source_facts(source: Path) -> dict[str, Any]:
    st = source.stat()
    return {"name": source.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


_UNUSABLE = "unusable"


@dataclass(frozen=True)
class _Recipe:
    """What one kind of derived copy is: its files, its format, and how it is made (`make`
    writes the files into a folder, checks them against the source, and returns what the
    manifest records about them; it raises when the source cannot be optimized)."""

    what: str  # for messages: "decoder", "encoder"
    files: tuple[str, ...]
    format: int
    make: Callable[[Path, Path], dict[str, Any]]


def _read(
    folder: Path, source: Path, facts: dict[str, Any], recipe: _Recipe
) -> dict[str, Any] | str | None:
    """The manifest of the cached copy in `folder` if it matches `source` and its files are the
    ones it records; `_UNUSABLE` if it records that `source` cannot be optimized; None if there
    is no valid copy."""
    try:
        doc = _manifest(folder)
        if doc.get("format") != recipe.format:
            return None
        src = doc["source"]
        if (src["name"], src["size"]) != (facts["name"], facts["size"]):
            return None
        if src["mtime_ns"] != facts["mtime_ns"]:
            if src["sha256"] != sha256(source):
                return None  # touched and changed (a touched but equal file is still good)
            try:  # remember the new mtime so that the next start need not hash it again
                _write_manifest(folder, doc | {"source": src | {"mtime_ns": facts["mtime_ns"]}})
            except OSError:
                pass
        if not doc.get("usable", True):
            return _UNUSABLE if doc.get("versions") == _versions() else None
        if not _recorded(folder, doc, recipe, ("size", "mtime_ns")):
            return None
        return None if content_problems(folder, doc, recipe.files) else doc
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


def _recorded(folder: Path, doc: dict[str, Any], recipe: _Recipe, facts: tuple[str, ...]) -> bool:
    """Whether the files in `folder` have the `facts` ("size", "mtime_ns") that `doc`, their
    manifest, records."""
    for name in recipe.files:
        st = (folder / name).stat()
        if any(getattr(st, f"st_{f}") != doc["files"][name][f] for f in facts):
            log.info("%s: %s is not the file its manifest records", folder, name)
            return False
    return True


def _versions() -> dict[str, str]:
    try:
        import onnx

        onnx_version = onnx.__version__
    except ImportError:
        onnx_version = "none"
    return {"onnx": onnx_version, "onnxruntime": ort.__version__}


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> SHA-256


def _digest(source: Path, facts: dict[str, Any]) -> str:
    """`sha256(source)`, hashed once per file state (a first open asks twice: `derive_pending`,
    then the load itself)."""
    key = (str(source), facts["size"], facts["mtime_ns"])
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256(source)
    return _DIGESTS[key]


def _cached(
    source: Path, facts: dict[str, Any], recipe: _Recipe
) -> tuple[Path, dict[str, Any] | str | None]:
    """Where the copy of `source` is (beside the bundle, else in the user cache under the
    source's SHA-256) and what `_read` found there; the user-cache folder when none is found."""
    here = _bundle_folder(source)
    found = _read(here, source, facts, recipe)
    if found is not None:
        return here, found
    elsewhere = cache_root() / FOLDER / f"{source.stem}-{_digest(source, facts)[:24]}"
    return elsewhere, _read(elsewhere, source, facts, recipe)


def _derived(source: Path, recipe: _Recipe, derive: bool) -> tuple[Path, dict[str, Any]] | None:
    """The folder and manifest of the checked copy of `source` that `recipe` makes, or None."""
    if not source.exists():
        return _shipped(source, recipe)
    try:
        facts = _source_facts(source)
        folder, found = _cached(source, facts, recipe)
        if found is None and derive:
            here = _bundle_folder(source)
            folder = here if _writable(here) else folder
            facts |= {"sha256": _digest(source, facts)}
            found = _derive(source, folder, facts, recipe)
        if found == _UNUSABLE:
            log.info(
                "using the stock %s graph for %s (it cannot be optimized)", recipe.what, source
            )
            return None
        return (folder, found) if isinstance(found, dict) else None
    except Exception as e:  # noqa: BLE001 - any failure leaves the stock graphs in use
        log.warning("using the stock %s graph for %s: %s", recipe.what, source, e)
        return None


def optimized_decoder(source: str | Path, *, derive: bool = True) -> Optimized | None:
    """The checked cross/step pair for `source` (a with-past or merged decoder), or None."""
    source = Path(source)
    found = _derived(source, DECODER_RECIPE, derive)
    if found is None:
        return None
    folder, doc = found
    return Optimized(folder, folder / CROSS, folder / STEP, bool(doc["broadcast"]), source)


def optimized_encoder(source: str | Path, *, derive: bool = True) -> Path | None:
    """The checked optimized copy of the encoder `source`, or None."""
    found = _derived(Path(source), ENCODER_RECIPE, derive)
    return None if found is None else found[0] / ENCODER


def mark_shipped_alone(source: Path) -> None:
    """Record that the bundle will ship the copy derived from `source` without `source`
    (packaging/build.py, right before it leaves the stock graph out)."""
    folder = _bundle_folder(source)
    _write_manifest(folder, _manifest(folder) | {"shipped_alone": True})


def _shipped(source: Path, recipe: _Recipe) -> tuple[Path, dict[str, Any]] | None:
    """The copy a bundle ships without its stock graph `source` (packaging/build.py): used as
    recorded, files of the recorded sizes and SHA-256 (copycheck.py; not hashed inside the
    running executable, like the bundle's own manifest, modelstore/trust.py). One that fails its
    hashes is refused: there is no stock graph to derive it again from."""
    from ..paths import shipped_inside

    folder = _bundle_folder(source)
    try:
        doc = _manifest(folder)
        if (
            doc.get("format") != recipe.format
            or not doc.get("usable")
            or doc.get("shipped_alone") is not True
            or doc["source"]["name"] != source.name
        ):
            log.warning(
                "%s: the shipped %s is from another version or unusable", folder, recipe.what
            )
            return None
        if not _recorded(folder, doc, recipe, ("size",)):
            return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("%s: no usable optimized %s (%s)", folder, recipe.what, e)
        return None
    problems = [] if shipped_inside(folder) else content_problems(folder, doc, recipe.files)
    if problems:
        raise ModelError(
            str(folder),
            f"refusing the optimized {recipe.what} shipped without its stock graph "
            "(there is none to derive it again from): " + "; ".join(problems),
        )
    return folder, doc


def _recipe_for(source: Path) -> _Recipe:
    return ENCODER_RECIPE if source.stem.startswith("encoder") else DECODER_RECIPE


def derived_files(source: Path) -> list[Path]:
    """The graphs derived from `source` (wherever the bundle keeps them)."""
    return [_bundle_folder(source) / name for name in _recipe_for(source).files]


def derive_pending(source: str | Path) -> bool:
    """Whether opening the stock graph `source` will derive its optimized copy first (none is
    cached beside the bundle or in the user cache, none is known to be impossible, `onnx` is
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
        return _cached(source, _source_facts(source), _recipe_for(source))[1] is None
    except OSError:  # no such file (a bundle that ships the copy alone), unreadable
        return False


def stock_graphs_asked() -> bool:
    """NANOCAPTION_STOCK_DECODER=1: use the stock graphs where the bundle has them."""
    return os.environ.get(STOCK_ENV, "") not in ("", "0")


def optimized_copy(source: Path) -> Path | None:
    """The folder of the checked copy of the encoder or decoder `source` (derived if need be),
    or None."""
    found = _derived(source, _recipe_for(source), derive=True)
    return None if found is None else found[0]


def _write_manifest(folder: Path, doc: dict[str, Any]) -> None:
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


def _derive(
    source: Path, folder: Path, facts: dict[str, Any], recipe: _Recipe
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
    doc: dict[str, Any] = {"format": recipe.format, "source": facts, "versions": _versions()}
    tmp = Path(tempfile.mkdtemp(prefix=".derive-", dir=folder))
    try:
        made = recipe.make(source, tmp)
        files = {}
        for name in recipe.files:
            os.replace(tmp / name, folder / name)
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
        _write_manifest(folder, doc | {"usable": False, "reason": reason})
        log.info("stock %s graph for %s: %s", recipe.what, source, reason)
        return _UNUSABLE
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _write_manifest(folder, doc)
    remember_made(folder, recipe.files)
    log.info(
        "derived %s from %s in %.1f s: %s",
        folder,
        source.name,
        time.perf_counter() - t0,
        {k: v for k, v in doc.items() if k in ("split", "folded", "encoder")},
    )
    return doc


DECODER_RECIPE = _Recipe("decoder", (CROSS, STEP), FORMAT, make_pair)
ENCODER_RECIPE = _Recipe("encoder", (ENCODER,), ENCODER_FORMAT, make_encoder)
