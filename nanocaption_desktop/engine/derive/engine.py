"""The step engine's copy of a derived step graph (own_step.py, kernels/step.c; issue 18):
its weights read out of the graph onnxruntime runs, and the engine checked against it.

The graph read is the step graph as onnxruntime optimizes it for the app (its optimizers on,
`EXACT` off, as open_hoisted opens it): there every weight product is one DynamicQuantizeMatMul
and every layer norm one LayerNormalization, in the order a step runs them, and the engine
computes exactly those kernels (exact.c). The reading checks the graph's shape as it goes:
GPT-2 layers (self-attention, cross-attention, MLP) with INT8 weights of one scale each and no
zero point, embeddings dequantized from uint8 with one scale, one attention scale on every
query and key; anything else raises `DeriveCheckFailed`, and the step graph stays in use.

Then the check, on this machine: the engine against the step graph on 1 and on 2 threads, two
random images (197 and 50 image tokens), 12 steps each of random and greedy tokens: the logits
and every key and value, bit for bit. onnxruntime picks its CPU kernels at run time, so a CPU
on which it computes any of them otherwise fails here, and keeps the step graph.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from .. import kernels, own_step, own_weights
from ..decoder import EXACT, HoistedDecoder, open_hoisted
from ..sessions import make_session
from .checks import DeriveCheckFailed

log = logging.getLogger(__name__)

CROSS = "cross.onnx"  # recipes.CROSS (recipes imports this module when it makes a copy)
#: image tokens of the check's two images (a ViT at 224 px / 16 px patches has 197)
CHECK_IMAGE_TOKENS = (197, 50)
CHECK_STEPS = 12


def make_engine_copy(step: Path, tmp: Path) -> dict[str, Any]:
    """Write the engine's files for the derived step graph `step` into `tmp` and check them;
    raises when the engine cannot run here, the graph is not one it computes, or any output
    differs."""
    if own_step.library() is None:
        raise DeriveCheckFailed("the step engine cannot run on this machine")
    facts, arrays = read_step_graph(step)
    own_weights.write_engine(tmp, facts, arrays)
    del arrays
    check_engine(step, tmp)
    return {"engine": {"layers": facts["dims"]["layers"], "checked_threads": [1, 2]}}


def _as_onnxruntime_runs_it(step: Path) -> onnx.ModelProto:
    """The step graph as onnxruntime optimizes it for the app, its weights read from `step`'s
    data file (onnxruntime writes the optimized graph with references to it)."""
    with tempfile.TemporaryDirectory(prefix="nanocaption-engine-") as tmp:
        out = Path(tmp) / "step-optimized.onnx"
        make_session(step, threads=1, optimized_model_path=out, disabled_optimizers=EXACT)
        model = onnx.load(str(out), load_external_data=False)
    # (onnx's loader checks each location stays inside the step graph's folder)
    onnx.external_data_helper.load_external_data_for_model(model, str(step.parent))
    return model


def _fail(why: str) -> DeriveCheckFailed:
    return DeriveCheckFailed(f"not a step graph the engine computes: {why}")


class _Reader:
    """Reads the optimized step graph's weights into the engine's arrays (`read_step_graph`),
    checking the graph's shape as it goes."""

    def __init__(self, step: Path) -> None:
        g = _as_onnxruntime_runs_it(step).graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.nodes = list(g.node)
        self.inputs = {i.name for i in g.input}
        past = [i for i in g.input if i.name.startswith("past_key_values.")]
        if not past or len(past) % 2:
            raise _fail("no key/value cache inputs")
        dims = past[0].type.tensor_type.shape.dim
        self.heads, self.hd, self.layers = dims[1].dim_value, dims[3].dim_value, len(past) // 2
        self.d = self.heads * self.hd
        self.arrays: dict[str, np.ndarray] = {}
        self.products: dict[str, dict[str, Any]] = {}

    def of(self, op: str) -> list[onnx.NodeProto]:
        return [n for n in self.nodes if n.op_type == op]

    def product(self, name: str, n: onnx.NodeProto, k: int, cols: int | None) -> None:
        """A DynamicQuantizeMatMul: INT8 weight [k, cols], one scale, no zero point, a bias."""
        w = self.inits.get(n.input[1])
        scale = self.inits.get(n.input[2])
        zero = self.inits.get(n.input[3]) if len(n.input) > 3 and n.input[3] else None
        if w is None or w.dtype != np.int8 or w.ndim != 2 or w.shape[0] != k or k % 4:
            raise _fail(f"{n.name}: weight not INT8 [{k}, n]")
        if cols is not None and w.shape[1] != cols:
            raise _fail(f"{n.name}: {w.shape[1]} columns, not {cols}")
        if (
            scale is None
            or scale.size != 1
            or (zero is not None and (zero.size != 1 or zero.any()))
        ):
            raise _fail(f"{n.name}: not one weight scale and no zero point")
        self.arrays[name + ".w"] = kernels.pack(w)
        self.arrays[name + ".colsum"] = w.astype(np.int32).sum(axis=0, dtype=np.int32)
        if len(n.input) > 4 and n.input[4]:
            bias = self.inits.get(n.input[4])
            if bias is None or bias.shape != (w.shape[1],):
                raise _fail(f"{n.name}: bias not a constant of its columns")
            self.arrays[name + ".bias"] = bias.astype(np.float32)
        self.products[name] = {"w_scale": float(scale.ravel()[0]), "k": k, "n": int(w.shape[1])}

    def norm(self, name: str, n: onnx.NodeProto) -> float:
        """A LayerNormalization over the last axis with constant scale and bias: its epsilon."""
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if attrs.get("axis", -1) != -1 or attrs.get("stash_type", 1) != 1 or len(n.input) != 3:
            raise _fail(f"{n.name}: not a layer norm over the last axis with scale and bias")
        for part, value in (("g", n.input[1]), ("b", n.input[2])):
            a = self.inits.get(value)
            if a is None or a.shape != (self.d,):
                raise _fail(f"{n.name}: scale or bias not a constant [{self.d}]")
            self.arrays[f"{name}.{part}"] = a.astype(np.float32)
        return float(np.float32(attrs.get("epsilon", 1e-5)))

    def blocks(self) -> tuple[int, float]:
        """Every layer's norms and products, the final norm and the head: the MLP's width and
        the norms' epsilon."""
        products, norms = self.of("DynamicQuantizeMatMul"), self.of("LayerNormalization")
        gelus, layers, d = self.of("FastGelu"), self.layers, self.d
        if len(products) != 6 * layers + 1 or len(norms) != 3 * layers + 1 or len(gelus) != layers:
            raise _fail(f"{len(products)} products, {len(norms)} norms, {len(gelus)} GELUs")
        if any(len(n.input) != 1 for n in gelus):
            raise _fail("a FastGelu with a bias")
        fc = self.inits.get(products[4].input[1])
        if fc is None or fc.ndim != 2:
            raise _fail("the MLP's first product has no constant weight")
        ff = int(fc.shape[1])
        eps = set()
        for i in range(layers):
            for j, part in enumerate(own_weights.NORMS):
                eps.add(self.norm(f"h{i}.{part}", norms[3 * i + j]))
            shapes = zip((d, d, d, d, d, ff), (3 * d, d, d, d, ff, d), strict=True)
            for part, node, (k, cols) in zip(
                own_weights.PRODUCTS, products[6 * i : 6 * i + 6], shapes, strict=True
            ):
                self.product(f"h{i}.{part}", node, k, cols)
        eps.add(self.norm("lnf", norms[-1]))
        self.product("head", products[-1], d, None)
        if len(eps) != 1:
            raise _fail("layer norms with different epsilons")
        return ff, eps.pop()

    def attention_scale(self) -> float:
        """The one constant every query and key is multiplied by (no FusedMatMul folding it)."""
        muls = [n for n in self.of("Mul") if n.input[1] in self.inits]
        scales = {float(self.inits[n.input[1]].ravel()[0]) for n in muls}
        if len(muls) != 3 * self.layers or len(scales) != 1:
            raise _fail(f"{len(muls)} scaling Mul nodes, scales {sorted(scales)}")
        if any(self.inits[n.input[1]].size != 1 for n in muls) or self.of("FusedMatMul"):
            raise _fail("an attention scale that is not one constant")
        return scales.pop()

    def embeddings(self) -> dict[str, Any]:
        """The uint8 token and position tables, each gathered then dequantized (one scale)."""
        deq = {n.input[0]: n for n in self.of("DequantizeLinear")}
        tables = []
        for n in self.of("Gather"):
            table = self.inits.get(n.input[0])
            if table is None or table.ndim != 2 or n.output[0] not in deq:
                continue
            scale, zero = (self.inits.get(x) for x in deq[n.output[0]].input[1:3])
            if table.dtype != np.uint8 or scale is None or zero is None or scale.size != 1:
                raise _fail(f"{n.name}: embedding not uint8 with one scale")
            tables.append((table, float(scale.ravel()[0]), int(zero.ravel()[0])))
        if len(tables) != 2 or any(t[0].shape[1] != self.d for t in tables):
            raise _fail(f"{len(tables)} embedding tables")
        tables.sort(key=lambda t: -t[0].shape[0])
        self.arrays["wte"], self.arrays["wpe"] = tables[0][0], tables[1][0]
        if tables[0][0].shape[0] != self.products["head"]["n"]:
            raise _fail(f"{tables[0][0].shape[0]} token embeddings, not one per logit")
        return {
            name: {"scale": scale, "zero": zero}
            for name, (_, scale, zero) in zip(("wte", "wpe"), tables, strict=True)
        }

    def cross(self) -> list[list[str]]:
        """Per layer, the cross graph's keys and values (the inputs of its two products)."""
        cross = [n for n in self.of("MatMul") if n.input[1] in self.inputs]
        if len(cross) != 2 * self.layers:
            raise _fail(f"{len(cross)} products with the cross graph's tensors")
        return [[cross[2 * i].input[1], cross[2 * i + 1].input[1]] for i in range(self.layers)]


def read_step_graph(step: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The engine's facts (sizes, scalars, the cross graph's tensors per layer) and arrays
    (weights packed for the own kernel, their column sums, biases, norms, embeddings) of the
    derived step graph `step`."""
    r = _Reader(step)
    ff, eps = r.blocks()
    embeddings = r.embeddings()
    facts = {
        "dims": {
            "layers": r.layers,
            "heads": r.heads,
            "head_dim": r.hd,
            "hidden": r.d,
            "inner": ff,
            "vocab": int(r.products["head"]["n"]),
            "positions": int(r.arrays["wpe"].shape[0]),
        },
        "epsilon": eps,
        "scale": r.attention_scale(),
        "embeddings": embeddings,
        "products": r.products,
        "cross": r.cross(),
    }
    return facts, r.arrays


def check_engine(
    step: Path, folder: Path, steps: int = CHECK_STEPS, threads: tuple[int, ...] = (1, 2)
) -> None:
    """The engine in `folder` against the step graph `step` on each of `threads` (the engine's
    threads and the step graph's): `DeriveCheckFailed` on any difference (the module's doc)."""
    weights = own_weights.EngineWeights(folder)
    rng = np.random.default_rng(18)
    for count in threads:
        dec = open_hoisted(step.parent / CROSS, step, threads=count)
        hidden = dec.cross.get_inputs()[0].shape[-1]
        if not isinstance(hidden, int):
            raise DeriveCheckFailed(f"encoder hidden size not fixed: {hidden}")
        engine = own_step.EngineDecoder(dec.cross, step, weights, _step_of(dec), threads=count)
        try:
            for tokens in CHECK_IMAGE_TOKENS:
                enc = rng.standard_normal((1, tokens, hidden)).astype(np.float32)
                image = dec.image_values(enc)
                ref, own = dec.begin(enc, 1, image), engine.begin(enc, 1, image)
                token = int(rng.integers(weights.vocab))
                for i in range(steps):
                    ids = np.array([[token]], dtype=np.int64)
                    a, b = ref.step(ids), own.step(ids)
                    where = f"at step {i} ({count} threads, {tokens} image tokens)"
                    if not _same(a, b):
                        raise DeriveCheckFailed(f"logits differ {where}")
                    pasts = zip(ref.past_arrays(), own.past_arrays(), strict=True)
                    for k, (x, y) in enumerate(pasts):
                        if not _same(x, y):
                            raise DeriveCheckFailed(f"cache {k} differs {where}")
                    greedy = rng.random() < 0.6
                    token = int(np.argmax(a[0])) if greedy else int(rng.integers(weights.vocab))
                del own
        finally:
            engine.close()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit (a -0.0 is not a +0.0; a NaN must be the same NaN)."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _step_of(dec: HoistedDecoder) -> Callable[[], ort.InferenceSession]:
    """The step graph's session of `dec`, for an engine decoder's beams (the check has none)."""
    return lambda: dec.step
