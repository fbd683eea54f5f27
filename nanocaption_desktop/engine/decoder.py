"""The decoder graphs as a `StepModel`: stock Optimum graphs with a self-attention KV cache.

One `decoder_with_past_model` graph serves every step: at step 0 it takes an empty past
(`[batch, heads, 0, head_dim]`), which gives the same logits as `decoder_model`. The merged
decoder runs its no-cache branch at step 0 and its cache branch after, as Optimum does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from .errors import ModelError
from .sessions import run

_PAST = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")


@dataclass(frozen=True)
class DecoderLayout:
    past_names: tuple[str, ...]  # past_key_values.{i}.key/value in graph order
    present_names: tuple[str, ...]
    heads: int
    head_dim: int
    merged: bool

    @classmethod
    def of(cls, session: ort.InferenceSession, path: str) -> DecoderLayout:
        names = [i.name for i in session.get_inputs()]
        past = [i for i in session.get_inputs() if _PAST.match(i.name)]
        needed = {"input_ids", "encoder_hidden_states"}
        if not needed <= set(names) or not past:
            raise ModelError(path, "not an image-to-text decoder with past key/values "
                             f"(inputs: {', '.join(names)})")
        shape = past[0].shape
        if len(shape) != 4 or not isinstance(shape[1], int) or not isinstance(shape[3], int):
            raise ModelError(path, f"unexpected past key/value shape {shape}")
        outputs = {o.name for o in session.get_outputs()}
        present = tuple(_PAST.sub(r"present.\1.\2", i.name) for i in past)
        missing = [p for p in ("logits", *present) if p not in outputs]
        if missing:
            raise ModelError(path, f"decoder lacks outputs {', '.join(missing)}")
        return cls(tuple(i.name for i in past), present, shape[1], shape[3],
                   "use_cache_branch" in names)


class StockDecoder:
    """Runs a stock `decoder_with_past` / merged graph; cross-attention is recomputed per step."""

    def __init__(self, session: ort.InferenceSession, path: str) -> None:
        self.session = session
        self.path = path
        self.layout = DecoderLayout.of(session, path)
        self._outputs = ["logits", *self.layout.present_names]

    def begin(self, encoder_hidden_states: np.ndarray, rows: int) -> _StockRun:
        return _StockRun(self, np.repeat(encoder_hidden_states, rows, axis=0), rows)


class _StockRun:
    def __init__(self, dec: StockDecoder, enc: np.ndarray, rows: int) -> None:
        lay = dec.layout
        self.dec = dec
        self.enc = enc
        empty = np.zeros((rows, lay.heads, 0, lay.head_dim), dtype=np.float32)
        self.past = [empty] * len(lay.past_names)

    def step(self, input_ids: np.ndarray) -> np.ndarray:
        dec = self.dec
        feeds: dict[str, np.ndarray] = {"input_ids": input_ids, "encoder_hidden_states": self.enc}
        feeds.update(zip(dec.layout.past_names, self.past))
        if dec.layout.merged:
            # Like Optimum: the no-cache branch at step 0 (in an INT8 merged graph the two
            # branches are quantized separately, so this choice shows in the tokens).
            feeds["use_cache_branch"] = np.array([self.past[0].shape[2] > 0])
        out = run(dec.session, dec._outputs, feeds, dec.path)
        self.past = out[1:]
        return out[0][:, -1, :]

    def reorder(self, rows: np.ndarray) -> None:
        self.past = [p[rows] for p in self.past]
