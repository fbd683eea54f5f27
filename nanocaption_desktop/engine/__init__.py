"""The captioning engine: no Qt, usable from the CLI, the API and tests without a display.

Imports are lazy so that `engine.errors` (used by every layer) does not load onnxruntime.
"""

from __future__ import annotations

from typing import Any

from .errors import Cancelled, ImageError, ModelError, NanoCaptionError, RequestError

__all__ = [
    "Caption",
    "Captioner",
    "Cancelled",
    "ImageError",
    "ModelError",
    "NanoCaptionError",
    "RequestError",
    "load_image",
]


def __getattr__(name: str) -> Any:
    if name in ("Caption", "Captioner"):
        from . import captioner

        return getattr(captioner, name)
    if name == "load_image":
        from .images import load_image

        return load_image
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
