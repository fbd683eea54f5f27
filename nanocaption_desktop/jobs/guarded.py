"""One image's failure while captioning is that image's failed result, never the batch's end
(``BatchRun`` wraps its captioner in these)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..engine.errors import Cancelled, ModelError

log = logging.getLogger(__name__)


class _Failure:
    """What `_Guarded` hands back for an image whose captioning raised."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.seconds = 0.0


def _alone(source: str, call: Callable[[], Any]) -> Any:
    """`call()`, or that image's failure when it raises; a cancel and a broken model
    (`ModelError`) still end the batch."""
    try:
        return call()
    except (Cancelled, ModelError):
        raise
    except Exception as e:
        log.exception("captioning %s failed", source)
        return _Failure(f"captioning failed: {e}")


class _Guarded:
    """One image's unexpected failure becomes that image's failed result, never the batch's end;
    a cancel and a broken model (`ModelError`) still end the batch."""

    def __init__(self, captioner: Any) -> None:
        self.captioner = captioner
        self.settings = getattr(captioner, "settings", None)  # greedy or not (pipeline.py)

    def caption_pixels(self, pixels: Any, *, source: str = "", **kw: Any) -> Any:
        return _alone(source, lambda: self.captioner.caption_pixels(pixels, source=source, **kw))


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


class _GuardedGroups(_GuardedRows):
    """`_GuardedRows` for a captioner whose groups are encoded and decoded apart
    (engine/groups.py): an image whose encoder raises is that image's failure; a group whose
    decoding raises is decoded again image by image, so only the image at fault fails."""

    def rows_decoder(self) -> Any:
        return self.captioner.rows_decoder()

    def encode_rows(self, pixels: Any, *, source: str = "", **kw: Any) -> Any:
        return _alone(source, lambda: self.captioner.encode_rows(pixels, source=source, **kw))

    def decode_rows(self, encoded: list[Any], **kw: Any) -> list[Any]:
        try:
            return list(self.captioner.decode_rows(encoded, **kw))
        except (Cancelled, ModelError):
            raise
        except Exception as e:
            names = ", ".join(x.source for x in encoded)
            log.warning("captioning %s together failed (%s); one by one", names, e)
        return [self._one(x, **kw) for x in encoded]

    def _one(self, encoded: Any, **kw: Any) -> Any:
        return _alone(encoded.source, lambda: self.captioner.decode_rows([encoded], **kw)[0])


def guarded(captioner: Any) -> _Guarded:
    if all(hasattr(captioner, m) for m in ("encode_rows", "decode_rows", "caption_rows")):
        return _GuardedGroups(captioner)
    return _GuardedRows(captioner) if hasattr(captioner, "caption_rows") else _Guarded(captioner)
