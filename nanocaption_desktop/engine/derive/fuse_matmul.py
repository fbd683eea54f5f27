"""One integer product for the matrix products that share one quantized input (needs `onnx`).

An INT8 export quantizes each linear layer's input with `DynamicQuantizeLinear` and multiplies
it by the weight with `MatMulInteger`, then `Cast` to float, `Mul` by input scale x weight scale,
and `Add` the bias. Where several layers read the same tensor (a ViT layer's query, key and
value; the twelve cross-attention key/value projections of the image), the graph runs one
product each. Here they become one: the weights concatenated along N (the zero point too, per
column when they differ), one `MatMulInteger`, one `Cast`, one `Mul` by the input scale x the
weight scales laid out per column, one `Add` of the concatenated biases, and a `Split` back into
the layers' outputs. A repeated `DynamicQuantizeLinear` of one tensor is dropped first.

Why it is exact: each column of an integer product is the same integer sums whatever other
columns sit beside it; the cast of an integer is exact; x_scale * w_scale is the same float
product per column; `Mul` and `Add` are elementwise; `Split` copies. onnxruntime then fuses the
chain as it fused each product (MatMulIntegerToFloat), with per-column scales. checks.py proves
the result bit for bit on every derive; a graph whose copy fails it is derived without this.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph import attr_int, attr_tensor, prune

PREFIX = "/fused_matmul/"


@dataclass(frozen=True)
class _Product:
    """One `MatMulInteger` -> Cast -> Mul(scale) [-> Add(bias)] chain over a shared input."""

    nodes: tuple[onnx.NodeProto, ...]  # the chain, in order
    weight: np.ndarray  # [K, N] integers
    w_zp: np.ndarray  # scalar
    w_scale: np.ndarray  # scalar float
    bias: np.ndarray | None  # [N]
    output: str  # what the rest of the graph reads


class _Graph:
    """Who produces and who reads each name, and the value of each constant."""

    def __init__(self, g: onnx.GraphProto) -> None:
        self.inits = {t.name: t for t in g.initializer}
        self.producer = {o: n for n in g.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for n in g.node:
            for i in n.input:
                self.consumers[i].append(n)
        self.outputs = {o.name for o in g.output}

    def const(self, name: str) -> np.ndarray | None:
        """The value of `name` when it is an initializer, a Constant or an Identity of one."""
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is None:
            return None
        if node.op_type == "Identity":
            return self.const(node.input[0])
        t = attr_tensor(node, "value") if node.op_type == "Constant" else None
        return None if t is None else numpy_helper.to_array(t)

    def only(self, name: str, op: str) -> onnx.NodeProto | None:
        found = self.consumers.get(name, [])
        if len(found) != 1 or found[0].op_type != op or name in self.outputs:
            return None
        return found[0]


def drop_repeated_quantize(g: onnx.GraphProto) -> int:
    """Let every reader of a second `DynamicQuantizeLinear` of one tensor read the first one's
    outputs instead (the op is deterministic); returns how many were dropped."""
    first: dict[str, onnx.NodeProto] = {}
    rename: dict[str, str] = {}
    keep = []
    for n in g.node:
        if n.op_type == "DynamicQuantizeLinear" and not set(n.output) & {o.name for o in g.output}:
            seen = first.setdefault(n.input[0], n)
            if seen is not n:
                rename.update(zip(n.output, seen.output, strict=True))
                continue
        keep.append(n)
    for n in keep:
        for k, name in enumerate(n.input):
            n.input[k] = rename.get(name, name)
    del g.node[:]
    g.node.extend(keep)
    return len(rename) // 3


def _product(gr: _Graph, mm: onnx.NodeProto, x_scale: str) -> _Product | None:
    """The chain after `mm`, when its weight, zero point, scale and bias are constants."""
    if len(mm.input) != 4:
        return None
    weight, w_zp = gr.const(mm.input[1]), gr.const(mm.input[3])
    cast = gr.only(mm.output[0], "Cast")
    if weight is None or weight.ndim != 2 or w_zp is None or w_zp.size != 1 or cast is None:
        return None
    mul = gr.only(cast.output[0], "Mul")
    if attr_int(cast, "to", 0) != onnx.TensorProto.FLOAT or mul is None:
        return None
    scale_mul = gr.producer.get(mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0])
    if scale_mul is None or scale_mul.op_type != "Mul" or x_scale not in scale_mul.input:
        return None
    w_scale = gr.const(next(i for i in scale_mul.input if i != x_scale) or "")
    if w_scale is None or w_scale.size != 1 or w_scale.dtype != np.float32:
        return None
    nodes, output, bias = [mm, cast, mul], mul.output[0], None
    add = gr.only(mul.output[0], "Add")
    if add is not None:
        other = add.input[1] if add.input[0] == mul.output[0] else add.input[0]
        b = gr.const(other)
        if b is not None and b.shape == (weight.shape[1],) and b.dtype == np.float32:
            nodes, output, bias = [*nodes, add], add.output[0], b
    return _Product(tuple(nodes), weight, w_zp.reshape(()), w_scale.reshape(()), bias, output)


def _groups(g: onnx.GraphProto) -> list[tuple[onnx.NodeProto, list[_Product]]]:
    """Each `DynamicQuantizeLinear` whose output two or more mergeable products read."""
    gr = _Graph(g)
    found = []
    for q in g.node:
        if q.op_type != "DynamicQuantizeLinear":
            continue
        readers = [
            n
            for n in gr.consumers.get(q.output[0], [])
            if n.op_type == "MatMulInteger"
            and n.input[0] == q.output[0]
            and len(n.input) == 4
            and n.input[2] == q.output[2]
        ]
        chains = [c for c in (_product(gr, mm, q.output[1]) for mm in readers) if c is not None]
        chains = [c for c in chains if c.weight.dtype == chains[0].weight.dtype]
        if len(chains) < 2 or len({c.weight.shape[0] for c in chains}) != 1:
            continue
        if len({c.bias is None for c in chains}) != 1:
            continue
        found.append((q, chains))
    return found


def _merged(q: onnx.NodeProto, chains: list[_Product], k: int) -> tuple[list, list]:
    """The new initializers and nodes for one group (`k` numbers the group's names)."""
    p = f"{PREFIX}{k}/"
    widths = [c.weight.shape[1] for c in chains]
    zps = np.array([c.w_zp for c in chains])
    zp = zps[:1].reshape(()) if (zps == zps[0]).all() else np.repeat(zps, widths)
    scales = np.repeat(np.array([c.w_scale for c in chains], dtype=np.float32), widths)
    inits = [
        numpy_helper.from_array(np.concatenate([c.weight for c in chains], axis=1), p + "weight"),
        numpy_helper.from_array(zp.astype(chains[0].w_zp.dtype), p + "weight_zero_point"),
        numpy_helper.from_array(scales, p + "weight_scale"),
        numpy_helper.from_array(np.array(widths, dtype=np.int64), p + "widths"),
    ]
    mm_in = [q.output[0], p + "weight", q.output[2], p + "weight_zero_point"]
    nodes = [
        helper.make_node("MatMulInteger", mm_in, [p + "int"], name=p + "MatMulInteger"),
        helper.make_node("Cast", [p + "int"], [p + "float"], name=p + "Cast", to=1),
        helper.make_node("Mul", [q.output[1], p + "weight_scale"], [p + "scale"], name=p + "S"),
        helper.make_node("Mul", [p + "float", p + "scale"], [p + "scaled"], name=p + "Mul"),
    ]
    last = p + "scaled"
    if chains[0].bias is not None:
        bias = np.concatenate([c.bias for c in chains if c.bias is not None])
        inits.append(numpy_helper.from_array(bias, p + "bias"))
        nodes.append(helper.make_node("Add", [last, p + "bias"], [p + "biased"], name=p + "Add"))
        last = p + "biased"
    outs = [c.output for c in chains]
    nodes.append(helper.make_node("Split", [last, p + "widths"], outs, name=p + "Split", axis=-1))
    return inits, nodes


def merge_shared_products(model: onnx.ModelProto) -> dict[str, int]:
    """Rewrite `model` in place (see the module docstring); returns what was done."""
    g = model.graph
    dropped = drop_repeated_quantize(g)
    groups = _groups(g)
    group_of = {
        n.output[0]: k for k, (_, chains) in enumerate(groups) for c in chains for n in c.nodes
    }
    built = [_merged(q, chains, k) for k, (q, chains) in enumerate(groups)]
    kept: list[onnx.NodeProto] = []
    placed: set[int] = set()
    for n in g.node:
        k = group_of.get(n.output[0])
        if k is None:
            kept.append(n)
        elif k not in placed:  # at the group's first node: its input is quantized by then
            placed.add(k)
            kept += built[k][1]
    del g.node[:]
    g.node.extend(kept)
    new_inits = [t for inits, _ in built for t in inits]
    g.initializer.extend(new_inits)
    prune(g, list(g.node))  # the old weights and scales that nothing reads any more
    merged = sum(len(c) for _, c in groups)
    return {"quantize_dropped": dropped, "products_merged": merged, "products_after": len(groups)}
