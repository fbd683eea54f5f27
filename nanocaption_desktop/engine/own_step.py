"""The step engine: one caption's tokens decoded by the own library's engine (kernels/step.c)
instead of the step graph, each step bit for bit the step graph's (issue 18).

The derive (derive/engine.py) reads the derived step graph's weights once into two files beside
it, `engine.bin` (every array, 64-byte aligned) and `engine.json` (the model's sizes and where
each array is), and checks the engine against the step graph on this machine: logits and every
key and value, bit for bit, on one thread and on two. Only a checked copy is used.

`own_weights.EngineWeights` reads the weights into memory of the process's own, asked onto 2 MB
pages (a step reads every weight once: on 4 KB pages that is a TLB miss every 4 KB), and
`EngineDecoder` is a `HoistedDecoder` whose single-row runs (greedy decoding of one image) take
the engine. The cross graph still computes an image's keys and values; a beam search (several
rows) opens the step graph on its first use. Each concurrent run has an engine state of its own
(its caches and its worker threads), kept for the next run.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from . import kernels
from .decoder import HoistedDecoder, cross_session, step_session
from .errors import ModelError
from .own_weights import EngineWeights
from .sessions import physical_cores

log = logging.getLogger(__name__)

#: the environment switch: "0" keeps the step graph for one caption (the engine unused)
SWITCH = "NANOCAPTION_STEP_ENGINE"
#: positions the caches hold to start with (they double as a caption grows)
FIRST_CAPACITY = 32
#: the engine's threads at most (step.c MAX_THREADS)
MAX_THREADS = 8


@functools.cache
def _loaded() -> ctypes.CDLL | None:
    path = kernels.library()
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    if not hasattr(lib, "nc_engine_open"):  # a library built without the engine
        return None
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.nc_engine_open.restype = p
    lib.nc_engine_open.argtypes = [p, ctypes.c_int, i64, i64]
    lib.nc_engine_close.argtypes = [p]
    lib.nc_engine_image.argtypes = [p, p, p, i64]
    lib.nc_engine_step.argtypes = [p, i64, i64, p]
    lib.nc_engine_capacity.restype = i64
    lib.nc_engine_capacity.argtypes = [p]
    lib.nc_engine_keys.restype = p
    lib.nc_engine_keys.argtypes = [p]
    lib.nc_engine_values.restype = p
    lib.nc_engine_values.argtypes = [p]
    lib.nc_engine_threads.argtypes = [p]
    return lib


def library() -> ctypes.CDLL | None:
    """The own library with its step engine, when it can run here (kernels.library()) and is
    not turned off (`SWITCH`)."""
    if os.environ.get(SWITCH) == "0":
        return None
    return _loaded() if kernels.library() is not None else None


def open_engine(
    cross: Path, step: Path, folder: Path, *, threads: int | None, broadcast: bool = True
) -> EngineDecoder:
    """The cross graph's session and the engine copy in `folder` (derived from `step`); the
    step graph's session is opened when a beam search first needs it."""
    return EngineDecoder(
        cross_session(cross, threads),
        step,
        EngineWeights(folder),
        lambda: step_session(step, threads),
        threads=threads or physical_cores(),
        broadcast=broadcast,
    )


# ---- the engine ------------------------------------------------------------------------------


class EngineState:
    """One engine state (kernels/step.c): its caches and its worker threads."""

    def __init__(self, weights: EngineWeights, threads: int, enc_len: int) -> None:
        lib = _loaded()  # (not `library()`: a decoder opened with the engine keeps it)
        if lib is None:
            raise ModelError(str(weights.folder), "the own library cannot run here")
        self.lib = lib
        self.weights = weights
        handle = lib.nc_engine_open(ctypes.byref(weights.model), threads, enc_len, FIRST_CAPACITY)
        if not handle:
            raise MemoryError("no memory for the step engine")
        self.handle: int = handle
        self._closer = weakref.finalize(self, lib.nc_engine_close, handle)
        self._image: list[object] = []

    def image(self, keys: list[np.ndarray], values: list[np.ndarray], owner: object = None) -> None:
        """The image the next steps attend to: per layer, the cross graph's keys [1, H, hd, S]
        and values [1, H, S, hd], kept alive here until the next image with `owner` (what
        holds their memory: a numpy view of an onnxruntime value does not keep it alive)."""
        keys = [np.ascontiguousarray(k, dtype=np.float32) for k in keys]
        values = [np.ascontiguousarray(v, dtype=np.float32) for v in values]
        count = len(keys)
        k_ptrs = (ctypes.c_void_p * count)(*(k.ctypes.data for k in keys))
        v_ptrs = (ctypes.c_void_p * count)(*(v.ctypes.data for v in values))
        if self.lib.nc_engine_image(self.handle, k_ptrs, v_ptrs, keys[0].shape[-1]) != 0:
            raise MemoryError("no memory for the step engine's attention")
        self._image = [keys, values, owner]

    def step(self, token: int, position: int, logits: np.ndarray) -> None:
        code = self.lib.nc_engine_step(self.handle, token, position, logits.ctypes.data)
        if code == -2:
            raise MemoryError("no memory for the step engine's caches")
        if code != 0:
            raise ValueError(f"token {token} at position {position} is out of the model's range")

    def caches(self, positions: int) -> tuple[np.ndarray, np.ndarray]:
        """The keys and values of the first `positions` positions: [layers, H, positions, hd]
        each (copies; for the derive check)."""
        m = self.weights.model
        cap = self.lib.nc_engine_capacity(self.handle)
        shape = (m.layers, m.heads, cap, m.hd)
        out = []
        for address in (
            self.lib.nc_engine_keys(self.handle),
            self.lib.nc_engine_values(self.handle),
        ):
            buf = (ctypes.c_float * int(np.prod(shape))).from_address(address)
            out.append(np.ctypeslib.as_array(buf).reshape(shape)[:, :, :positions].copy())
        return out[0], out[1]

    def close(self) -> None:
        self._closer()


class EngineDecoder(HoistedDecoder):
    """The cross graph for an image's keys and values, the step engine for a single row's
    tokens; the step graph (opened by `open_step` on first use) for several rows."""

    def __init__(
        self,
        cross: ort.InferenceSession,
        step_path: Path,
        weights: EngineWeights,
        open_step: Callable[[], ort.InferenceSession],
        *,
        threads: int,
        broadcast: bool = True,
    ) -> None:
        super().__init__(cross, None, str(step_path), broadcast=broadcast)
        missing = {n for pair in weights.cross for n in pair} - set(self.cross_outputs)
        if missing:
            raise ModelError(str(weights.folder), f"the cross graph lacks {sorted(missing)}")
        self.weights = weights
        self.threads = max(1, min(threads, MAX_THREADS))
        self._open = open_step
        self._free: list[EngineState] = []
        self._free_lock = threading.Lock()
        self._positions = {name: i for i, name in enumerate(self.cross_outputs)}

    def _open_step(self) -> ort.InferenceSession:
        return self._open()

    def begin(
        self, encoder_hidden_states: np.ndarray, rows: int, image: list[ort.OrtValue] | None = None
    ) -> Any:
        if rows != 1:
            return super().begin(encoder_hidden_states, rows, image)
        if image is None:
            image = self.image_for(encoder_hidden_states, 1)
        values = [v.numpy() for v in image]
        keys = [values[self._positions[k]] for k, _ in self.weights.cross]
        vals = [values[self._positions[v]] for _, v in self.weights.cross]
        state = self._take(keys[0].shape[-1])
        try:
            state.image(keys, vals, owner=image)
        except BaseException:
            self._give(state)
            raise
        return EngineRun(self, state)

    def _take(self, enc_len: int) -> EngineState:
        with self._free_lock:
            if self._free:
                return self._free.pop()
        return EngineState(self.weights, self.threads, enc_len)

    def _give(self, state: EngineState) -> None:
        with self._free_lock:
            self._free.append(state)

    def close(self) -> None:
        """Stop the engine states' threads and free their caches (the weights stay)."""
        with self._free_lock:
            states, self._free = self._free, []
        for s in states:
            s.close()


class EngineRun:
    """One row decoded by an engine state (decoding.py's run protocol: `step`, `reorder`); the
    state goes back to its decoder when the run is done with."""

    def __init__(self, dec: EngineDecoder, state: EngineState) -> None:
        self.state = state
        self.position = 0
        self._done = weakref.finalize(self, dec._give, state)

    def step(self, input_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(input_ids)
        if ids.shape[0] != 1:
            raise ValueError("the step engine decodes one row")
        logits = np.empty((1, self.state.weights.vocab), dtype=np.float32)
        for token in ids[0]:  # (one token a step; a longer prompt in order)
            self.state.step(int(token), self.position, logits[0])
            self.position += 1
        return logits

    def reorder(self, rows: np.ndarray) -> None:
        if list(np.asarray(rows)) != [0]:
            raise ValueError("the step engine decodes one row")

    def past_arrays(self) -> list[np.ndarray]:
        """The keys and values so far, as the step graph's presents ([1, H, positions, hd] per
        layer, key then value)."""
        keys, values = self.state.caches(self.position)
        return [a[None] for pair in zip(keys, values, strict=True) for a in pair]
