"""The error types a caller of the engine meets (defined in `ground.errors`, re-exported here:
``from nanocaption_desktop.engine.errors import ModelError`` keeps working)."""

from __future__ import annotations

from ..ground.errors import Cancelled, ImageError, ModelError, NanoCaptionError, RequestError

__all__ = ["Cancelled", "ImageError", "ModelError", "NanoCaptionError", "RequestError"]
