"""The one place the GUI calls into the engine, the model store and the batch layer.

Everything here runs in the worker thread. Tests pass their own ``Backend`` to the worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..engine.errors import Cancelled, ImageError, ModelError, NanoCaptionError
from .messages import BatchProgress, BatchRequest, BatchRow, CaptionRequest

log = logging.getLogger(__name__)

DEFAULT_MODEL = "vit-gpt2"

__all__ = ["Backend", "Cancelled", "is_image_error", "plain_error"]


def is_image_error(exc: BaseException) -> bool:
    return isinstance(exc, ImageError)


def plain_error(exc: BaseException) -> str:
    """A short sentence for people: the reason without a traceback or a repeated file name."""
    if isinstance(exc, ImageError):
        return exc.reason
    if isinstance(exc, ModelError):
        return f"{exc.reason} ({exc.path})"
    if isinstance(exc, NanoCaptionError):
        return str(exc)
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def qimage_to_pil(image: Any) -> Any:
    """A QImage (already decoded by Qt, e.g. from the clipboard) as an RGB PIL image."""
    from PIL import Image
    from PySide6.QtGui import QImage

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    data = bytes(rgb.constBits())
    return Image.frombuffer("RGB", (width, height), data, "raw", "RGB", stride, 1).copy()


class Backend:
    """Real implementation over ``engine``, ``modelstore`` and ``jobs``.

    Untrusted images are decoded in the engine's ``DecodePool`` (subprocesses), made when a model
    loads (its preprocessing settings come from the bundle) and closed by ``close()``.
    """

    def __init__(self, *, isolate: bool = True) -> None:
        self.isolate = isolate
        self._pool: Any = None

    def locate(self, explicit: str | None) -> Path | None:
        from ..modelstore.locate import find_bundle

        return find_bundle(explicit or None)  # raises ModelError when ``explicit`` is no bundle

    def searched(self, explicit: str | None) -> list[str]:
        try:
            from ..modelstore.locate import candidate_dirs

            return [f"{path} ({label})" for label, path in candidate_dirs(explicit or None)]
        except Exception:  # the list is only shown to people: never fail on it
            return [explicit] if explicit else []

    def preparing(self, path: Path) -> bool:
        """Whether loading `path` will first derive its optimized graphs (derive.py): seconds
        for the full model, once; `models fetch` does it at install."""
        from ..engine.bundle import Bundle
        from ..engine.derive import derive_pending

        try:
            bundle = Bundle.open(path)
        except Exception:  # noqa: BLE001 - the load itself reports what is wrong
            return False
        return derive_pending(bundle.encoder) or derive_pending(bundle.decoder)

    def load(self, path: Path) -> Any:
        from ..engine.captioner import Captioner
        from ..engine.sessions import physical_cores, threads_for_lanes

        # two lanes for folder batches (1.5x the images per second of one image on all cores);
        # the encoder keeps every core, so that one image alone is about as fast as on all
        captioner = Captioner.load(
            path, threads=threads_for_lanes(2), encoder_threads=physical_cores()
        )
        self.close()
        if self.isolate:
            from ..engine.isolation import DecodePool

            self._pool = DecodePool(captioner.preprocess_config, workers=1)
        return captioner

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def fetch(self, *, progress: Callable[..., None], cancel: threading.Event) -> Path:
        from ..modelstore.fetch import fetch

        def report(done: int, total: int | None = None, *_: Any) -> None:
            progress(done, total)

        return Path(fetch(DEFAULT_MODEL, progress=report, cancel=cancel))

    def caption(self, captioner: Any, request: CaptionRequest) -> Any:
        source = request.source
        options = dict(
            beams=request.beams, max_new_tokens=request.max_new_tokens, cancel=request.cancel
        )
        if not isinstance(source, (str, bytes, Path)):  # a QImage Qt already decoded
            return captioner.caption(qimage_to_pil(source), **options)
        if self._pool is None:
            return captioner.caption(source, **options)
        pixels = self._pool.prepare(source, name=request.name)
        return captioner.caption_pixels(pixels, source=request.name, **options)

    def run_batch(
        self,
        captioner: Any,
        request: BatchRequest,
        started: Callable[[str], None] | None = None,
    ) -> Iterator[tuple[BatchRow | None, BatchProgress | None]]:
        """Caption the folder; ``started(path)`` is called as the model starts on each image."""
        from ..jobs import caption_folder

        results = caption_folder(
            request.folder,
            captioner=_Announcing(captioner, started) if started else captioner,
            recursive=request.recursive,
            csv=request.csv,
            jsonl=request.jsonl,
            sidecars=None if request.sidecars == "off" else request.sidecars,
            resume=request.resume,
            beams=request.beams,
            max_new_tokens=request.max_new_tokens,
            cancel=request.cancel,
            preparer=self._pool.prepare if self._pool is not None else None,
        )
        for result in results:
            yield _row(result), _progress(request.id, result)


class _Announcing:
    """The captioner, saying which image the model starts on before it runs.

    ``jobs`` has no "image started" event: its batch calls ``caption_pixels(pixels,
    source=<path relative to the folder>, ...)`` for each image right before the model runs (on
    the worker's thread, or on a lane's thread when two images are captioned at once), so that
    call is where the image being captioned now is known. Everything else passes through.
    """

    def __init__(self, captioner: Any, started: Callable[[str], None]) -> None:
        self._captioner = captioner
        self._started = started

    def caption_pixels(self, pixels: Any, *args: Any, **kwargs: Any) -> Any:
        source = kwargs.get("source")
        if source:
            self._started(str(source))
        return self._captioner.caption_pixels(pixels, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._captioner, name)


def _row(result: Any) -> BatchRow:
    status = getattr(result.status, "value", str(result.status))
    if getattr(result, "resumed", False):
        status = "done earlier"
    if getattr(result, "sidecar", None) == "failed" and status == "ok":
        status = "ok, sidecar not written"
    return BatchRow(
        str(result.path), result.caption or "", result.score, status, result.error or ""
    )


def _progress(batch_id: int, result: Any) -> BatchProgress | None:
    info = result.progress
    if info is None:
        return None
    return BatchProgress(
        batch_id, info.finished, info.total, info.failed, info.rate, info.eta, str(result.path)
    )
