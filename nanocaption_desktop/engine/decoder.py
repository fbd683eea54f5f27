"""The decoder graphs as a `StepModel` (see decoding.py): stock graphs, or cross and step graphs.

Stock: one `decoder_with_past_model` graph serves every step: at step 0 it takes an empty past
(`[batch, heads, 0, head_dim]`), which gives the same logits as `decoder_model`. The merged
decoder runs its no-cache branch at step 0 and its cache branch after, as Optimum does.

Derived (engine/derive/cross_graph.py): the cross graph turns the image's hidden states into its
keys/values once per image; the step graph takes them as inputs. The step loop binds them once
(IOBinding, as onnxruntime values, with one row that the graph broadcasts over every beam when
the derive check allowed it) and passes each step's key/value cache on as onnxruntime values,
never as numpy.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .errors import ModelError
from .sessions import make_session, run

_PAST = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")

#: Idle-thread spinning for the per-token session. Measured on the full INT8 model, 2 threads,
#: 16 steps: on an idle 2-core machine 121 ms spinning against 162 ms without (and 148 ms on one
#: thread); but with other processes busy on the same cores, 33 ms/token spinning against 20 ms.
#: The app's case is the idle laptop, so it spins.
STEP_SPINNING = True


#: onnxruntime rewrites that change rounding once engine/derive/fold.py made the attention scale a
#: constant (the stock graph computes it from shapes, so onnxruntime cannot fuse it there):
#: MatMulScaleFusion folds q*s and k*s into one alpha on the product.
EXACT = ("MatMulScaleFusion",)


@dataclass(frozen=True)
class DecoderLayout:
    past_names: tuple[str, ...]  # past_key_values.{i}.key/value in graph order
    present_names: tuple[str, ...]
    heads: int
    head_dim: int
    merged: bool

    @classmethod
    def of(
        cls,
        session: ort.InferenceSession,
        path: str,
        needed: frozenset[str] = frozenset({"input_ids", "encoder_hidden_states"}),
    ) -> DecoderLayout:
        names = [i.name for i in session.get_inputs()]
        past = [i for i in session.get_inputs() if _PAST.match(i.name)]
        if not needed <= set(names) or not past:
            raise ModelError(
                path,
                f"not an image-to-text decoder with past key/values (inputs: {', '.join(names)})",
            )
        shape = past[0].shape
        if len(shape) != 4 or not isinstance(shape[1], int) or not isinstance(shape[3], int):
            raise ModelError(path, f"unexpected past key/value shape {shape}")
        outputs = {o.name for o in session.get_outputs()}
        present = tuple(_PAST.sub(r"present.\1.\2", i.name) for i in past)
        missing = [p for p in ("logits", *present) if p not in outputs]
        if missing:
            raise ModelError(path, f"decoder lacks outputs {', '.join(missing)}")
        return cls(
            tuple(i.name for i in past), present, shape[1], shape[3], "use_cache_branch" in names
        )


class StockDecoder:
    """Runs a stock `decoder_with_past` / merged graph; cross-attention is recomputed per step."""

    def __init__(self, session: ort.InferenceSession, path: str) -> None:
        self.session = session
        self.path = path
        self.layout = DecoderLayout.of(session, path)
        self._outputs = ["logits", *self.layout.present_names]

    def begin(
        self, encoder_hidden_states: np.ndarray, rows: int, image: object = None
    ) -> _StockRun:
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
        feeds.update(zip(dec.layout.past_names, self.past, strict=True))
        if dec.layout.merged:
            # Like Optimum: the no-cache branch at step 0 (in an INT8 merged graph the two
            # branches are quantized separately, so this choice shows in the tokens).
            feeds["use_cache_branch"] = np.array([self.past[0].shape[2] > 0])
        out = run(dec.session, dec._outputs, feeds, dec.path)
        self.past = out[1:]
        return out[0][:, -1, :]

    def reorder(self, rows: np.ndarray) -> None:
        self.past = [p[rows] for p in self.past]


def open_hoisted(
    cross: str | Path, step: str | Path, *, threads: int | None = None, broadcast: bool = True
) -> HoistedDecoder:
    """Sessions for a cross/step pair (spinning: see STEP_SPINNING)."""
    return HoistedDecoder(
        cross_session(cross, threads), step_session(step, threads), str(step), broadcast=broadcast
    )


def cross_session(path: str | Path, threads: int | None) -> ort.InferenceSession:
    """A cross graph's session: run once per image, so its threads do not spin."""
    return make_session(path, threads=threads, spinning=False, disabled_optimizers=EXACT)


def step_session(path: str | Path, threads: int | None) -> ort.InferenceSession:
    """A step graph's session: run per token, its threads spinning (STEP_SPINNING)."""
    return make_session(path, threads=threads, spinning=STEP_SPINNING, disabled_optimizers=EXACT)


class HoistedDecoder:
    """The cross graph, run once per image for its keys/values, and the step graph, run per
    token (a derived copy, engine/derive/cross_graph.py). `step` may be None: then the step
    graph's session is opened (`_open_step`) when first needed (own_step.EngineDecoder, whose
    single rows take the step engine)."""

    def __init__(
        self,
        cross: ort.InferenceSession,
        step: ort.InferenceSession | None,
        path: str,
        *,
        broadcast: bool = True,
    ) -> None:
        self.cross = cross
        self.path = path
        self.broadcast = broadcast
        self.cross_outputs = [o.name for o in cross.get_outputs()]
        self.cross_input = cross.get_inputs()[0].name
        self._step: ort.InferenceSession | None = None
        self._layout: DecoderLayout | None = None
        self._outputs: list[str] = []
        self._step_lock = threading.Lock()
        if step is not None:
            self._adopt(step)

    def _adopt(self, step: ort.InferenceSession) -> None:
        layout = DecoderLayout.of(step, self.path, frozenset({"input_ids"}))
        extra = (
            {i.name for i in step.get_inputs()}
            - {"input_ids", *layout.past_names}
            - set(self.cross_outputs)
        )
        if extra or layout.merged:
            raise ModelError(self.path, f"step graph inputs not served: {sorted(extra)}")
        self._layout = layout
        self._outputs = ["logits", *layout.present_names]
        self._step = step

    def _open_step(self) -> ort.InferenceSession:
        raise ModelError(self.path, "no step graph session")

    @property
    def step(self) -> ort.InferenceSession:
        """The step graph's session (opened now if it was left for later)."""
        if self._step is None:
            with self._step_lock:
                if self._step is None:
                    self._adopt(self._open_step())
        assert self._step is not None
        return self._step

    @property
    def layout(self) -> DecoderLayout:
        self.step  # noqa: B018 - opened if need be
        assert self._layout is not None
        return self._layout

    @property
    def outputs(self) -> list[str]:
        self.step  # noqa: B018 - opened if need be
        return self._outputs

    def image_values(self, encoder_hidden_states: np.ndarray) -> list[ort.OrtValue]:
        """The cross graph's outputs for one image, as onnxruntime values (no numpy copy)."""
        binding = self.cross.io_binding()
        binding.bind_cpu_input(self.cross_input, np.ascontiguousarray(encoder_hidden_states))
        for name in self.cross_outputs:
            binding.bind_output(name, "cpu")
        _run_bound(self.cross, binding, self.path)
        return list(binding.get_outputs())

    def image_for(self, encoder_hidden_states: np.ndarray, rows: int) -> list[ort.OrtValue]:
        """The image tensors for a run of `rows` rows: one row that the step graph broadcasts
        when the derive check allowed it, else one per row (as the stock graph has them)."""
        if encoder_hidden_states.shape[0] != 1:
            raise ValueError("one image per run")
        if rows > 1 and not self.broadcast:
            return self.image_values(np.repeat(encoder_hidden_states, rows, axis=0))
        return self.image_values(encoder_hidden_states)

    def begin(
        self, encoder_hidden_states: np.ndarray, rows: int, image: list[ort.OrtValue] | None = None
    ) -> _HoistedRun:
        """A decoding run of `rows` rows (beams) for one image ([1, seq, hidden]); `image` is
        `image_for(...)` when the caller computed it already (pipeline.py)."""
        if image is None:
            image = self.image_for(encoder_hidden_states, rows)
        return _HoistedRun(self, image, rows)


class _HoistedRun:
    def __init__(self, dec: HoistedDecoder, image: list[ort.OrtValue], rows: int) -> None:
        self.dec = dec
        lay = dec.layout
        self.binding = dec.step.io_binding()
        for name, value in zip(dec.cross_outputs, image, strict=True):
            self.binding.bind_ortvalue_input(name, value)
        empty = ort.OrtValue.ortvalue_from_numpy(
            np.zeros((rows, lay.heads, 0, lay.head_dim), dtype=np.float32)
        )
        self.past: list[ort.OrtValue] = [empty] * len(lay.past_names)

    def step(self, input_ids: np.ndarray) -> np.ndarray:
        dec, b = self.dec, self.binding
        b.bind_cpu_input("input_ids", np.ascontiguousarray(input_ids, dtype=np.int64))
        for name, value in zip(dec.layout.past_names, self.past, strict=True):
            b.bind_ortvalue_input(name, value)
        b.clear_binding_outputs()
        for name in dec.outputs:
            b.bind_output(name, "cpu")
        _run_bound(dec.step, b, dec.path)
        out = b.get_outputs()
        self.past = [out[k] for k in range(1, len(dec.outputs))]
        return out[0].numpy()[:, -1, :]

    def reorder(self, rows: np.ndarray) -> None:
        if np.array_equal(rows, np.arange(len(rows))):
            return
        self.past = [
            ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(p.numpy()[rows]))
            for p in self.past
        ]

    def past_arrays(self) -> list[np.ndarray]:
        return [p.numpy() for p in self.past]


def _run_bound(session: ort.InferenceSession, binding: ort.IOBinding, name: str) -> None:
    try:
        session.run_with_iobinding(binding)
    except Exception as e:  # onnxruntime raises its own exception types
        text = str(e).strip().splitlines()
        raise ModelError(name, f"inference failed: {text[0][:300] if text else e}") from e
