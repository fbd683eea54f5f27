"""Where the app looks for a model bundle, first hit wins (DESIGN.md, "Model bundles").

1. an explicit path (``--model DIR``, a setting), 2. ``$NANOCAPTION_MODEL_DIR``, 3. the bundle
inside a frozen executable, 4. the checkout's ``models/vit-gpt2``,
5. ``<user data dir>/models/vit-gpt2``.
A path the user named (1 or 2) that is not a bundle is an error, never silently skipped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..ground import paths
from ..ground.errors import ModelError
from .layout import find_onnx
from .registry import DEFAULT_BUNDLE

log = logging.getLogger(__name__)

MODEL_DIR_ENV = "NANOCAPTION_MODEL_DIR"
EXPLICIT_LABELS = ("--model", MODEL_DIR_ENV)

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
        found.append(("--model", Path(explicit).expanduser()))
    env = os.environ.get(MODEL_DIR_ENV, "").strip()
    if env:
        found.append((MODEL_DIR_ENV, Path(env).expanduser()))
    if paths.is_frozen():
        found.append(("bundled", paths.resource_path("models", DEFAULT_BUNDLE)))
    root = paths.checkout_root()
    if root is not None:
        found.append(("checkout", root / "models" / DEFAULT_BUNDLE))
    found.append(("user data", default_install_dir()))
    return found


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
    is not a bundle, naming the folder and what is missing.
    """
    for label, folder in candidate_dirs(explicit):
        problems = bundle_problems(folder)
        if not problems:
            log.debug("model bundle found (%s): %s", label, folder)
            return folder
        if label in EXPLICIT_LABELS:
            raise ModelError(str(folder), f"not a model bundle ({label}): " + "; ".join(problems))
        log.debug("no bundle at %s (%s): %s", folder, label, "; ".join(problems))
    return None
