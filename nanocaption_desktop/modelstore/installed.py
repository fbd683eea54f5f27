"""Installed models by name: ``--model NAME|DIR``, the user's default (``models use``), the list.

A model is a bundle folder named NAME under ``<user data dir>/models`` (fetched or imported),
the checkout's ``models/NAME``, or the executable's bundled ``models/NAME``. The default chosen
with ``models use`` is kept in ``<user data dir>/config.json`` (``{"model": NAME}``), written
atomically; the CLI, the window and the API read the same file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ground import paths
from ..ground.durable import rename, write_atomically
from ..ground.errors import ModelError
from .layout import find_onnx

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
CONFIG_KEY = "model"

__all__ = [
    "InstalledModel",
    "config_path",
    "default_model",
    "is_model_name",
    "list_models",
    "model_dirs",
    "remove_model",
    "resolve_model",
    "set_default_model",
]

StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class InstalledModel:
    """One installed model, as `models list` and the window show it."""

    name: str
    path: Path
    size: int  # bytes, every file of the folder (derived copies included)
    source: str  # "fetched from Xenova/...", "imported from /path", "checkout", "bundled"
    quantization: str  # "INT8", "fp32", "fp16", "INT8 + fp32"
    default: bool  # the model the CLI and window use when none is named
    removable: bool  # installed in the user data folder (not bundled, not the checkout's)


def config_path() -> Path:
    """The user's settings shared by the CLI, the window and the API."""
    return paths.user_data_dir() / CONFIG_NAME


def _read_config() -> dict[str, Any]:
    try:
        doc = json.loads(config_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("%s: ignored, not readable JSON (%s)", config_path(), e)
        return {}
    return doc if isinstance(doc, dict) else {}


def default_model() -> str | None:
    """The name chosen with ``models use``, or None."""
    name = _read_config().get(CONFIG_KEY)
    return name if isinstance(name, str) and is_model_name(name) else None


def set_default_model(name: str | None) -> None:
    """Make ``name`` the default (None: forget the choice). The name must resolve."""
    if name is not None:
        resolve_model(name)  # refuses an unknown name before anything is written
    doc = _read_config()
    if name is None:
        doc.pop(CONFIG_KEY, None)
    else:
        doc[CONFIG_KEY] = name
    target = config_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def is_model_name(text: str) -> bool:
    """A bare name (``vit-gpt2``, ``my-finetune``): no path separator, no leading dot or ~."""
    return (
        bool(text)
        and text.strip() == text
        and not text.startswith((".", "~"))
        and "/" not in text
        and os.sep not in text
        and (os.altsep is None or os.altsep not in text)
        and len(text) <= 100
    )


def model_dirs() -> list[tuple[str, Path]]:
    """Where named models live, first hit wins: the user's models, the checkout's, bundled."""
    found = [("user data", paths.user_models_dir())]
    root = paths.checkout_root()
    if root is not None:
        found.append(("checkout", root / "models"))
    if paths.is_frozen():
        found.append(("bundled", paths.resource_path("models")))
    return found


def _is_bundle(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (
        find_onnx(folder, "encoder_model", quantized=True) is not None
    )


def resolve_model(name_or_dir: StrPath) -> Path:
    """The bundle folder ``name_or_dir`` names: an existing folder as given, else an installed
    model of that name (see `model_dirs`). An unknown name is a ModelError listing the
    installed ones. Does not check the folder is a bundle (the locator and the loader do)."""
    text = os.fspath(name_or_dir)
    given = Path(text).expanduser()
    if not is_model_name(text) or given.is_dir():
        return given
    for _label, parent in model_dirs():
        if _is_bundle(parent / text):
            return parent / text
    names = ", ".join(m.name for m in list_models()) or "none"
    raise ModelError(
        text,
        f"no installed model or folder of that name (installed: {names}; "
        "install one with `models fetch` or `models import PATH`)",
    )


def _folder_size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(dirpath) / name).lstat().st_size
            except OSError:
                pass
    return total


def _quantization(folder: Path, recorded: str | None) -> str:
    if recorded:
        return recorded
    here = [
        kind
        for kind, stem in (("INT8", "encoder_model_quantized"), ("fp32", "encoder_model"))
        if any((sub / f"{stem}.onnx").is_file() for sub in (folder, folder / "onnx"))
    ]
    return " + ".join(here) or "INT8"  # no stock encoder: the executable's derived INT8 copy


def _describe(label: str, folder: Path) -> tuple[str, str | None]:
    """(source, recorded quantization) from the folder's manifest."""
    try:
        doc = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        source = doc.get("source") or {}
    except (OSError, ValueError, AttributeError):
        source = {}
    if not isinstance(source, dict):
        source = {}
    quant = source.get("quantization") if isinstance(source.get("quantization"), str) else None
    if source.get("imported_from"):
        return f"imported from {source['imported_from']}", quant
    if source.get("repo"):
        return f"fetched from {source['repo']}", quant
    return ("installed by hand" if label == "user data" else label), quant


def list_models() -> list[InstalledModel]:
    """Every installed model, by name (a name found twice: the first place wins)."""
    chosen = default_model()
    seen: dict[str, InstalledModel] = {}
    for label, parent in model_dirs():
        try:
            children = sorted(p for p in parent.iterdir() if p.is_dir())
        except OSError:
            continue
        for folder in children:
            if folder.name in seen or not is_model_name(folder.name) or not _is_bundle(folder):
                continue
            source, quant = _describe(label, folder)
            seen[folder.name] = InstalledModel(
                name=folder.name,
                path=folder,
                size=_folder_size(folder),
                source=source,
                quantization=_quantization(folder, quant),
                default=folder.name == chosen,
                removable=label == "user data",
            )
    return sorted(seen.values(), key=lambda m: m.name)


def remove_model(name: str) -> Path:
    """Remove the user-installed model ``name`` (moved aside in one rename, then deleted, so
    a half-deleted folder is never taken for a model); forgets it as the default. Refuses a
    model that ships with the app or the checkout."""
    found = {m.name: m for m in list_models()}.get(name)
    if found is None:
        names = ", ".join(sorted(m.name for m in list_models())) or "none"
        raise ModelError(name, f"no installed model of that name (installed: {names})")
    if not found.removable:
        raise ModelError(
            name, f"comes with the app ({found.path}) and cannot be removed; `models use` another"
        )
    doomed = found.path.with_name(f".{name}.removing-{os.getpid()}")
    rename(found.path, doomed)
    if default_model() == name:
        set_default_model(None)
    shutil.rmtree(doomed, ignore_errors=True)
    return found.path
