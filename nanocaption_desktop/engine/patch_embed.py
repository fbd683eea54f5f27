"""The encoder's INT8 patch projection as a matrix product (needs the `onnx` package).

The quantized ViT encoder cuts the image into patches with a `ConvInteger` whose kernel equals its
stride. onnxruntime runs that convolution with a generic kernel: 3.4 ms of a 35 ms encoder run on
2 threads (full-size model), for 0.2 G multiply-adds that its integer matrix product does in about
0.2 ms. Here the `ConvInteger` becomes Reshape/Transpose (the patches, laid out as the weight is:
channel, row, column) and a `MatMulInteger` against the weight as a [C*kh*kw, O] matrix; the
scale and bias that followed are applied to that [B, patches, O] product directly, which also
removes the Reshape/Transpose to tokens that followed them.

Integer products sum exactly in any order, and the same float operations then touch the same
values, so the encoder's output is the same bit for bit (derive.py checks that on every derive).
A graph that does not have exactly this shape raises `OptimizeError`.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .optimize import OptimizeError
from .shapefold import _attr, _prune, onnx_opset

PREFIX = "/patch_embed_matmul/"


def _only(consumers: dict[str, list[onnx.NodeProto]], name: str, op: str) -> onnx.NodeProto:
    found = consumers.get(name, [])
    if len(found) != 1 or found[0].op_type != op:
        raise OptimizeError(
            f"{name}: expected one {op} after it, found {[n.op_type for n in found]}"
        )
    return found[0]


def patch_projection_as_matmul(model: onnx.ModelProto) -> None:
    """Rewrite `model` in place (see the module docstring)."""
    g = model.graph
    opset = onnx_opset(model)
    if opset < 15:
        raise OptimizeError(f"opset {opset}: Shape with start/end needs 15")
    convs = [n for n in g.node if n.op_type == "ConvInteger"]
    if len(convs) != 1:
        raise OptimizeError(f"expected one ConvInteger (the patch projection), found {len(convs)}")
    conv = convs[0]
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    x, w_name, x_zp = conv.input[0], conv.input[1], conv.input[2]
    w_zp = conv.input[3] if len(conv.input) > 3 else ""
    if w_name not in inits or (w_zp and w_zp not in inits):
        raise OptimizeError("the patch projection's weight is not a constant")
    weight = numpy_helper.to_array(inits[w_name])
    if weight.ndim != 4:
        raise OptimizeError(f"patch projection weight of rank {weight.ndim}")
    out_ch, ch, kh, kw = (int(d) for d in weight.shape)
    a = {k: _attr(conv, k) for k in ("strides", "pads", "dilations", "group", "auto_pad")}
    if (
        list(a["strides"] or [1, 1]) != [kh, kw]  # type: ignore[call-overload]
        or any(a["pads"] or [0])  # type: ignore[arg-type]
        or any(d != 1 for d in a["dilations"] or [1, 1])  # type: ignore[attr-defined]
        or (a["group"] or 1) != 1
        or (a["auto_pad"] or b"NOTSET") not in (b"NOTSET", "NOTSET")
    ):
        raise OptimizeError(f"ConvInteger {a} is not a plain patch projection")
    if w_zp and numpy_helper.to_array(inits[w_zp]).size != 1:
        raise OptimizeError("per-channel weight zero points")

    cast = _only(consumers, conv.output[0], "Cast")
    mul = _only(consumers, cast.output[0], "Mul")
    add = _only(consumers, mul.output[0], "Add")
    scale = next(i for i in mul.input if i != cast.output[0])
    scale_from = producer.get(scale)
    if scale_from is None or scale_from.op_type != "Mul":
        raise OptimizeError("the patch projection's scale is not input scale x weight scale")
    if any(i in inits and numpy_helper.to_array(inits[i]).size != 1 for i in scale_from.input):
        raise OptimizeError("per-channel weight scales")
    bias_in = next(i for i in add.input if i != mul.output[0])
    bias_from = producer.get(bias_in)
    if bias_from is None or bias_from.op_type != "Reshape" or bias_from.input[0] not in inits:
        raise OptimizeError("the patch projection's bias is not a reshaped constant")
    bias = bias_from.input[0]
    if numpy_helper.to_array(inits[bias]).shape != (out_ch,):
        raise OptimizeError("the patch projection's bias is not one value per channel")
    # [B, O, h, w] -> Reshape [B, O, h*w] -> Transpose [B, h*w, O]: the tokens (the other
    # readers of [B, O, h, w] may only be Shapes, which computed that Reshape's target)
    readers = consumers[add.output[0]]
    flat = [n for n in readers if n.op_type == "Reshape"]
    if len(flat) != 1 or any(n.op_type not in ("Reshape", "Shape") for n in readers):
        raise OptimizeError(f"unexpected readers of the patch grid: {[n.op_type for n in readers]}")
    tokens = _only(consumers, flat[0].output[0], "Transpose")
    if list(_attr(tokens, "perm", [])) != [0, 2, 1]:  # type: ignore[call-overload]
        raise OptimizeError("the tokens are not the transposed patch grid")
    if tokens.output[0] in {o.name for o in g.output}:
        raise OptimizeError("the patch tokens are a graph output")

    p = PREFIX
    new_inits = [
        numpy_helper.from_array(weight.reshape(out_ch, ch * kh * kw).T.copy(), p + "weight"),
        numpy_helper.from_array(np.array([kh], np.int64), p + "kh"),
        numpy_helper.from_array(np.array([kw], np.int64), p + "kw"),
        numpy_helper.from_array(np.array([0, -1, ch * kh * kw], np.int64), p + "patches_shape"),
    ]
    nodes = [
        helper.make_node("Shape", [x], [p + "bc"], start=0, end=2),
        helper.make_node("Shape", [x], [p + "H"], start=2, end=3),
        helper.make_node("Shape", [x], [p + "W"], start=3, end=4),
        helper.make_node("Div", [p + "H", p + "kh"], [p + "h"]),
        helper.make_node("Div", [p + "W", p + "kw"], [p + "w"]),
        helper.make_node(
            "Concat", [p + "bc", p + "h", p + "kh", p + "w", p + "kw"], [p + "grid_shape"], axis=0
        ),
        helper.make_node("Reshape", [x, p + "grid_shape"], [p + "grid"]),
        helper.make_node("Transpose", [p + "grid"], [p + "grid_t"], perm=[0, 2, 4, 1, 3, 5]),
        helper.make_node("Reshape", [p + "grid_t", p + "patches_shape"], [p + "patches"]),
        helper.make_node(
            "MatMulInteger",
            [p + "patches", p + "weight", x_zp] + ([w_zp] if w_zp else []),
            [p + "acc"],
        ),
        helper.make_node("Cast", [p + "acc"], [p + "acc_f"], to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", [p + "acc_f", scale], [p + "scaled"]),
        helper.make_node("Add", [p + "scaled", bias], [p + "tokens"]),
    ]
    for n in g.node:
        for k, name in enumerate(n.input):
            if name == tokens.output[0]:
                n.input[k] = p + "tokens"
    at = list(g.node).index(mul)  # x, its zero point and the scale are all computed by then
    for k, n in enumerate(nodes):
        g.node.insert(at + k, n)
    _prune(g, list(g.node), new_inits)
    if any(n.op_type == "ConvInteger" for n in g.node):
        raise OptimizeError("the ConvInteger is still read after the rewrite")
