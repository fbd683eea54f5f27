"""How each optimized copy of derive.py is made and checked (needs the `onnx` package).

`make_pair` splits a decoder into its cross/step pair (optimize.py), its shape arithmetic folded
first (shapefold.py; a plain split if the folded pair fails its check); `make_encoder` rewrites
the encoder's patch projection (patch_embed.py). Each writes its files into a folder, checks them
bit for bit against the stock graph on random input, and returns what the manifest records.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CROSS, STEP = "cross.onnx", "step.onnx"
ENCODER = "encoder.onnx"


def make_pair(source: Path, tmp: Path) -> dict[str, Any]:
    """The decoder's cross/step pair, shapes folded; if that ever fails its check, split plain."""
    try:
        return _make_pair(source, tmp, fold=True)
    except (DeriveCheckFailed, FoldError) as e:
        log.warning("%s: folding shapes failed (%s); splitting without it", source, e)
    # outside the handler, so that the failed attempt's graphs are freed first; loaded again,
    # since the fold changed the first copy in place
    return _make_pair(source, tmp, fold=False)


def _make_pair(source: Path, tmp: Path, fold: bool) -> dict[str, Any]:
    import onnx

    from .optimize import describe, lift_cache_branch

    model = onnx.load(str(source))
    if any(n.op_type == "If" for n in model.graph.node):
        model = lift_cache_branch(model)
    split, folded = _split(model, fold)
    del model
    for name, m in ((CROSS, split.cross), (STEP, split.step)):
        onnx.checker.check_model(m)
        onnx.save(m, str(tmp / name))
    sizes = describe(split)
    del split, m  # the graphs are on disk: their weights need not stay in memory
    broadcast = _check_pair(source, tmp / CROSS, tmp / STEP)
    return {"broadcast": broadcast, "split": sizes, "folded": folded}


def make_encoder(source: Path, tmp: Path) -> dict[str, Any]:
    import onnx

    from .patch_embed import patch_projection_as_matmul

    model = onnx.load(str(source))
    nodes = len(model.graph.node)
    patch_projection_as_matmul(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp / ENCODER))
    report = {
        "encoder": {"patch_projection": "MatMulInteger", "nodes": [nodes, len(model.graph.node)]}
    }
    del model
    _check_encoder(source, tmp / ENCODER)
    return report


class DeriveCheckFailed(Exception):
    pass


class FoldError(Exception):
    pass


def _split(model: Any, fold: bool) -> tuple[Any, dict[str, Any] | None]:
    """The cross/step split of `model`, its shape arithmetic folded first, in place, when `fold`
    (shapefold.py; the image tensors' batch dim may be 1 next to several rows). Folding in place
    rather than on a copy keeps one copy of the weights fewer in memory while a model installs."""
    from .optimize import INVARIANT_PREFIX, split_decoder

    if not fold:
        return split_decoder(model), None
    import dataclasses

    from .shapefold import drop_flatten_pairs, fold_shapes

    try:
        one_or = {i.name: [0] for i in model.graph.input if i.name.startswith(INVARIANT_PREFIX)}
        report = dataclasses.asdict(fold_shapes(model, one_or))
        report["flatten_pairs"] = drop_flatten_pairs(model, one_or)
    except Exception as e:  # noqa: BLE001 - an analysis bug must not cost the split itself
        raise FoldError(f"{type(e).__name__}: {e}") from e
    return split_decoder(model), report


def _check_pair(source: Path, cross_file: Path, step_file: Path, steps: int = 3) -> bool:
    """Compare the pair with the stock graph on random input; True if batch-1 image tensors
    broadcast to two rows with the same results. Raises `DeriveCheckFailed` on any difference."""
    from .decoder import HoistedDecoder, StockDecoder, open_hoisted
    from .sessions import make_session

    stock = StockDecoder(make_session(source, threads=1), str(source))
    hoisted = open_hoisted(cross_file, step_file, threads=1, broadcast=False)
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
    runs = {"rows": hoisted.begin(enc, 2)}
    broadcast = True
    try:
        bcast = HoistedDecoder(hoisted.cross, hoisted.step, hoisted.path, broadcast=True)
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
                raise DeriveCheckFailed(f"step {k}: the split graphs differ from {source.name}")
            if not same:
                broadcast = False
                del runs[name]
        ref.reorder(np.array([1, 1]))
        for r in runs.values():
            r.reorder(np.array([1, 1]))
    return broadcast


def _check_encoder(source: Path, derived: Path) -> None:
    """Compare the derived encoder with the stock one on random images (one, then two at once),
    bit for bit; raises `DeriveCheckFailed` on any difference."""
    from .sessions import make_session

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
