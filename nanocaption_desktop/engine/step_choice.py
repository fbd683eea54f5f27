"""Which decoder one caption's tokens take: the step engine where its checked copy is derived
here (own_step.py, derive/engine.py), else the step graph (issue 18)."""

from __future__ import annotations

import logging

from .decoder import HoistedDecoder, open_hoisted
from .derive import DerivedDecoder, derived_engine
from .errors import ModelError
from .own_step import open_engine

log = logging.getLogger(__name__)


def open_decoder(found: DerivedDecoder, threads: int | None) -> HoistedDecoder:
    """The derived pair's cross graph and, for one caption's tokens, the step engine where its
    checked copy is derived here (derive/engine.py); else (or when it cannot be opened) the
    step graph."""
    cross, step, broadcast = found.cross, found.step, found.broadcast
    folder = derived_engine(step)
    if folder is not None:
        try:
            return open_engine(cross, step, folder, threads=threads, broadcast=broadcast)
        except (ModelError, OSError, MemoryError) as e:
            log.warning("the step graph decodes (step engine: %s)", e)
    return open_hoisted(cross, step, threads=threads, broadcast=broadcast)
