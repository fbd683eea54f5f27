"""The scoring library, loaded only when an evaluation runs: pycocoevalcap (the COCO caption
evaluation code, BSD-2-Clause; its tokenizer and METEOR are Java jars it ships) and, for the
Python tokenization, nltk (Apache-2.0). Both come with the ``evaluate`` extra."""

from __future__ import annotations

import shutil
from typing import Any

from ..ground.errors import EvaluationError

INSTALL_HINT = "pip install 'nanocaption-desktop[evaluate]'"


def coco_caption() -> Any:
    """The ``pycocoevalcap`` package, or an `EvaluationError` saying how to install it."""
    try:
        import pycocoevalcap
    except ImportError as e:
        raise EvaluationError(
            "evaluate", f"needs pycocoevalcap, the COCO caption evaluation code: {INSTALL_HINT}"
        ) from e
    return pycocoevalcap


def java() -> str | None:
    """The ``java`` executable on PATH, or None (then no METEOR, and Python tokenization)."""
    return shutil.which("java")
