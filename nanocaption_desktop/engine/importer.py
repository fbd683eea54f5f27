"""``models import``: a user's export or checkpoint folder installed as a named model.

The model store reads the folder, stages and installs it (modelstore/importing.py); this module
adds what needs the engine: the Optimum export of a checkpoint (a subprocess, the ``export``
extra), INT8 quantization (quantize.py), the same checks a fetched bundle gets (the model
store's structure and safety checks, the engine's load checks, the graphs opened in a
throw-away process) and the derived graphs. Everything is built in a hidden staging folder
beside the destination and moved into place in one rename: a failed or killed import installs
nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..ground import paths
from ..modelstore.importing import (
    ImportSource,
    check_destination,
    clean_stale_staging,
    inspect_source,
    install_staged,
    stage,
    staging_for,
)
from ..modelstore.manifest import check_bundle
from .bundle import Bundle
from .derive import derived_copy
from .errors import ModelError
from .loadcheck import load_problems
from .probe import probe_sessions
from .quantize import quantize_graph

log = logging.getLogger(__name__)

__all__ = ["ImportResult", "has_exporter", "import_model"]

EXPORT_TASK = "image-to-text-with-past"
EXPORT_HELP = (
    "a PyTorch checkpoint is exported to ONNX first, which needs the export extra "
    "(pip install 'nanocaption-desktop[export]'); or export it yourself with "
    f"`optimum-cli export onnx --model DIR --task {EXPORT_TASK} OUT` and import OUT"
)


@dataclass(frozen=True)
class ImportResult:
    name: str
    path: Path
    size: int  # bytes installed
    seconds: float
    source_kind: str  # "onnx" or "checkpoint"
    quantization: str  # what is installed: "INT8", "fp32", "fp16"
    quantized_here: bool  # fp32 graphs were quantized by this import
    derived: tuple[str, ...]  # graphs whose optimized copy was derived
    not_derived: tuple[str, ...]  # graphs that run as stock graphs


def has_exporter() -> bool:
    """Whether Optimum's ONNX exporter (the ``export`` extra) can run here."""
    if paths.is_frozen():
        return False
    try:
        return importlib.util.find_spec("optimum.exporters.onnx") is not None
    except ImportError:  # the parent package is missing
        return False


def _export_checkpoint(folder: Path, out: Path) -> ImportSource:
    """Export a checkpoint with Optimum in a subprocess (torch stays out of this process)."""
    if not has_exporter():
        raise ModelError(str(folder), EXPORT_HELP)
    cmd = [sys.executable, "-m", "optimum.exporters.onnx", "--model", str(folder)]
    cmd += ["--task", EXPORT_TASK, str(out)]
    log.info("exporting %s: %s", folder, " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ModelError(str(folder), f"the Optimum export failed: {last}")
    return inspect_source(out)


def _quantize(staging: Path, source: ImportSource) -> None:
    for _src, name in source.graphs:
        graph = staging / "onnx" / name
        target = graph.with_name(graph.stem + "_quantized.onnx")
        settings = quantize_graph(graph, target)
        log.info("quantized %s with %s", name, settings)
        graph.unlink()


def _check(staging: Path, shown: Path) -> Bundle:
    """The checks a fetched bundle gets; a problem names the file as the user gave it."""
    problems = check_bundle(staging) + load_problems(staging)
    if problems:
        raise ModelError(str(shown), problems[0].replace(str(staging), str(shown)))
    bundle = Bundle.open(staging)
    try:
        probe_sessions([bundle.encoder, bundle.decoder])
    except ModelError as e:
        raise ModelError(str(shown), str(e).replace(str(staging), str(shown))) from None
    return bundle


def _derive(bundle: Bundle) -> tuple[tuple[str, ...], tuple[str, ...]]:
    done: list[str] = []
    stock: list[str] = []
    for graph in (bundle.encoder, bundle.decoder):
        (done if derived_copy(graph) is not None else stock).append(graph.name)
    return tuple(done), tuple(stock)


def _default_name(folder: Path) -> str:
    base = folder.resolve()
    if base.name == "onnx":
        base = base.parent
    return base.name


def import_model(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    quantize: bool = True,
    models_dir: Path | None = None,
) -> ImportResult:
    """Install the export or checkpoint folder ``path`` as ``<models_dir>/NAME`` (default: the
    user data folder's models/, NAME the folder's name). ``quantize``: fp32 graphs become INT8
    (the fp32 ones are not kept). Raises ModelError (nothing installed) on any problem."""
    t0 = time.perf_counter()
    folder = Path(path).expanduser()
    source = inspect_source(folder)
    kind = source.kind  # the export made from a checkpoint is inspected as "onnx"
    parent = models_dir if models_dir is not None else paths.user_models_dir()
    dest = parent / (name or _default_name(folder))
    check_destination(dest)
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(parent)
    staging = staging_for(dest)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        files_from = None
        if source.kind == "checkpoint":
            staging.mkdir()
            source = _export_checkpoint(folder, staging / ".export")
            files_from = source.folder
        stage(source, staging, files_from)
        if files_from is not None:
            shutil.rmtree(files_from)
        quantized_here = quantize and source.precision == "fp32"
        if quantized_here:
            _quantize(staging, source)
        bundle = _check(staging, folder)
        derived, stock = _derive(bundle)
        installed = "INT8" if quantized_here else source.precision
        install_staged(
            staging,
            dest,
            {
                "imported_from": str(folder.resolve()),
                "kind": kind,
                "quantization": installed,
                "quantized_here": quantized_here,
                "architecture": f"{source.encoder_type}+{source.decoder_type}",
                "imported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    return ImportResult(
        name=dest.name,
        path=dest,
        size=size,
        seconds=time.perf_counter() - t0,
        source_kind=kind,
        quantization=installed,
        quantized_here=quantized_here,
        derived=derived,
        not_derived=stock,
    )
