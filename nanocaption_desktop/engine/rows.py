"""Several images decoded together, one row each, every caption exactly the one it gets alone.

The rows graph (engine/derive/rows.py) quantizes each row on its own, so a step over N images'
rows reads the weights once and gives each row the logits of a one-row step, bit for bit (its
derive check proves it). Rows stepped together share one past length: a group of images starts
together, and a row that is done (end token or length limit) leaves the group, its past and
image tensors sliced away, so no row ever sees padding. The image tensors of a group are held
once, stacked (each image's are copied in as its cross graph runs, then dropped: with 4 rows on
the full model that is 58 MB per lane instead of 116). Greedy search only: beam search's rows
of one image share their quantization in the stock graph, so beams keep the one-image path.

Measured on the full INT8 model, one thread, 197 image positions (best of 3, 12 steps): a
one-row step 12.4 ms; the rows graph 14.5 ms for 1 row, 16.5 for 2, 19.2 for 4, so 8.3 and
4.8 ms per image and token against 12.4.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import onnxruntime as ort

from .decoder import HoistedDecoder
from .decoding import CancelFlag, GenerationSettings, Result, log_softmax
from .errors import Cancelled

_NO_HIDDEN = np.zeros((1, 0), dtype=np.float32)


class RowsDecoder:
    """The rows graph's session next to the one-row decoder whose cross graph it shares."""

    def __init__(
        self, one: HoistedDecoder, step: ort.InferenceSession, per_image: frozenset[str]
    ) -> None:
        self.one = one
        self.rows = HoistedDecoder(one.cross, step, one.path)
        self.per_image = per_image

    def gather(self, images: Iterable[list[ort.OrtValue]], count: int) -> list[Any]:
        """The image tensors of `count` rows from `images` (each `one.image_values(...)` of one
        image, consumed one by one): per-image ones stacked into one numpy array each, shared
        ones (the same for every image) once, as onnxruntime values."""
        out: list[Any] = []
        for r, image in enumerate(images):
            for k, (name, value) in enumerate(zip(self.rows.cross_outputs, image, strict=True)):
                if name in self.per_image and count > 1:
                    row = value.numpy()
                    if r == 0:
                        out.append(np.empty((count, *row.shape[1:]), dtype=row.dtype))
                    out[k][r] = row[0]
                elif r == 0:
                    out.append(value)
        return out

    def greedy(
        self,
        images: Iterable[list[ort.OrtValue]],
        count: int,
        s: GenerationSettings,
        cancel: CancelFlag | None = None,
    ) -> list[Result]:
        """`decoding.greedy_search` for each of `count` images, all stepped together."""
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        arrays = self.gather(images, count)
        live = list(range(count))
        tokens = [[s.decoder_start_token_id] for _ in range(count)]
        totals = [0.0] * count
        limit = s.total_length
        run = self.rows.begin(_NO_HIDDEN, count, image=_values(arrays))  # image given
        while live and len(tokens[live[0]]) < limit:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            ids = np.array([[tokens[i][-1]] for i in live], dtype=np.int64)
            logits = run.step(ids)
            keep = []
            for row, i in enumerate(live):
                logprobs = log_softmax(logits[row : row + 1])[0]  # as greedy_search does
                nxt = int(np.argmax(logprobs))
                tokens[i].append(nxt)
                totals[i] += float(logprobs[nxt])
                if nxt != s.eos_token_id:
                    keep.append(row)
            if keep and len(keep) < len(live):
                live = [live[r] for r in keep]
                arrays = [a[keep] if isinstance(a, np.ndarray) else a for a in arrays]
                _keep_rows(run, keep, _values(arrays))
            elif not keep:
                live = []
        return [
            Result(tuple(t), total / (len(t) - 1) if len(t) > 1 else 0.0)
            for t, total in zip(tokens, totals, strict=True)
        ]


def _values(arrays: list[Any]) -> list[ort.OrtValue]:
    """onnxruntime values over the stacked arrays (no copy: the arrays must stay alive)."""
    return [ort.OrtValue.ortvalue_from_numpy(a) if isinstance(a, np.ndarray) else a for a in arrays]


def _keep_rows(run: Any, rows: list[int], image: list[ort.OrtValue]) -> None:
    """Only `rows` of a run go on: their pasts, and the image tensors of their images."""
    run.past = [
        ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(p.numpy()[rows])) for p in run.past
    ]
    for name, value in zip(run.dec.cross_outputs, image, strict=True):
        run.binding.bind_ortvalue_input(name, value)
