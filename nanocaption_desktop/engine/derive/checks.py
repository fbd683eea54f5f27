"""The bit-for-bit checks of a derived copy against its stock graph, on random input.

A decoder's cross graph and step graph: logits and key/values over a few steps with two rows,
fed the image tensors once per row and once as a single row that the step graph broadcasts. An
encoder's derived copy: its output for one and for two images. Any difference raises
`DeriveCheckFailed`, and the copy is not used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..decoder import HoistedDecoder, StockDecoder, open_hoisted
from ..sessions import make_session


class DeriveCheckFailed(Exception):
    """A derived copy computes something else than its stock graph."""


def check_decoder_copy(source: Path, cross_file: Path, step_file: Path, steps: int = 3) -> bool:
    """Compare the cross and step graphs with the stock graph on random input; True if batch-1
    image tensors broadcast to two rows with the same results. Raises `DeriveCheckFailed` on
    any difference."""
    stock = StockDecoder(make_session(source, threads=1), str(source))
    derived = open_hoisted(cross_file, step_file, threads=1, broadcast=False)
    hidden = next(
        i.shape[-1] for i in stock.session.get_inputs() if i.name == "encoder_hidden_states"
    )
    if not isinstance(hidden, int):
        raise DeriveCheckFailed(f"encoder hidden size not fixed: {hidden}")
    rng = np.random.default_rng(0)
    enc = rng.standard_normal((1, 7, hidden)).astype(np.float32)
    ids = [
        np.array([[1], [2]], dtype=np.int64),
        np.array([[3], [3]], dtype=np.int64),
        np.array([[2], [1]], dtype=np.int64),
    ]
    ref = stock.begin(enc, 2)
    runs = {"rows": derived.begin(enc, 2)}
    broadcast = True
    try:
        bcast = HoistedDecoder(derived.cross, derived.step, derived.path, broadcast=True)
        runs["broadcast"] = bcast.begin(enc, 2)
    except Exception:  # noqa: BLE001
        broadcast = False
    for k in range(steps):
        want = ref.step(ids[k % len(ids)])
        for name, r in list(runs.items()):
            try:
                got = r.step(ids[k % len(ids)])
                same = np.array_equal(got, want) and all(
                    np.array_equal(a, b) for a, b in zip(r.past_arrays(), ref.past, strict=True)
                )
            except Exception:  # noqa: BLE001
                same = False
            if not same and name == "rows":
                raise DeriveCheckFailed(
                    f"step {k}: the cross and step graphs differ from {source.name}"
                )
            if not same:
                broadcast = False
                del runs[name]
        ref.reorder(np.array([1, 1]))
        for r in runs.values():
            r.reorder(np.array([1, 1]))
    return broadcast


def check_encoder_copy(source: Path, derived: Path) -> None:
    """Compare the derived encoder with the stock one on random images (one, then two at once),
    bit for bit; raises `DeriveCheckFailed` on any difference."""
    stock, new = make_session(source, threads=1), make_session(derived, threads=1)
    size = _image_size(source)
    rng = np.random.default_rng(0)
    for batch in (1, 2):
        pixels = rng.uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
        feeds = {stock.get_inputs()[0].name: pixels}
        want, got = stock.run(None, feeds), new.run(None, feeds)
        if len(want) != len(got) or not all(
            np.array_equal(a, b) for a, b in zip(want, got, strict=False)
        ):
            raise DeriveCheckFailed(
                f"{batch} image(s): the derived encoder differs from {source.name}"
            )


def _image_size(source: Path) -> int:
    """The encoder's input size, from the bundle's config.json (224 when it does not say)."""
    root = source.parent.parent if source.parent.name == "onnx" else source.parent
    try:
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
        return int(config["encoder"]["image_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return 224
