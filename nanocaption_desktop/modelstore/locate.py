"""Where the app looks for a model bundle, first hit wins (DESIGN.md, "Model bundles").

1. an explicit model (``--model NAME|DIR``, a setting), 2. ``$NANOCAPTION_MODEL_DIR``,
3. the default chosen with ``models use NAME`` (installed.py), 4. the bundle inside a frozen
executable, 5. the checkout's ``models/vit-gpt2``, 6. ``<user data dir>/models/vit-gpt2``.
A model the user named (1-3) that is not a bundle is an error, never silently skipped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..ground import paths
from ..ground.errors import ModelError
from .installed import default_model, resolve_model
from .layout import find_onnx
from .registry import DEFAULT_BUNDLE

log = logging.getLogger(__name__)

MODEL_DIR_ENV = "NANOCAPTION_MODEL_DIR"
DEFAULT_LABEL = "models use"
EXPLICIT_LABELS = ("--model", MODEL_DIR_ENV, DEFAULT_LABEL)

__all__ = [
    "MODEL_DIR_ENV",
    "bundle_problems",
    "candidate_dirs",
    "default_install_dir",
    "find_bundle",
]

StrPath = str | os.PathLike[str]


def default_install_dir(name: str = DEFAULT_BUNDLE) -> Path:
    """Where ``models fetch NAME`` installs: ``<user data dir>/models/NAME``."""
    return paths.user_models_dir() / name


def candidate_dirs(explicit: StrPath | None = None) -> list[tuple[str, Path]]:
    """Every place a bundle may be, in search order, as ``(label, folder)`` pairs."""
    found: list[tuple[str, Path]] = []
    if explicit is not None and str(explicit) != "":
        found.append(("--model", _named(explicit)))
    env = os.environ.get(MODEL_DIR_ENV, "").strip()
    if env:
        found.append((MODEL_DIR_ENV, Path(env).expanduser()))
    chosen = default_model()
    if chosen is not None:
        found.append((DEFAULT_LABEL, _named(chosen)))
    if paths.is_frozen():
        found.append(("bundled", paths.resource_path("models", DEFAULT_BUNDLE)))
    root = paths.checkout_root()
    if root is not None:
        found.append(("checkout", root / "models" / DEFAULT_BUNDLE))
    found.append(("user data", default_install_dir()))
    return found


def _named(name_or_dir: StrPath) -> Path:
    """The folder a model name or path stands for; an unknown name stands for the user data
    folder's (missing) ``models/NAME``, which `find_bundle` reports."""
    try:
        return resolve_model(name_or_dir)
    except ModelError:
        return paths.user_models_dir() / os.fspath(name_or_dir)


def bundle_problems(folder: Path) -> list[str]:
    """What keeps ``folder`` from looking like a bundle (empty list: it looks like one).

    Only the quick structural check used for locating; ``Bundle.open`` checks every file.
    """
    if not folder.exists():
        return ["the folder does not exist"]
    if not folder.is_dir():
        return ["not a folder"]
    problems = []
    if not (folder / "config.json").is_file():
        problems.append("config.json is missing")
    if find_onnx(folder, "encoder_model", quantized=True) is None:  # either form, or shipped
        problems.append(
            "no encoder model (encoder_model_quantized.onnx or encoder_model.onnx, "
            "at the top or under onnx/)"
        )
    return problems


def find_bundle(explicit: StrPath | None = None) -> Path | None:
    """The first candidate folder that looks like a bundle, or None when there is none.

    Raises ModelError when a folder the user named (``explicit`` or ``$NANOCAPTION_MODEL_DIR``)
    is not a bundle, naming the folder and what is missing; an unknown model name lists the
    installed ones.
    """
    if explicit is not None and str(explicit) != "":
        resolve_model(explicit)
    for label, folder in candidate_dirs(explicit):
        problems = bundle_problems(folder)
        if not problems:
            log.debug("model bundle found (%s): %s", label, folder)
            return folder
        if label in EXPLICIT_LABELS:
            raise ModelError(str(folder), f"not a model bundle ({label}): " + "; ".join(problems))
        log.debug("no bundle at %s (%s): %s", folder, label, "; ".join(problems))
    return None
