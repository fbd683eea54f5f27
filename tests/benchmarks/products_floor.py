"""The matrix products of a caption alone, in graphs of nothing else (floor.py uses these).

A graph's weight products are onnxruntime's fused `DynamicQuantizeMatMul` kernel (the one the
engine's sessions run them with) over the graph's own INT8 weights, each fed a random input of
`rows` rows; attention's products (two activations, fp32) are plain `MatMul`s of the shapes the
model gives them. No other node: no layer norm, softmax, copy, reshape or mask, so the time of
such a graph is what the products cost as onnxruntime computes them, with nearly nothing around
them. Each time is the best of `repeats` runs after a warm-up (a floor: the lowest seen).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from bound_probes import best_of
from onnx import TensorProto, helper, numpy_helper

from nanocaption_desktop.engine import hugepages


def _session(graph: onnx.GraphProto, threads: int) -> ort.InferenceSession:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        ir_version=8,
    )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    before = hugepages.resident()
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    # its weights on 2 MB pages, as the app's are from a captioner's second image on
    # (engine/hugepages.py): a floor for the engine must not be slower than the engine
    hugepages.collapse(hugepages.resident() - before)
    return s


def weight_products(path: Path, rows: int, threads: int, repeats: int) -> tuple[float, int]:
    """Seconds for every weight product of the graph at `path` (each MatMulInteger whose weight is
    an initializer) on `rows` rows, and the weights' bytes."""
    m = onnx.load(str(path))
    inits = {i.name: i for i in m.graph.initializer}
    nodes, inputs, outputs, weights, feeds = [], [], [], [], {}
    rng = np.random.default_rng(0)
    scale = numpy_helper.from_array(np.array(0.01, dtype=np.float32), "w_scale")
    size = 0
    for k, n in enumerate(x for x in m.graph.node if x.op_type == "MatMulInteger"):
        w = inits.get(n.input[1])
        if w is None or len(w.dims) != 2:
            continue
        zp = inits.get(n.input[3]) if len(n.input) > 3 else None
        kk, nn = w.dims
        size += kk * nn
        weights.append(w)
        if zp is not None and zp.name not in {x.name for x in weights}:
            weights.append(zp)
        x, y = f"x{k}", f"y{k}"
        inputs.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, [rows, kk]))
        outputs.append(helper.make_tensor_value_info(y, TensorProto.FLOAT, [rows, nn]))
        ins = [x, w.name, "w_scale", zp.name if zp is not None else ""]
        nodes.append(helper.make_node("DynamicQuantizeMatMul", ins, [y], domain="com.microsoft"))
        feeds[x] = rng.standard_normal((rows, kk)).astype(np.float32)
    g = helper.make_graph(nodes, "products", inputs, outputs, [*weights, scale])
    s = _session(g, threads)
    return best_of(lambda: s.run(None, feeds), repeats), size


def attention_products(
    shapes: list[tuple[list[int], list[int]]], threads: int, repeats: int
) -> float:
    """Seconds for one fp32 MatMul of each (a, b) shape pair, all in one graph."""
    nodes, inputs, outputs, feeds = [], [], [], {}
    rng = np.random.default_rng(1)
    for k, (a, b) in enumerate(shapes):
        inputs += [
            helper.make_tensor_value_info(f"a{k}", TensorProto.FLOAT, a),
            helper.make_tensor_value_info(f"b{k}", TensorProto.FLOAT, b),
        ]
        outputs.append(helper.make_tensor_value_info(f"y{k}", TensorProto.FLOAT, None))
        nodes.append(helper.make_node("MatMul", [f"a{k}", f"b{k}"], [f"y{k}"]))
        feeds[f"a{k}"] = rng.standard_normal(a).astype(np.float32)
        feeds[f"b{k}"] = rng.standard_normal(b).astype(np.float32)
    s = _session(helper.make_graph(nodes, "attention", inputs, outputs), threads)
    return best_of(lambda: s.run(None, feeds), repeats)


def encoder_attention(heads: int, layers: int, positions: int, d: int) -> list:
    """The encoder's attention products: queries by keys, weights by values, every layer."""
    h = d // heads
    return [
        pair
        for _ in range(layers)
        for pair in (
            ([1, heads, positions, h], [1, heads, h, positions]),
            ([1, heads, positions, positions], [1, heads, positions, h]),
        )
    ]


def step_attention(rows: int, heads: int, layers: int, image: int, d: int, keys: int) -> list:
    """One step's attention products for `rows` rows: over the image's positions (cross) and
    over `keys` tokens so far (self), every layer."""
    h = d // heads
    out = []
    for _ in range(layers):
        for n in (image, keys):
            out.append(([rows, heads, 1, h], [rows, heads, h, n]))
            out.append(([rows, heads, 1, n], [rows, heads, n, h]))
    return out


def other_kernels(norms: list[list[int]], softmaxes: list[list[int]], gelus: list[list[int]],
                  threads: int, repeats: int) -> float:  # fmt: skip
    """Seconds for the layer norms, softmaxes and GELUs of the given shapes, one kernel each,
    in one graph: the rest of the arithmetic a caption must do besides its products."""
    nodes, inputs, outputs, inits, feeds = [], [], [], [], {}
    rng = np.random.default_rng(2)
    for k, shape in enumerate(norms):
        inits += [
            numpy_helper.from_array(np.ones(shape[-1], np.float32), f"g{k}"),
            numpy_helper.from_array(np.zeros(shape[-1], np.float32), f"b{k}"),
        ]
        nodes.append(
            helper.make_node("LayerNormalization", [f"n{k}", f"g{k}", f"b{k}"], [f"no{k}"], axis=-1)
        )
    ops = [("LayerNormalization", "n", norms), ("Softmax", "s", softmaxes), ("Gelu", "e", gelus)]
    for op, p, shapes in ops:
        for k, shape in enumerate(shapes):
            inputs.append(helper.make_tensor_value_info(f"{p}{k}", TensorProto.FLOAT, shape))
            outputs.append(helper.make_tensor_value_info(f"{p}o{k}", TensorProto.FLOAT, None))
            feeds[f"{p}{k}"] = rng.standard_normal(shape).astype(np.float32)
            if op == "Softmax":
                nodes.append(helper.make_node("Softmax", [f"s{k}"], [f"so{k}"], axis=-1))
            elif op == "Gelu":
                nodes.append(
                    helper.make_node("Gelu", [f"e{k}"], [f"eo{k}"], domain="com.microsoft")
                )
    s = _session(helper.make_graph(nodes, "others", inputs, outputs, inits), threads)
    return best_of(lambda: s.run(None, feeds), repeats)
