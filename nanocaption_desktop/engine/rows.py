"""Several images decoded together, one row each, every caption exactly the one it gets alone.

The rows graph (engine/derive/rows.py) quantizes each row on its own, so a step over N images'
rows reads the weights once and gives each row the logits of a one-row step, bit for bit (its
derive check proves it). Rows stepped together share one past length: a group of images starts
together, and a row that is done (end token or length limit) leaves the group, its past and
image tensors sliced away, so no row ever sees padding. The image tensors of a group are held
once, stacked (the cross graph writes each image's straight into its row: with 4 rows on the
full model 58 MB per lane, no image's ever held twice), in arrays kept from one group to the next
(`_Stacks`) until the stream ends (`release`). Greedy search only: beam search's rows
of one image share their quantization in the stock graph, so beams keep the one-image path.

Measured on the full INT8 model, one thread, 197 image positions (best of 3, 12 steps, format 1
of the rows graph): a one-row step 12.4 ms; the rows graph 14.5 ms for 1 row, 16.5 for 2, 19.2
for 4. A folder at 4 rows per lane: 2.17x the images/s of one row per lane on the step graph
(docs/performance.md, "Several images per weight pass").
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
import onnxruntime as ort

from .decoder import HoistedDecoder, _run_bound
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
        #: per encoder output shape: each cross output's row shape and dtype (None: shared)
        self._shapes: dict[tuple[int, ...], list[tuple[tuple[int, ...], np.dtype] | None]] = {}
        self._stacks = _Stacks()

    def release(self) -> None:
        """Let go of the stacked arrays kept between groups (a stream of groups has ended)."""
        self._stacks.clear()

    def gather(self, hidden: Iterable[np.ndarray], count: int) -> list[Any]:
        """The image tensors of `count` rows, one per encoder output in `hidden` (consumed one
        by one): per-image ones stacked into one numpy array each, the cross graph writing each
        image's straight into its row (the first image's too once a group has shown the shapes:
        no transient copy); shared ones (the same for every image) once, as onnxruntime values."""
        out: list[Any] = []
        for r, h in enumerate(hidden):
            shapes = self._shapes.get(h.shape) if r == 0 and count > 1 else None
            if r == 0 and shapes is None:
                out = self._first(h, count)
            elif shapes is not None:
                out = self._stacks.take(count, shapes)
                shared = self._run_into(h, out, r)
                out = [a if a is not None else shared[i] for i, a in enumerate(out)]
            else:
                self._run_into(h, out, r)
        return out

    def _first(self, h: np.ndarray, count: int) -> list[Any]:
        """Row 0 run on its own outputs, copied into the stacked arrays; the shapes kept."""
        out: list[Any] = []
        for name, value in zip(self.rows.cross_outputs, self.one.image_values(h), strict=True):
            if name in self.per_image and count > 1:
                row = value.numpy()
                out.append(np.empty((count, *row.shape[1:]), dtype=row.dtype))
                out[-1][0] = row[0]
            else:
                out.append(value)
        if count > 1:
            kinds = [(a.shape[1:], a.dtype) if isinstance(a, np.ndarray) else None for a in out]
            self._shapes[h.shape] = kinds
        return out

    def _run_into(self, h: np.ndarray, out: list[Any], r: int) -> list[Any]:
        """The cross graph for one image, its per-image outputs written into row `r` of the
        arrays in `out`; the outputs onnxruntime allocated (the shared ones) returned."""
        b = self.one.cross.io_binding()
        b.bind_cpu_input(self.one.cross_input, np.ascontiguousarray(h))
        for name, a in zip(self.rows.cross_outputs, out, strict=True):
            if isinstance(a, np.ndarray):
                dest = a[r : r + 1]
                b.bind_output(name, "cpu", 0, a.dtype, dest.shape, dest.ctypes.data)
            else:
                b.bind_output(name, "cpu")
        _run_bound(self.one.cross, b, self.one.path)
        return list(b.get_outputs())

    def greedy(
        self,
        hidden: Iterable[np.ndarray],
        count: int,
        s: GenerationSettings,
        cancel: CancelFlag | None = None,
    ) -> list[Result]:
        """`decoding.greedy_search` for each of `count` images (their encoder outputs), all
        stepped together."""
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        arrays = self.gather(hidden, count)
        try:
            return self._greedy(arrays, count, s, cancel)
        finally:
            self._stacks.give(arrays)

    def _greedy(
        self, arrays: list[Any], count: int, s: GenerationSettings, cancel: CancelFlag | None
    ) -> list[Result]:
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
                arrays = [_compact(a, keep) if isinstance(a, np.ndarray) else a for a in arrays]
                _keep_rows(run, keep, _values(arrays))
            elif not keep:
                live = []
        return [
            Result(tuple(t), total / (len(t) - 1) if len(t) > 1 else 0.0)
            for t, total in zip(tokens, totals, strict=True)
        ]


class _Stacks:
    """The stacked image tensors, kept from one group to the next: one array per per-image cross
    output, each of `capacity` rows (the largest group so far), handed out as ranges of rows.
    Allocating them afresh for every group had the system map and zero 14.5 MB per image again
    (full model: the cross graph's 8 images 25.4 -> 21.2 ms each with fresh arrays, 16.2 with
    these). The two halves of a stream's last group, split over two workers, take two ranges
    of the same arrays, so no more memory is held than one group's; a group that finds no
    free range gets arrays of its own, as before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: list[tuple[tuple[int, ...], np.dtype] | None] | None = None
        self._arrays: list[np.ndarray | None] = []
        self._capacity = 0
        self._taken: dict[int, int] = {}  # first row -> rows, of each range handed out

    def take(self, count: int, kinds: list[tuple[tuple[int, ...], np.dtype] | None]) -> list[Any]:
        """Arrays of `count` rows for these kinds (None for a shared output): views of the kept
        arrays when a range is free, else new ones."""
        with self._lock:
            if not self._taken and (self._kinds != kinds or self._capacity < count):
                self._kinds, self._capacity = kinds, count
                self._arrays = [
                    None if k is None else np.empty((count, *k[0]), k[1]) for k in kinds
                ]
            start = self._free_range(count) if self._kinds == kinds else None
            if start is None:
                return [None if k is None else np.empty((count, *k[0]), k[1]) for k in kinds]
            self._taken[start] = count
            return [None if a is None else a[start : start + count] for a in self._arrays]

    def _free_range(self, count: int) -> int | None:
        at = 0
        for first in sorted(self._taken):
            if first - at >= count:
                return at
            at = first + self._taken[first]
        return at if self._capacity - at >= count else None

    def give(self, arrays: list[Any]) -> None:
        """Give back what `take` handed out (anything else is left to the garbage collector)."""
        with self._lock:
            for a, kept in zip(arrays, self._arrays, strict=False):
                if isinstance(a, np.ndarray) and kept is not None and a.base is kept:
                    start = (a.ctypes.data - kept.ctypes.data) // kept[0].nbytes
                    self._taken.pop(start, None)
                    return

    def clear(self) -> None:
        """Drop the kept arrays (ranges still handed out stay valid: they are views)."""
        with self._lock:
            self._kinds, self._arrays, self._capacity, self._taken = None, [], 0, {}


def _compact(a: np.ndarray, rows: list[int]) -> np.ndarray:
    """The first `len(rows)` rows of `a`, moved there in place (`rows` ascending): a view, no
    second copy of a group's image tensors (two lanes of 4 rows: 116 MB)."""
    for j, r in enumerate(rows):
        if j != r:
            a[j] = a[r]
    return a[: len(rows)]


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
