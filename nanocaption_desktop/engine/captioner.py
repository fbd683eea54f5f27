"""The Captioner facade: image in, caption out."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import hugepages, kernels
from .bundle import Bundle
from .caption import Caption
from .captioner_rows import RowsCaptioning
from .decoder import EXACT, STEP_SPINNING, HoistedDecoder, StockDecoder
from .decoding import CancelFlag, generate
from .derive import (
    DerivedRows,
    derived_decoder,
    derived_encoder,
    derived_files,
    derived_own,
    derived_rows,
    stock_graphs_asked,
)
from .errors import Cancelled, ModelError, NanoCaptionError
from .images import ImageSource, checked_megapixels, load_image, source_name
from .limits import DEFAULT_MAX_MEGAPIXELS
from .loadcheck import read_values
from .own_step import EngineDecoder
from .pipeline import caption_stream
from .preprocess import check_pixel_values, preprocess
from .probe import check_before_load
from .rows import RowsDecoder
from .sessions import make_session, physical_cores, run
from .step_choice import open_decoder

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["Caption", "Captioner"]


class Captioner(RowsCaptioning):
    def __init__(
        self,
        bundle: Bundle,
        *,
        threads: int | None = None,
        encoder_threads: int | None = None,
        rows_graph: bool = False,
    ) -> None:
        """`threads`, `encoder_threads`, `rows_graph`: see `load` (threads default: every
        physical core)."""
        self.bundle = bundle
        #: the largest image decoded, in megapixels (`Captioner.load(max_megapixels=...)`)
        self.max_megapixels = DEFAULT_MAX_MEGAPIXELS
        self.threads = threads or physical_cores()
        values = read_values(bundle)  # every number checked: a ModelError names file and key
        self.preprocess_config = values.preprocess
        self.settings = values.settings
        self.detokenizer = values.detokenizer
        # The optimized encoder is derived (the first time) before any session holds memory.
        # Then the decoder: creating a session briefly holds its weights twice, and that peak
        # is lower before the encoder is resident (full INT8: peak RSS 435 -> 384 MB). The
        # encoder keeps prepacked weights (sessions.py: 67 -> 58 ms with spinning on 2 threads,
        # 119 -> 114 on one; one-image peak RSS 409 -> 419-425 MB, folder mode none more).
        # (Those RSS figures: weights inline. With the derived graphs' weights memory-mapped
        # from their data files, derive/external.py, one image peaks at 357 MB.)
        self.encoder_file = self._encoder_file(bundle)
        # the memory the sessions get (their prepacked weights, their arenas) goes onto 2 MB
        # pages from the second image on (hugepages.py: one caption 214 -> 193 ms, full INT8
        # model, 2 cores)
        self.pages = hugepages.SessionPages()
        self._rows: RowsDecoder | None | bool = False  # False: not looked for yet
        self._beam_step: Path | None = None  # rows-graph mode: the step graph, for beams
        self._own = False  # rows-graph mode: the own graph decodes (kernels/, derive/own.py)
        self._beam_decoder: HoistedDecoder | None = None  # ... opened on first use
        self._beam_lock = threading.Lock()
        self.decoder = self._load_decoder(bundle, threads, rows_graph)
        self.encoder = make_session(
            self.encoder_file,
            threads=encoder_threads or threads,
            # its threads spin between its nodes (never after a run) unless another worker's
            # decoding shares the cores (the window's lanes: encoder_threads > threads)
            spinning=(encoder_threads or threads) == threads and not rows_graph,
            prepack=True,
            arena=not rows_graph,  # folder mode: no arena (engine/memory.py)
        )

    @staticmethod
    def _optimized(
        graph: Path, has_stock: bool, find: Callable[[Path], T | None], what: str
    ) -> T | None:
        """`find(graph)`: the derived copy of a stock graph (derived and cached on first use,
        engine/derive/), or None for the stock graph: when it cannot be optimized or
        NANOCAPTION_STOCK_DECODER=1 asks for the stock graphs. A bundle that ships the copy
        alone (`has_stock` False) has no stock graph to fall back to."""
        found = None if stock_graphs_asked() and has_stock else find(graph)
        if found is None and not has_stock:
            raise ModelError(
                str(graph), f"missing file, and the optimized {what} shipped instead is not usable"
            )
        return found

    @classmethod
    def _encoder_file(cls, bundle: Bundle) -> Path:
        """The encoder with its patch projection as a matrix product (bit for bit the stock
        encoder's output, 3-5 ms faster on the full model), or the stock encoder."""
        found = cls._optimized(bundle.encoder, bundle.has_stock_encoder, derived_encoder, "encoder")
        return found or bundle.encoder

    def _load_decoder(self, bundle: Bundle, threads: int | None, rows_graph: bool) -> Any:
        """The hoisted cross/step pair (the cross and rows graphs with `rows_graph`), or the
        stock graph."""
        stock = bundle.has_stock_decoder
        found = self._optimized(bundle.decoder, stock, derived_decoder, "decoder pair")
        if found is not None:
            try:
                rows = derived_rows(found.step) if rows_graph and found.broadcast else None
                if rows is not None:
                    # with the own kernel (kernels/), the own graph: the rows graph's products on
                    # it, checked bit for bit against the step graph (derive/own.py); a folder
                    # 9.91 -> 10.59 images/s (full INT8 model, 2 cores, six fresh pairs)
                    own = derived_own(rows.step)  # None where the kernel cannot run
                    return self._open_rows_graph(found.cross, found.step, rows, threads, own)
                return open_decoder(found, threads)  # the step engine where it runs (own_step)
            except ModelError as e:
                if not stock:
                    raise
                log.warning("using the stock decoder graph: %s", e)
        session = make_session(bundle.decoder, threads=threads, spinning=STEP_SPINNING)
        return StockDecoder(session, str(bundle.decoder))

    def _open_rows_graph(
        self,
        cross: Path,
        step: Path,
        rows: DerivedRows,
        threads: int | None,
        own: Path | None = None,
    ) -> HoistedDecoder:
        """The cross graph and the rows graph (or `own`, the rows graph on the own kernel),
        which serves one row as the step graph does (its derive check proves 1 row bit for
        bit), so the weights are held once; the step graph is opened only for a beam search
        (`_decoder_for`)."""
        # with its arena: steps of 8 rows 733 -> 663 ms (16 steps), peak 552-563 -> 568 MB
        # (weights inline; memory-mapped, groups of 8 peak at 548 MB)
        library = kernels.library() if own is not None else None
        session = _step_session(own or rows.step, threads, arena=True, custom_ops=library)
        self._own = library is not None
        # with its arena too: 8 images 25.4 -> 21.2 ms each (sessions.py)
        cross_session = make_session(
            cross, threads=threads, spinning=False, disabled_optimizers=EXACT, arena=True
        )
        one = HoistedDecoder(cross_session, session, str(step))
        self._rows = RowsDecoder(one, session, rows.per_image)
        self._beam_step = step
        return one

    def _decoder_for(self, beams: int) -> Any:
        """The decoder for `beams` rows of one image. In rows-graph mode a beam search takes the
        step graph (opened once, on first use): its beams share one quantization scale per
        step, and the rows graph quantizes each row on its own, which would change them."""
        if beams == 1 or self._beam_step is None:
            return self.decoder
        with self._beam_lock:
            if self._beam_decoder is None:
                with self.pages.creating():
                    step = _step_session(self._beam_step, self.threads, arena=False)
                self._beam_decoder = HoistedDecoder(self.decoder.cross, step, self.decoder.path)
            return self._beam_decoder

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        quantized: bool = True,
        threads: int | None = None,
        decoder: str | None = None,
        encoder_threads: int | None = None,
        max_megapixels: float | None = None,
        rows_graph: bool = False,
    ) -> Captioner:
        """Find and check a bundle (see DESIGN.md for where it looks) and create the sessions.

        `threads` (default: every physical core) also sets how many images `caption_stream`
        captions at once: cores // threads. `encoder_threads` lets the encoder, which is bound
        by compute, use more cores than the decoder, which is bound by memory bandwidth: two
        lanes on one-thread decoders with a two-thread encoder give a single image nearly the
        speed of two threads everywhere and a folder about 95% of all single-thread sessions
        (full INT8 model, 2 cores: 151-168 against 190 ms alone; 9.0-9.5 against 9.5-9.9
        images/s). `max_megapixels`: the largest image it decodes (default
        `limits.DEFAULT_MAX_MEGAPIXELS`; a large JPEG counts at the scale it is decoded at).
        `rows_graph` (a folder of greedy captions several rows at a time, engine/rows.py): the
        rows graph replaces the step graph, so the decoder's weights are held once; every caption
        is the same, and a beam search opens the step graph when it first runs."""
        megapixels = checked_megapixels(max_megapixels)  # a RequestError before any work
        if path is None:
            from ..modelstore.locate import find_bundle

            found = find_bundle()
            if found is None:
                why = "no model installed: run `nanocaption-desktop models fetch`, or pass"
                raise ModelError("model", f"{why} --model DIR / set NANOCAPTION_MODEL_DIR")
            path = found
        else:
            from ..modelstore.installed import resolve_model

            path = resolve_model(path)  # a name (``models list``) or a folder
        t0 = time.perf_counter()
        bundle = Bundle.open(path, quantized=quantized, decoder=decoder)  # reads JSON only
        # tampering checks; an untrusted bundle's graphs are opened in a throw-away process first
        loads = [
            *([bundle.encoder] if bundle.has_stock_encoder else derived_files(bundle.encoder)),
            *([bundle.decoder] if bundle.has_stock_decoder else derived_files(bundle.decoder)),
        ]
        check_before_load(path, loads=loads)
        captioner = cls(
            bundle, threads=threads, encoder_threads=encoder_threads, rows_graph=rows_graph
        )
        captioner.max_megapixels = megapixels
        log.info(
            "loaded %s in %.2f s; decoder: %s; encoder: %s",
            captioner.bundle,
            time.perf_counter() - t0,
            captioner.decoder_graphs,
            captioner.encoder_graph,
        )
        return captioner

    @property
    def decoder_graphs(self) -> str:
        """ "hoisted pair" (the cross/step graphs; ", step engine": one caption on own_step's
        engine), "hoisted pair, rows graph" (the rows graph in the step graph's place), "hoisted
        pair, rows graph, own kernel" (its products on the own kernel) or "stock graph"."""
        if not isinstance(self.decoder, HoistedDecoder):
            return "stock graph"
        engine = isinstance(self.decoder, EngineDecoder)
        if self._beam_step is None:
            return "hoisted pair, step engine" if engine else "hoisted pair"
        return "hoisted pair, rows graph" + (", own kernel" if self._own else "")

    @property
    def encoder_graph(self) -> str:
        """ "patches as a matrix product" (the optimized copy) or "stock graph"."""
        stock = self.encoder_file == self.bundle.encoder
        return "stock graph" if stock else "patches as a matrix product"

    @property
    def model_name(self) -> str:
        return self.bundle.name

    def prepare(self, image: ImageSource, *, name: str | None = None) -> np.ndarray:
        """Decode and preprocess one image: pixel values [1,3,H,W]. No model; thread-safe."""
        cfg = self.preprocess_config
        img = load_image(
            image, name=name, need=max(cfg.height, cfg.width), max_megapixels=self.max_megapixels
        )
        return preprocess([img], cfg)

    def encode(self, pixel_values: np.ndarray) -> np.ndarray:
        feeds = {"pixel_values": pixel_values}
        out = run(self.encoder, ["last_hidden_state"], feeds, str(self.encoder_file))[0]
        self.pages.image_encoded()
        return out

    def caption_pixels(
        self,
        pixel_values: np.ndarray,
        *,
        source: str = "",
        beams: int | None = None,
        max_new_tokens: int | None = None,
        cancel: CancelFlag | None = None,
        _t0: float | None = None,
    ) -> Caption:
        """Caption pixel values from `prepare` (float32 [1,3,H,W]). A wrong shape, dtype or
        NaN, or settings out of range, raise `RequestError` (a ValueError) before any work."""
        t0 = time.perf_counter() if _t0 is None else _t0
        settings = self.settings.override(beams=beams, max_new_tokens=max_new_tokens)
        pixels = check_pixel_values(pixel_values, self.preprocess_config)
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        hidden = self.encode(pixels)
        decoder = self._decoder_for(settings.num_beams)
        result = generate(decoder.begin(hidden, settings.num_beams), settings, cancel)
        return Caption(
            self.detokenizer.decode(result.token_ids),
            result.token_ids,
            result.score,
            time.perf_counter() - t0,
            source,
            alternatives=tuple((self.detokenizer.decode(t), s) for t, s in result.alternatives),
        )

    def caption(
        self,
        image: ImageSource,
        *,
        beams: int | None = None,
        max_new_tokens: int | None = None,
        cancel: CancelFlag | None = None,
    ) -> Caption:
        """Caption one image; raises `ImageError` for a bad image, `Cancelled` when cancelled,
        `RequestError` (a ValueError) for settings out of range (before decoding the image)."""
        t0 = time.perf_counter()
        self.settings.override(beams=beams, max_new_tokens=max_new_tokens)
        pixels = self.prepare(image)
        return self.caption_pixels(
            pixels,
            source=source_name(image),
            beams=beams,
            max_new_tokens=max_new_tokens,
            cancel=cancel,
            _t0=t0,
        )

    def caption_stream(
        self,
        items: Iterable[tuple[T, np.ndarray | None, str]],
        *,
        beams: int | None = None,
        max_new_tokens: int | None = None,
        cancel: CancelFlag | None = None,
        rows: int = 1,
    ) -> Iterator[tuple[T, Caption | None]]:
        """`(tag, caption)` for each `(tag, pixel_values or None, source)`, in order, with both
        cores busy (engine/pipeline.py); each caption is the one the image gets alone. None
        pixels pass through as `(tag, None)`. Stops quietly on `cancel`. `rows` > 1: greedy
        captions decode that many images per weight pass in each lane (engine/rows.py)."""
        return caption_stream(
            self, items, beams=beams, max_new_tokens=max_new_tokens, cancel=cancel, rows=rows
        )

    def caption_many(
        self,
        images: Iterable[ImageSource],
        *,
        beams: int | None = None,
        max_new_tokens: int | None = None,
        cancel: CancelFlag | None = None,
        preparer: Callable[..., np.ndarray] | None = None,
    ) -> Iterator[Caption]:
        """Yield a caption per image as each finishes; a bad image yields a Caption with `error`.
        Stops (without raising) when `cancel` is set. Each image is captioned on its own, so a
        caption never depends on the other images. Settings out of range raise `RequestError`
        (a ValueError) here, before any image. `preparer(image, name=...)` replaces `prepare`
        (e.g. `isolation.DecodePool.prepare`, to decode untrusted files in a worker process)."""
        self.settings.override(beams=beams, max_new_tokens=max_new_tokens)
        return self._caption_many(images, beams, max_new_tokens, cancel, preparer or self.prepare)

    def _caption_many(
        self,
        images: Iterable[ImageSource],
        beams: int | None,
        max_new_tokens: int | None,
        cancel: CancelFlag | None,
        prepare: Callable[..., np.ndarray],
    ) -> Iterator[Caption]:
        for image in images:
            if cancel is not None and cancel.is_set():
                return
            t0 = time.perf_counter()
            name = source_name(image)
            try:
                pixels = prepare(image, name=name)
                yield self.caption_pixels(
                    pixels,
                    source=name,
                    beams=beams,
                    max_new_tokens=max_new_tokens,
                    cancel=cancel,
                    _t0=t0,
                )
            except Cancelled:
                return
            except NanoCaptionError as e:
                reason = getattr(e, "reason", str(e))
                yield Caption("", (), float("nan"), time.perf_counter() - t0, name, reason)


def _step_session(
    path: Path, threads: int | None, arena: bool = True, custom_ops: Path | None = None
) -> Any:
    """A step, rows or own graph's session: spinning threads, only the exact optimizers
    (`custom_ops`: the own kernel's library, for the own graph)."""
    return make_session(
        path,
        threads=threads,
        spinning=STEP_SPINNING,
        disabled_optimizers=EXACT,
        arena=arena,
        custom_ops=custom_ops,
    )
