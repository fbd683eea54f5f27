"""The optimized copy of a bundle's decoder: derived once, cached beside the bundle, checked.

`optimized_decoder(decoder_file)` returns the cross/step graph pair made by `optimize.py` for
that decoder file, its shape arithmetic folded first by `shapefold.py` (a plain split if the
folded pair ever fails its check), deriving it the first time. The copy lives in
`<bundle>/optimized/<stem>/` (or, when the bundle folder is read-only, in the user cache folder
under the source's SHA-256) with a manifest naming the source file (size, mtime, SHA-256) and
the library versions. A changed source is derived again; a missing or broken copy is derived
again; when `onnx` is not installed or anything fails, it logs why and returns None, and the
stock graph stays in use.

Before a derived copy is used for the first time it is checked against the stock graph on a
random input: the same logits and key/values, bit for bit, over a few steps with two rows, fed
the image tensors once per row and once as a single row that the step graph broadcasts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from .bundle import OPTIMIZED as FOLDER

log = logging.getLogger(__name__)

FORMAT = 4  # 2: shape arithmetic folded; 3: flatten pairs dropped; 4: casts to bool (shapefold.py)
MANIFEST = "manifest.json"
CROSS, STEP = "cross.onnx", "step.onnx"
APP_NAME = "NanoCaption"  # as nanocaption_desktop.paths.APP_NAME
DATA_DIR_ENV = "NANOCAPTION_DATA_DIR"


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


def _read(folder: Path, source: Path, facts: dict[str, Any]) -> Optimized | str | None:
    """The cached copy in `folder` if its manifest matches `source`; `_UNUSABLE` if the manifest
    records that `source` cannot be optimized; None if there is no valid copy."""
    try:
        doc = _manifest(folder)
        if doc.get("format") != FORMAT:
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
        return _pair(folder, doc, source, ("size", "mtime_ns"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


def _pair(
    folder: Path, doc: dict[str, Any], source: Path, facts: tuple[str, ...]
) -> Optimized | None:
    """The pair in `folder` when its files have the `facts` ("size", "mtime_ns") that `doc`, its
    manifest, records."""
    for name in (CROSS, STEP):
        st = (folder / name).stat()
        if any(getattr(st, f"st_{f}") != doc["files"][name][f] for f in facts):
            log.info("%s: %s is not the file its manifest records", folder, name)
            return None
    return Optimized(folder, folder / CROSS, folder / STEP, bool(doc["broadcast"]), source)


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


def optimized_decoder(source: str | Path, *, derive: bool = True) -> Optimized | None:
    """The checked cross/step pair for `source` (a with-past or merged decoder), or None."""
    source = Path(source)
    if not source.exists():
        return shipped_pair(source)
    try:
        facts = _source_facts(source)
        here = _bundle_folder(source)
        found = _read(here, source, facts)
        if found is None:
            digest = sha256(source)
            elsewhere = cache_root() / FOLDER / f"{source.stem}-{digest[:24]}"
            found = _read(elsewhere, source, facts)
            if found is None and derive:
                folder = here if _writable(here) else elsewhere
                found = _derive(source, folder, facts | {"sha256": digest})
        if found == _UNUSABLE:
            log.info("using the stock decoder graph for %s (it cannot be optimized)", source)
            return None
        return found if isinstance(found, Optimized) else None
    except Exception as e:  # noqa: BLE001 - any failure leaves the stock graphs in use
        log.warning("using the stock decoder graph for %s: %s", source, e)
        return None


def mark_shipped_alone(source: Path) -> None:
    """Record that the bundle will ship the pair derived from `source` without `source`
    (packaging/build.py, right before it leaves the stock graph out)."""
    folder = _bundle_folder(source)
    _write_manifest(folder, _manifest(folder) | {"shipped_alone": True})


def shipped_pair(source: Path) -> Optimized | None:
    """The pair a bundle ships without its stock decoder `source` (packaging/build.py): used as
    recorded, files of the recorded sizes; their contents are covered by the bundle's manifest,
    which the load-time check verifies (modelstore/trust.py)."""
    folder = _bundle_folder(source)
    try:
        doc = _manifest(folder)
        if (
            doc.get("format") != FORMAT
            or not doc.get("usable")
            or doc.get("shipped_alone") is not True
            or doc["source"]["name"] != source.name
        ):
            log.warning("%s: the shipped decoder pair is from another version or unusable", folder)
            return None
        return _pair(folder, doc, source, ("size",))
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("%s: no usable decoder pair (%s)", folder, e)
        return None


def pair_files(source: Path) -> list[Path]:
    """The graphs of the pair derived from `source` (wherever the bundle keeps it)."""
    folder = _bundle_folder(source)
    return [folder / CROSS, folder / STEP]


def _write_manifest(folder: Path, doc: dict[str, Any]) -> None:
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


def _derive(source: Path, folder: Path, facts: dict[str, Any]) -> Optimized | str | None:
    try:
        import onnx

        from .optimize import describe, lift_cache_branch
    except ImportError as e:
        log.info("the onnx package is not installed (%s): stock decoder graphs for %s", e, source)
        return None
    import time

    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"format": FORMAT, "source": facts, "versions": _versions()}
    tmp = Path(tempfile.mkdtemp(prefix=".derive-", dir=folder))
    try:

        def load() -> Any:
            model = onnx.load(str(source))
            if any(n.op_type == "If" for n in model.graph.node):
                model = lift_cache_branch(model)
            return model

        for fold in (True, False):  # shapes folded; if that ever fails its check, plain split
            model = load()  # (again after a failed fold: that folded it in place)
            try:
                split, folded = _split(model, fold)
                del model
                for name, m in ((CROSS, split.cross), (STEP, split.step)):
                    onnx.checker.check_model(m)
                    onnx.save(m, str(tmp / name))
                sizes = describe(split)
                del split, m  # the graphs are on disk: their weights need not stay in memory
                broadcast = _check(source, tmp / CROSS, tmp / STEP)
                break
            except (DeriveCheckFailed, FoldError) as e:
                if not fold:
                    raise
                log.warning("%s: folding shapes failed (%s); splitting without it", source, e)
        files = {}
        for name in (CROSS, STEP):
            os.replace(tmp / name, folder / name)
            st = (folder / name).stat()
            files[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        doc |= {
            "usable": True,
            "files": files,
            "broadcast": broadcast,
            "split": sizes,
            "folded": folded,
        }
    except OSError:
        raise  # disk trouble: try again next time
    except Exception as e:  # noqa: BLE001 - a model this cannot help: remember that
        reason = f"{type(e).__name__}: {e}"[:500]
        _write_manifest(folder, doc | {"usable": False, "reason": reason})
        log.info("stock decoder graph for %s: %s", source, reason)
        return _UNUSABLE
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _write_manifest(folder, doc)
    log.info(
        "derived %s from %s in %.1f s: %s",
        folder,
        source.name,
        time.perf_counter() - t0,
        doc["split"],
    )
    return Optimized(folder, folder / CROSS, folder / STEP, broadcast, source)


class DeriveCheckFailed(Exception):
    pass


class FoldError(Exception):
    pass


def _split(model: Any, fold: bool) -> tuple[Any, dict[str, Any] | None]:
    """The cross/step split of `model`, its shape arithmetic folded first, in place, when `fold`
    (shapefold.py; the image tensors' batch dim may be 1 next to several rows). Folding in place
    rather than on a copy keeps one copy of the weights fewer in memory while a model installs."""
    from .optimize import INVARIANT_PREFIX, split_decoder

    if not fold:
        return split_decoder(model), None
    import dataclasses

    from .shapefold import drop_flatten_pairs, fold_shapes

    try:
        one_or = {i.name: [0] for i in model.graph.input if i.name.startswith(INVARIANT_PREFIX)}
        report = dataclasses.asdict(fold_shapes(model, one_or))
        report["flatten_pairs"] = drop_flatten_pairs(model, one_or)
    except Exception as e:  # noqa: BLE001 - an analysis bug must not cost the split itself
        raise FoldError(f"{type(e).__name__}: {e}") from e
    return split_decoder(model), report


def _check(source: Path, cross_file: Path, step_file: Path, steps: int = 3) -> bool:
    """Compare the pair with the stock graph on random input; True if batch-1 image tensors
    broadcast to two rows with the same results. Raises `DeriveCheckFailed` on any difference."""
    from .decoder import HoistedDecoder, StockDecoder, open_hoisted
    from .sessions import make_session

    stock = StockDecoder(make_session(source, threads=1), str(source))
    hoisted = open_hoisted(cross_file, step_file, threads=1, broadcast=False)
    hidden = next(
        i.shape[-1] for i in stock.session.get_inputs() if i.name == "encoder_hidden_states"
    )
    if not isinstance(hidden, int):
        raise DeriveCheckFailed(f"encoder hidden size not fixed: {hidden}")
    rng = np.random.default_rng(0)
    enc = rng.standard_normal((1, 7, hidden)).astype(np.float32)
    ids = [
        np.array([[1], [2]], dtype=np.int64),
        np.array([[3], [3]], dtype=np.int64),
        np.array([[2], [1]], dtype=np.int64),
    ]
    ref = stock.begin(enc, 2)
    runs = {"rows": hoisted.begin(enc, 2)}
    broadcast = True
    try:
        bcast = HoistedDecoder(hoisted.cross, hoisted.step, hoisted.path, broadcast=True)
        runs["broadcast"] = bcast.begin(enc, 2)
    except Exception:  # noqa: BLE001
        broadcast = False
    for k in range(steps):
        want = ref.step(ids[k % len(ids)])
        for name, r in list(runs.items()):
            try:
                got = r.step(ids[k % len(ids)])
                same = np.array_equal(got, want) and all(
                    np.array_equal(a, b) for a, b in zip(r.past_arrays(), ref.past, strict=True)
                )
            except Exception:  # noqa: BLE001
                same = False
            if not same and name == "rows":
                raise DeriveCheckFailed(f"step {k}: the split graphs differ from {source.name}")
            if not same:
                broadcast = False
                del runs[name]
        ref.reorder(np.array([1, 1]))
        for r in runs.values():
            r.reorder(np.array([1, 1]))
    return broadcast
