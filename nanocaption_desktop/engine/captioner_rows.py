"""Several images decoded together on the rows graph: the Captioner's side (engine/rows.py).

`encode_rows` runs one image's encoder, `decode_rows` decodes a group of encoded images in one
weight pass per step; engine/groups.py schedules the two so that one group decodes while the other
cores encode the next images. `caption_rows` does both for one group. Every caption is the one
the image gets alone (the rows graph's derive check)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import kernels
from .caption import Caption
from .decoder import EXACT, STEP_SPINNING, HoistedDecoder
from .decoding import CancelFlag, generate
from .derive import derived_own, derived_rows, stock_graphs_asked
from .errors import Cancelled
from .hugepages import SessionPages
from .memory import give_back
from .preprocess import check_pixel_values
from .rows import RowsDecoder
from .sessions import make_session

if TYPE_CHECKING:
    from .decoding import GenerationSettings
    from .preprocess import PreprocessConfig


@dataclass(frozen=True)
class Encoded:
    """One image's encoder output, waiting for its group (`decode_rows`)."""

    hidden: np.ndarray  # [1, positions, hidden]
    source: str
    seconds: float  # the encoder's time for this image


class RowsCaptioning:
    """The rows methods of `Captioner` (a mixin: it provides the attributes below)."""

    decoder: Any
    threads: int
    settings: GenerationSettings
    detokenizer: Any
    preprocess_config: PreprocessConfig
    _rows: RowsDecoder | None | bool
    pages: SessionPages

    if TYPE_CHECKING:

        def encode(self, pixel_values: np.ndarray) -> np.ndarray: ...  # Captioner's own

    def rows_decoder(self) -> RowsDecoder | None:
        """The rows graph (several images per step, engine/rows.py), derived and opened on first
        use (its own graph where the own kernel runs: the window's batches); None when the
        decoder is not the hoisted pair or no rows copy can be made."""
        if self._rows is False:
            self._rows = None
            dec = self.decoder
            found = None
            if isinstance(dec, HoistedDecoder) and dec.broadcast and not stock_graphs_asked():
                found = derived_rows(Path(dec.path))
            if found is not None:
                # the own graph where the own kernel runs (kernels/, derive/own.py)
                own = derived_own(found.step)  # None where the kernel cannot run
                with self.pages.creating():
                    session = make_session(
                        own or found.step,
                        threads=self.threads,
                        spinning=STEP_SPINNING,
                        disabled_optimizers=EXACT,
                        custom_ops=kernels.library() if own is not None else None,
                    )
                self._rows = RowsDecoder(dec, session, found.per_image)
        return self._rows if isinstance(self._rows, RowsDecoder) else None

    def encode_rows(
        self, pixel_values: np.ndarray, *, source: str = "", cancel: CancelFlag | None = None
    ) -> Encoded:
        """One image's encoder output for `decode_rows`. Bad pixel values raise `RequestError`
        (a ValueError) before any work."""
        t0 = time.perf_counter()
        pixels = check_pixel_values(pixel_values, self.preprocess_config)
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        return Encoded(self.encode(pixels), source, time.perf_counter() - t0)

    def decode_rows(
        self,
        encoded: list[Encoded],
        *,
        max_new_tokens: int | None = None,
        cancel: CancelFlag | None = None,
    ) -> list[Caption]:
        """Greedy captions of encoded images, decoded together on the rows graph (one at a time
        without one), each the caption the image gets alone. A caption's seconds: its encoder
        plus the group's decoding."""
        settings = self.settings.override(beams=1, max_new_tokens=max_new_tokens)
        t0 = time.perf_counter()
        rows = self.rows_decoder()
        if rows is None or len(encoded) == 1:
            results = [generate(self.decoder.begin(e.hidden, 1), settings, cancel) for e in encoded]
        else:
            give_back()  # folder mode: what the encoders freed, before the keys/values
            results = rows.greedy((e.hidden for e in encoded), len(encoded), settings, cancel)
        seconds = time.perf_counter() - t0
        return [
            Caption(
                self.detokenizer.decode(r.token_ids),
                r.token_ids,
                r.score,
                e.seconds + seconds,
                e.source,
            )
            for r, e in zip(results, encoded, strict=True)
        ]

    def caption_rows(
        self,
        pixels: list[np.ndarray],
        *,
        sources: list[str],
        max_new_tokens: int | None = None,
        cancel: CancelFlag | None = None,
    ) -> list[Caption]:
        """Greedy captions of several images decoded together (one row each, `rows_decoder`),
        each the one `caption_pixels` gives the image alone (`decode_rows` decodes them one at
        a time without a rows graph)."""
        self.settings.override(beams=1, max_new_tokens=max_new_tokens)  # checked before work
        encoded = [
            self.encode_rows(p, source=s, cancel=cancel)
            for p, s in zip(pixels, sources, strict=True)
        ]
        return self.decode_rows(encoded, max_new_tokens=max_new_tokens, cancel=cancel)
