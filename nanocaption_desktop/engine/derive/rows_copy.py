"""The rows copy of a step graph: how it is made (rows.py) and the bit-for-bit check that an
N-row step gives every row exactly what a one-row step gives it.

Which image tensors take one row per image is found by running the cross graph on two random
images alone: those that differ between them (the keys and values); the rest (shapes, the
image mask) are the same for every image and stay batch 1, shared as for beams. The check then
steps N = 1..MAX_ROWS (8) images together, each with its own image and tokens, for several
steps (so past lengths 0..steps-1), against each image stepped alone: logits and every
key/value, bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ..decoder import EXACT, HoistedDecoder, open_hoisted
from ..limits import MAX_ROWS
from ..sessions import make_session
from .checks import DeriveCheckFailed
from .external import save_graph

ROWS = "rows.onnx"
CROSS = "cross.onnx"


def per_image_tensors(dec: HoistedDecoder, hidden: int) -> list[str]:
    """The cross graph's outputs that differ from one image to the next."""
    rng = np.random.default_rng(1)
    a, b = (dec.image_values(rng.standard_normal((1, 5, hidden)).astype(np.float32)) for _ in "ab")
    return [
        n
        for n, x, y in zip(dec.cross_outputs, a, b, strict=True)
        if not _same(x.numpy(), y.numpy())
    ]


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    return x.shape == y.shape and np.array_equal(x, y)


def stack_images(dec: HoistedDecoder, per_image: frozenset[str], images: list[list[Any]]) -> list:
    """The image tensors of a rows step: per-image ones stacked row by row, shared ones once."""
    out = []
    for k, name in enumerate(dec.cross_outputs):
        if name in per_image and len(images) > 1:
            stacked = np.concatenate([im[k].numpy() for im in images])
            out.append(ort.OrtValue.ortvalue_from_numpy(stacked))
        else:
            out.append(images[0][k])
    return out


def make_rows_copy(step: Path, tmp: Path) -> dict[str, Any]:
    """Write the rows graph of the step graph `step` (its cross graph beside it) into `tmp` and
    check it; raises when it cannot be made or differs."""
    import onnx

    from .rows import rows_graph

    one = open_hoisted(step.parent / CROSS, step, threads=1)
    hidden = one.cross.get_inputs()[0].shape[-1]
    if not isinstance(hidden, int):
        raise DeriveCheckFailed(f"encoder hidden size not fixed: {hidden}")
    per_image = per_image_tensors(one, hidden)
    model = onnx.load(str(step))  # its weights too, from step.onnx.data beside it
    count = rows_graph(model, per_image)
    onnx.checker.check_model(model)
    save_graph(model, tmp / ROWS)
    del model
    rows = HoistedDecoder(
        one.cross, make_session(tmp / ROWS, threads=1, disabled_optimizers=EXACT), str(step)
    )
    check_rows(one, rows, frozenset(per_image), hidden)
    return {"rows": {"per_row_quantizations": count, "per_image": per_image}}


def check_rows(
    one: HoistedDecoder,
    rows: HoistedDecoder,
    per_image: frozenset[str],
    hidden: int,
    steps: int = 4,
) -> None:
    """N images stepped together (N = 1..MAX_ROWS) against each alone, bit for bit; raises
    `DeriveCheckFailed` naming the first difference."""
    rng = np.random.default_rng(2)
    vocab = None
    for n in range(1, MAX_ROWS + 1):
        encs = [(k + 1) * rng.standard_normal((1, 7, hidden)).astype(np.float32) for k in range(n)]
        alone = [one.begin(e, 1) for e in encs]
        run = rows.begin(
            encs[0], n, image=stack_images(rows, per_image, [one.image_values(e) for e in encs])
        )
        for s in range(steps):
            ids = rng.integers(0, vocab or 2, (n, 1), dtype=np.int64)
            want = np.concatenate([a.step(ids[k : k + 1]) for k, a in enumerate(alone)])
            vocab = vocab or want.shape[-1]
            got = run.step(ids)
            pasts = [np.concatenate(p) for p in zip(*(a.past_arrays() for a in alone), strict=True)]
            same = _same(got, want) and all(
                _same(x, y) for x, y in zip(run.past_arrays(), pasts, strict=True)
            )
            if not same:
                raise DeriveCheckFailed(f"{n} rows, step {s}: the rows graph differs from one row")
