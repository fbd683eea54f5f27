"""The model store's half of ``models import``: what a folder holds, staging, installing.

Reads an export folder (Optimum or transformers.js layout, graphs at the top or under
``onnx/``) or a Hugging Face checkpoint folder, refuses an architecture the engine does not
run (config.json's encoder/decoder ``model_type``), copies the files it needs into a hidden
staging folder beside the destination (``.NAME.importing-<pid>``), and at the end moves the
finished folder into place in one rename. A killed import leaves only its staging folder,
removed by the next import (its process is gone). Quantizing, checking and deriving the graphs
is the engine's (engine/importer.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ground.durable import rename
from ..ground.errors import ModelError
from .installed import is_model_name
from .manifest import _bundle_files, write_manifest

log = logging.getLogger(__name__)

__all__ = [
    "DECODERS",
    "ENCODERS",
    "ImportSource",
    "clean_stale_staging",
    "inspect_source",
    "install_staged",
    "stage",
    "staging_for",
]

ENCODERS = ("vit", "deit", "beit", "swin")
DECODERS = ("gpt2",)  # distilgpt2 is a gpt2 model_type
SUPPORTED = (
    "ViT-family encoders (vit, deit, beit, swin) with GPT-2-family decoders (gpt2, distilgpt2)"
)
REQUIRED_JSON = ("config.json", "generation_config.json", "preprocessor_config.json")
OPTIONAL_JSON = ("tokenizer_config.json", "special_tokens_map.json")
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
STAGING_MARK = ".importing-"
#: File suffixes of each precision, as Optimum and transformers.js name them; installed as
#: ``stem.onnx`` (fp32, fp16) or ``stem_quantized.onnx`` (INT8), the names the engine reads.
PRECISIONS = (("fp32", ("",)), ("INT8", ("_quantized", "_int8", "_uint8")), ("fp16", ("_fp16",)))
DECODER_STEMS = ("decoder_with_past_model", "decoder_model_merged")


@dataclass(frozen=True)
class ImportSource:
    """What a folder offered for import holds."""

    folder: Path
    kind: str  # "onnx" (an export) or "checkpoint" (PyTorch weights, exported first)
    encoder_type: str
    decoder_type: str
    precision: str  # "fp32", "INT8" or "fp16" ("" for a checkpoint)
    graphs: tuple[tuple[Path, str], ...]  # (source file, name in the bundle's onnx/ folder)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(str(path), "missing") from None
    except (OSError, ValueError) as e:
        raise ModelError(str(path), f"not readable JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ModelError(str(path), "not a JSON object")
    return doc


def check_architecture(config_file: Path) -> tuple[str, str]:
    """(encoder, decoder) model types, or a ModelError naming what was found."""
    config = _read_json(config_file)
    kind = config.get("model_type")
    if kind != "vision-encoder-decoder":
        raise ModelError(
            str(config_file),
            f"a {kind or 'model without model_type'} model is not supported: "
            f"NanoCaption runs vision-encoder-decoder models with {SUPPORTED}",
        )
    parts: list[dict[str, Any]] = []
    for part in ("encoder", "decoder"):
        value = config.get(part)
        parts.append(value if isinstance(value, dict) else {})
    enc, dec = (str(p.get("model_type") or "unknown") for p in parts)
    if enc not in ENCODERS or dec not in DECODERS:
        raise ModelError(
            str(config_file),
            f"a {enc} encoder with a {dec} decoder is not supported: NanoCaption runs {SUPPORTED}",
        )
    return enc, dec


def _graph(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        for where in (folder / "onnx", folder):
            if (where / f"{stem}{suffix}.onnx").is_file():
                return where / f"{stem}{suffix}.onnx"
    return None


def _find_graphs(folder: Path) -> tuple[str, tuple[tuple[Path, str], ...]] | None:
    """The first precision with an encoder and a decoder (fp32 first: it can be quantized)."""
    for precision, suffixes in PRECISIONS:
        encoder = _graph(folder, "encoder_model", suffixes)
        decoder = next(
            (g for s in DECODER_STEMS if (g := _graph(folder, s, suffixes)) is not None), None
        )
        if encoder is None or decoder is None:
            continue
        out = "_quantized" if precision == "INT8" else ""
        names = [(encoder, f"encoder_model{out}.onnx")]
        stem = next(s for s in DECODER_STEMS if decoder.name.startswith(s))
        names.append((decoder, f"{stem}{out}.onnx"))
        return precision, tuple(names)
    return None


def inspect_source(path: str | os.PathLike[str]) -> ImportSource:
    """What ``path`` holds; a ModelError (one sentence, naming the file) when it cannot be
    imported."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelError(str(folder), "not a folder (import takes an export or checkpoint folder)")
    enc, dec = check_architecture(folder / "config.json")
    found = _find_graphs(folder)
    if found is not None:
        precision, graphs = found
        return ImportSource(folder, "onnx", enc, dec, precision, graphs)
    if any((folder / w).is_file() for w in WEIGHTS):
        return ImportSource(folder, "checkpoint", enc, dec, "", ())
    raise ModelError(
        str(folder),
        "no ONNX export (encoder_model[_quantized|_fp16].onnx with decoder_with_past_model or "
        "decoder_model_merged, at the top or under onnx/) and no checkpoint "
        "(model.safetensors or pytorch_model.bin)",
    )


def staging_for(dest: Path) -> Path:
    """The hidden folder an import of ``dest`` is built in (same parent: one rename at the end)."""
    return dest.parent / f".{dest.name}{STAGING_MARK}{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, not ours
        return True
    return True


def clean_stale_staging(models_dir: Path) -> list[Path]:
    """Remove the staging folders of imports whose process is gone; returns them."""
    removed = []
    for leftover in models_dir.glob(f".*{STAGING_MARK}*"):
        pid = leftover.name.rpartition(STAGING_MARK)[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
            log.info("removed the leftover of an interrupted import: %s", leftover)
            removed.append(leftover)
    return removed


def check_destination(dest: Path) -> None:
    if not is_model_name(dest.name):
        raise ModelError(dest.name, "not a usable model name (letters, digits, - and _)")
    if dest.exists():
        raise ModelError(
            str(dest), f"already installed; remove it first (models remove {dest.name})"
        )


def stage(source: ImportSource, staging: Path, files_from: Path | None = None) -> None:
    """Copy the configs, tokenizer and graphs into ``staging/`` (the transformers.js layout:
    JSON at the top, graphs in onnx/). ``files_from``: JSON files from another folder (an
    export made here from a checkpoint)."""
    top = files_from or source.folder
    (staging / "onnx").mkdir(parents=True)
    for name in (*REQUIRED_JSON, "tokenizer.json"):
        if not (top / name).is_file():
            raise ModelError(str(top / name), "missing (an import needs it)")
        shutil.copyfile(top / name, staging / name)
    for name in OPTIONAL_JSON:
        if (top / name).is_file():
            shutil.copyfile(top / name, staging / name)
    for src, name in source.graphs:
        shutil.copyfile(src, staging / "onnx" / name)
        for data in (src.with_name(src.name + "_data"), src.with_name(src.name + ".data")):
            if data.is_file():  # external weights; the safety check vets the reference
                shutil.copyfile(data, staging / "onnx" / data.name)


def install_staged(staging: Path, dest: Path, source: dict[str, Any]) -> Path:
    """Write the manifest (every file but the derived copies, which have their own) and move
    the finished folder to ``dest`` in one rename."""
    files = [f for f in _bundle_files(staging) if not f.startswith("optimized/")]
    write_manifest(staging, source=source, files=files)
    check_destination(dest)  # another import may have finished meanwhile
    rename(staging, dest)
    return dest
