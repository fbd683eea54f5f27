"""The rows graph: the step graph with every activation quantized per row, so that a step over
several images' rows gives each row exactly what a one-row step gives it.

The stock INT8 graph quantizes each activation with `DynamicQuantizeLinear`: one scale and zero
point for the whole tensor, so stacking images would make each caption depend on its neighbours.
Here each `DynamicQuantizeLinear` becomes the same arithmetic over the last axis only (one row:
the step graph sees one token per row), as onnxruntime computes it for a whole tensor
(`GetQuantizationParameter`): min and max including 0, scale `(max - min) / 255` (1 when they are
equal), zero point `round_half_even(clip(0 - min / scale, 0, 255))`, and `x / scale` rounded
half to even, plus the zero point, clipped to 0..255; the two roundings are onnxruntime's own
`QuantizeLinear` (the kernel `DynamicQuantizeLinear` quantizes with), blocked with one block per
row: opset 21's blocked form keeps scale and zero point at the `[..., 1]` shape the products
broadcast over, so no Reshape is needed (format 3: 11 nodes per quantization and 1,851 kernels
per step on the full model at 8 rows; format 2 used `QuantizeLinear` per axis, 13 nodes with two
Reshapes to a vector and back, 1,997 kernels; format 1 spelled the rounding out in 18
elementwise nodes). The rows graph therefore declares opset 21 (the step graph's other ops mean
the same there: onnx's checker and the derive check prove it).

onnxruntime's `MatMulInteger` takes only a scalar zero point for A, so each product runs with
none and subtracts `zero_point[row] * colsum(W - w_zero_point)[col]` after it: exact in int32
(|sum| < 255 * 255 * K). The per-row scale then multiplies the product in the same order as the
one-row graph (`Mul(a_scale, w_scale)`, then the product times that), so the floats are the same.
Everything else in the step graph is row-wise already (layer norms, logits, attention over each
row's own past); rows stepped together share one past length (engine/rows.py keeps them so), so
no padding enters attention.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph import consumers

#: The opset of blocked `QuantizeLinear` (a scale per block of an axis, same rank as the input)
#: and the IR version it needs.
BLOCKED_OPSET, BLOCKED_IR = 21, 10


class RowsError(Exception):
    """The step graph has a quantized product this rewrite does not know."""


def rows_graph(model: onnx.ModelProto, per_image: list[str]) -> int:
    """Rewrite `model` (a step graph) in place into the rows graph: the image tensors named in
    `per_image` take one row per image (the others stay shared, batch 1, as for beams); returns
    how many quantizations now work per row."""
    for i in model.graph.input:
        if i.name in per_image:
            dims = i.type.tensor_type.shape.dim
            if not dims or dims[0].dim_value not in (0, 1):
                raise RowsError(f"image tensor {i.name}: not one row per image")
            dims[0].Clear()
            dims[0].dim_param = "rows"
    return per_row_quantization(model)


def per_row_quantization(model: onnx.ModelProto) -> int:
    """Every DynamicQuantizeLinear of `model` per row, in place; returns how many."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    users = consumers(g)
    consts = _constants(g)
    nodes: list[onnx.NodeProto] = []
    count = 0
    for n in g.node:
        if n.op_type != "DynamicQuantizeLinear":
            nodes.append(n)
            continue
        q, scale, zp = n.output
        depth = {_depth(user, q, zp, inits) for user in users[zp]}
        if len(depth) != 1:
            raise RowsError(f"{n.name or q}: not one product depth but {sorted(depth)}")
        nodes.extend(_quantize_rows(n.input[0], q, scale, zp, f"{n.name or q}/rows", *depth))
        count += 1
    g.ClearField("node")
    g.node.extend(nodes)
    _correct_products(model, inits, users, consts)
    _use_blocked_opset(model)
    return count


def _depth(user: onnx.NodeProto, q: str, zp: str, inits: dict[str, onnx.TensorProto]) -> int:
    """The inner dimension of the product `user` of a quantization (q, zp): its weights' rows."""
    if user.op_type != "MatMulInteger" or list(user.input[:3]) != [q, user.input[1], zp]:
        raise RowsError(f"{user.name or user.op_type}: a zero point used otherwise")
    w = inits.get(user.input[1])
    if w is None or len(w.dims) != 2:
        raise RowsError(f"{user.name or user.output[0]}: weights that are not a constant matrix")
    return int(w.dims[0])


def _constants(g: onnx.GraphProto) -> dict[str, str]:
    """Shared constants, added once as initializers."""
    values = {"zero": 0.0, "one": 1.0, "qmax": 255.0}
    names = {}
    for key, v in values.items():
        name = f"rows/{key}"
        g.initializer.append(numpy_helper.from_array(np.array(v, dtype=np.float32), name))
        names[key] = name
    g.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "rows/last"))
    names["last"] = "rows/last"
    return names


def _use_blocked_opset(model: onnx.ModelProto) -> None:
    """Raise the default domain's opset to BLOCKED_OPSET, and the IR version with it. Between
    the step graph's opset (17) and 21 the ops it uses kept their meaning; an op whose inputs
    changed (the Reduce ops' axes became an input in 18) fails onnx's checker (make_rows_copy),
    and the derive check proves every output bit for bit."""
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = max(o.version, BLOCKED_OPSET)
    model.ir_version = max(model.ir_version, BLOCKED_IR)


def _quantize_rows(x: str, q: str, scale: str, zp: str, p: str, depth: int) -> list[onnx.NodeProto]:
    """DynamicQuantizeLinear over the last axis: q, scale [..., 1], zp [..., 1] (uint8).

    The rounding steps are onnxruntime's own `QuantizeLinear`, blocked (opset 21) with one
    block per row (the last axis whole), so the scale and zero point keep the `[..., 1]` shape
    the products and their corrections broadcast over: the zero point is `QuantizeLinear(-min)`
    with zero point 0 (saturating to 0..255 after rounding is clipping before it, the bounds
    being whole), then the row. 11 nodes (format 2 had 2 Reshapes more for per-axis
    `QuantizeLinear`, format 1 spelled all out in 18 elementwise nodes); the derive check
    proves each bit for bit."""
    zero, one, qmax, last = "rows/zero", "rows/one", "rows/qmax", "rows/last"

    def node(op: str, inputs: list[str], out: str, **kw: Any) -> onnx.NodeProto:
        return helper.make_node(op, inputs, [out], name=f"{p}/{out.rsplit('/', 1)[-1]}", **kw)

    return [
        node("ReduceMin", [x, last], f"{p}/rmin", keepdims=1),
        node("ReduceMax", [x, last], f"{p}/rmax", keepdims=1),
        node("Min", [f"{p}/rmin", zero], f"{p}/min"),
        node("Max", [f"{p}/rmax", zero], f"{p}/max"),
        node("Sub", [f"{p}/max", f"{p}/min"], f"{p}/range"),
        node("Div", [f"{p}/range", qmax], f"{p}/scale0"),
        node("Equal", [f"{p}/max", f"{p}/min"], f"{p}/flat"),
        node("Where", [f"{p}/flat", one, f"{p}/scale0"], scale),
        node("Neg", [f"{p}/min"], f"{p}/negmin"),
        node("QuantizeLinear", [f"{p}/negmin", scale], zp, axis=-1, block_size=1),
        node("QuantizeLinear", [x, scale, zp], q, axis=-1, block_size=depth),
    ]


def _correct_products(
    model: onnx.ModelProto,
    inits: dict[str, onnx.TensorProto],
    users: dict[str, list[onnx.NodeProto]],
    consts: dict[str, str],
) -> None:
    """Each MatMulInteger with a per-row zero point: none in the product, then the exact
    correction `- zp[row] * colsum(W - wzp)` in int32."""
    g = model.graph
    out: list[onnx.NodeProto] = []
    for n in g.node:
        if n.op_type != "MatMulInteger" or len(n.input) < 3 or n.input[2] == "":
            out.append(n)
            continue
        a, w, zp = n.input[0], n.input[1], n.input[2]
        wzp = n.input[3] if len(n.input) > 3 else ""
        if w not in inits or (wzp and wzp not in inits):
            raise RowsError(f"{n.name or n.output[0]}: weights that are not constant")
        weights = numpy_helper.to_array(inits[w]).astype(np.int64)
        if weights.ndim != 2:
            raise RowsError(f"{n.name or n.output[0]}: weights of rank {weights.ndim}")
        if wzp:
            weights = weights - numpy_helper.to_array(inits[wzp]).astype(np.int64)
        colsum = weights.sum(axis=0)
        if np.abs(colsum).max(initial=0) * 255 >= 2**31:
            raise RowsError(f"{n.name or n.output[0]}: the correction could overflow int32")
        p = f"{n.name or n.output[0]}/rows"
        g.initializer.append(numpy_helper.from_array(colsum.astype(np.int32), f"{p}/colsum"))
        raw = f"{p}/raw"
        out.append(helper.make_node("MatMulInteger", [a, w, "", wzp], [raw], name=f"{p}/mm"))
        out.append(helper.make_node("Cast", [zp], [f"{p}/zp32"], name=f"{p}/zp32", to=6))
        out.append(
            helper.make_node("Mul", [f"{p}/zp32", f"{p}/colsum"], [f"{p}/corr"], name=f"{p}/corr")
        )
        out.append(helper.make_node("Sub", [raw, f"{p}/corr"], [n.output[0]], name=f"{p}/sub"))
    g.ClearField("node")
    g.node.extend(out)
