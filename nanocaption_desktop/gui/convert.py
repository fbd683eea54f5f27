"""From engine and batch values to what the window shows (used in the worker's thread)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engine.errors import ImageError, ModelError, NanoCaptionError
from ..review.files import identity_if_readable
from .messages import BatchRow, BatchUpdate

if TYPE_CHECKING:
    from PIL.Image import Image
    from PySide6.QtGui import QImage

    from ..jobs.results import BatchResult


def plain_error(exc: BaseException) -> str:
    """A short sentence for people: the reason without a traceback or a repeated file name,
    in the window's words (``for_window``)."""
    if isinstance(exc, ImageError):
        return for_window(exc.reason)
    if isinstance(exc, ModelError):
        return for_window(f"{exc.reason} ({exc.path})")
    if isinstance(exc, NanoCaptionError):
        return for_window(str(exc))
    text = str(exc).strip() or type(exc).__name__
    return for_window(text.splitlines()[0][:300])


#: What the engine and model store say for the command line, and what a window user does
#: instead (the first match of each pattern is replaced; order matters: longest first).
_WINDOW_WORDS = (
    (r"run `?nanocaption-desktop models fetch`?", "use Download model"),
    (r"`?nanocaption-desktop models (verify|path)`?", "Help > About NanoCaption"),
    (r"pass --model DIR\s*(/|or)\s*set NANOCAPTION_MODEL_DIR(=DIR)?", "choose the model folder"),
    (r"pass --model DIR", "choose the model folder"),
    (r"\(--model\)", "(the model folder you chose)"),
    (r"--model DIR", "the model folder you chose"),
    (r"--model", "the model folder you chose"),
)


def for_window(text: str) -> str:
    """``text`` without command-line options: "pass --model DIR" becomes "choose the model
    folder" (Settings or the missing-model panel do that in the window)."""
    import re

    for pattern, words in _WINDOW_WORDS:
        text = re.sub(pattern, words, text)
    return text


def qimage_to_pil(image: QImage) -> Image:
    """A QImage (already decoded by Qt, e.g. from the clipboard) as an RGB PIL image."""
    from PIL import Image as PilImage
    from PySide6.QtGui import QImage

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    data = bytes(rgb.constBits())
    return PilImage.frombuffer("RGB", (width, height), data, "raw", "RGB", stride, 1).copy()


def batch_row(result: BatchResult) -> BatchRow:
    """The table's row of a result, with the photo's identity and quick hash for the review
    workspace (taken here, on the worker's thread, right after the batch read the photo)."""
    status = result.status.value
    if result.resumed:
        status = "done earlier"
    if result.sidecar == "failed" and status == "ok":
        status = "ok, sidecar not written"
    ok = result.ok and not result.resumed
    return BatchRow(
        str(result.path),
        result.caption or "",
        result.score,
        status,
        result.error or "",
        identity_if_readable(result.path, with_hash=True) if ok else None,
    )


def batch_update(batch_id: int, result: BatchResult) -> BatchUpdate | None:
    if result.progress is None:
        return None
    return BatchUpdate(batch_id, result.progress, str(result.path))


class Announcing:
    """The captioner, saying which image the model starts on before it runs.

    ``jobs`` has no "image started" event: its batch calls ``caption_pixels(pixels,
    source=<path relative to the folder>, ...)`` for each image right before the model runs (on
    the worker's thread, or on a lane's thread when two images are captioned at once), or
    ``caption_rows(pixels, sources=[...], ...)`` for several decoded together, or
    ``encode_rows(pixels, source=...)`` for each image of a group decoded later, so that call is
    where the image being captioned now is known. Everything else passes through.
    """

    def __init__(self, captioner: Any, started: Callable[[str], None]) -> None:
        self._captioner = captioner
        self._started = started

    def caption_pixels(self, pixels: Any, *args: Any, **kwargs: Any) -> Any:
        source = kwargs.get("source")
        if source:
            self._started(str(source))
        return self._captioner.caption_pixels(pixels, *args, **kwargs)

    def caption_rows(self, pixels: Any, *args: Any, **kwargs: Any) -> Any:
        """Several images decoded together (engine/rows.py): the first is the one announced."""
        sources = kwargs.get("sources") or []
        if sources:
            self._started(str(sources[0]))
        return self._captioner.caption_rows(pixels, *args, **kwargs)

    def encode_rows(self, pixels: Any, *args: Any, **kwargs: Any) -> Any:
        """One image's encoder, ahead of its group's decoding (engine/groups.py): the model
        starts on that image here."""
        source = kwargs.get("source")
        if source:
            self._started(str(source))
        return self._captioner.encode_rows(pixels, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._captioner, name)
