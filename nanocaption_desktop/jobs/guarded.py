"""One image's failure while captioning is that image's failed result, never the batch's end
(``BatchRun`` wraps its captioner in these)."""

from __future__ import annotations

import logging
from typing import Any

from ..engine.errors import Cancelled, ModelError

log = logging.getLogger(__name__)


class _Failure:
    """What `_Guarded` hands back for an image whose captioning raised."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.seconds = 0.0


class _Guarded:
    """One image's unexpected failure becomes that image's failed result, never the batch's end;
    a cancel and a broken model (`ModelError`) still end the batch."""

    def __init__(self, captioner: Any) -> None:
        self.captioner = captioner
        self.settings = getattr(captioner, "settings", None)  # greedy or not (pipeline.py)

    def caption_pixels(self, pixels: Any, *, source: str = "", **kw: Any) -> Any:
        try:
            return self.captioner.caption_pixels(pixels, source=source, **kw)
        except (Cancelled, ModelError):
            raise
        except Exception as e:
            log.exception("captioning %s failed", source)
            return _Failure(f"captioning failed: {e}")


class _GuardedRows(_Guarded):
    """`_Guarded` for a captioner that decodes several images together (engine/rows.py)."""

    def caption_rows(self, pixels: list[Any], *, sources: list[str], **kw: Any) -> list[Any]:
        """Several images decoded together; when that raises, each image again alone, so only
        the image at fault fails."""
        try:
            return list(self.captioner.caption_rows(pixels, sources=sources, **kw))
        except (Cancelled, ModelError):
            raise
        except Exception as e:
            log.warning("captioning %s together failed (%s); one by one", ", ".join(sources), e)
        return [
            self.caption_pixels(p, source=src, beams=1, **kw)
            for p, src in zip(pixels, sources, strict=True)
        ]


def guarded(captioner: Any) -> _Guarded:
    return _GuardedRows(captioner) if hasattr(captioner, "caption_rows") else _Guarded(captioner)
