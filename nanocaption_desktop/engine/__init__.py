"""The captioning engine: no Qt, usable from the CLI, the API and tests without a display."""

from .captioner import Caption, Captioner
from .errors import Cancelled, ImageError, ModelError, NanoCaptionError
from .images import load_image

__all__ = ["Caption", "Captioner", "Cancelled", "ImageError", "ModelError", "NanoCaptionError",
           "load_image"]
