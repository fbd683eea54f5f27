"""The encoder's INT8 patch projection as a matrix product (needs the `onnx` package).

The quantized ViT encoder cuts the image into patches with a `ConvInteger` whose kernel equals its
stride. onnxruntime runs that convolution with a generic kernel: 3.4 ms of a 35 ms encoder run on
2 threads (full-size model), for 0.2 G multiply-adds that its integer matrix product does in about
0.2 ms. Here the `ConvInteger` becomes Reshape/Transpose (the patches, laid out as the weight is:
channel, row, column) and a `MatMulInteger` against the weight as a [C*kh*kw, O] matrix; the
scale and bias that followed are applied to that [B, patches, O] product directly, which also
removes the Reshape/Transpose to tokens that followed them.

Integer products sum exactly in any order, and the same float operations then touch the same
values, so the encoder's output is the same bit for bit (checks.py checks that on every derive).
A graph that does not have exactly this shape raises `UnsupportedGraph`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph import UnsupportedGraph, attr_int, attr_ints, attr_str, consumers, onnx_opset, prune

PREFIX = "/patch_embed_matmul/"


def _only(consumers: dict[str, list[onnx.NodeProto]], name: str, op: str) -> onnx.NodeProto:
    found = consumers.get(name, [])
    if len(found) != 1 or found[0].op_type != op:
        raise UnsupportedGraph(
            f"{name}: expected one {op} after it, found {[n.op_type for n in found]}"
        )
    return found[0]


@dataclass(frozen=True)
class _Projection:
    """The pieces of the patch projection that the rewrite reads."""

    x: str  # the quantized image
    x_zp: str
    w_zp: str  # "" when the weight has no zero point
    weight: np.ndarray  # [O, C, kh, kw]
    scale: str  # input scale x weight scale
    bias: str  # [O]
    mul: onnx.NodeProto  # where the new nodes go
    tokens: str  # the [B, h*w, O] tensor the rest of the graph reads


def patch_projection_as_matmul(model: onnx.ModelProto) -> None:
    """Rewrite `model` in place (see the module docstring)."""
    g = model.graph
    opset = onnx_opset(model)
    if opset < 15:
        raise UnsupportedGraph(f"opset {opset}: Shape with start/end needs 15")
    found = _match(g)
    new_inits, nodes = _new_nodes(found)
    for n in g.node:
        for k, name in enumerate(n.input):
            if name == found.tokens:
                n.input[k] = PREFIX + "tokens"
    at = list(g.node).index(found.mul)  # x, its zero point and the scale are computed by then
    for k, n in enumerate(nodes):
        g.node.insert(at + k, n)
    prune(g, list(g.node), new_inits)
    if any(n.op_type == "ConvInteger" for n in g.node):
        raise UnsupportedGraph("the ConvInteger is still read after the rewrite")


def _plain_conv(conv: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> np.ndarray:
    """The weight of `conv` when it is a plain patch projection (kernel = stride, no padding,
    one group, one zero point for the weight)."""
    w_name = conv.input[1]
    w_zp = conv.input[3] if len(conv.input) > 3 else ""
    if w_name not in inits or (w_zp and w_zp not in inits):
        raise UnsupportedGraph("the patch projection's weight is not a constant")
    weight = numpy_helper.to_array(inits[w_name])
    if weight.ndim != 4:
        raise UnsupportedGraph(f"patch projection weight of rank {weight.ndim}")
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    strides, pads = attr_ints(conv, "strides"), attr_ints(conv, "pads")
    dilations = attr_ints(conv, "dilations")
    group, auto_pad = attr_int(conv, "group", 1), attr_str(conv, "auto_pad", "NOTSET")
    if (
        (strides or [1, 1]) != [kh, kw]
        or any(pads or [0])
        or any(d != 1 for d in dilations or [1, 1])
        or (group or 1) != 1
        or (auto_pad or "NOTSET") != "NOTSET"
    ):
        found = {"strides": strides, "pads": pads, "dilations": dilations, "group": group}
        raise UnsupportedGraph(
            f"ConvInteger {found | {'auto_pad': auto_pad}} is not a plain patch projection"
        )
    if w_zp and numpy_helper.to_array(inits[w_zp]).size != 1:
        raise UnsupportedGraph("per-channel weight zero points")
    return weight


def _match(g: onnx.GraphProto) -> _Projection:
    """ConvInteger -> Cast -> Mul (scale) -> Add (bias) -> Reshape -> Transpose, or
    `UnsupportedGraph` naming what differs."""
    convs = [n for n in g.node if n.op_type == "ConvInteger"]
    if len(convs) != 1:
        raise UnsupportedGraph(
            f"expected one ConvInteger (the patch projection), found {len(convs)}"
        )
    conv = convs[0]
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    users = consumers(g)
    weight = _plain_conv(conv, inits)

    cast = _only(users, conv.output[0], "Cast")
    mul = _only(users, cast.output[0], "Mul")
    add = _only(users, mul.output[0], "Add")
    scale = next(i for i in mul.input if i != cast.output[0])
    scale_from = producer.get(scale)
    if scale_from is None or scale_from.op_type != "Mul":
        raise UnsupportedGraph("the patch projection's scale is not input scale x weight scale")
    if any(i in inits and numpy_helper.to_array(inits[i]).size != 1 for i in scale_from.input):
        raise UnsupportedGraph("per-channel weight scales")
    bias_in = next(i for i in add.input if i != mul.output[0])
    bias_from = producer.get(bias_in)
    if bias_from is None or bias_from.op_type != "Reshape" or bias_from.input[0] not in inits:
        raise UnsupportedGraph("the patch projection's bias is not a reshaped constant")
    bias = bias_from.input[0]
    if numpy_helper.to_array(inits[bias]).shape != (int(weight.shape[0]),):
        raise UnsupportedGraph("the patch projection's bias is not one value per channel")
    # [B, O, h, w] -> Reshape [B, O, h*w] -> Transpose [B, h*w, O]: the tokens (the other
    # readers of [B, O, h, w] may only be Shapes, which computed that Reshape's target)
    readers = users[add.output[0]]
    flat = [n for n in readers if n.op_type == "Reshape"]
    if len(flat) != 1 or any(n.op_type not in ("Reshape", "Shape") for n in readers):
        kinds = [n.op_type for n in readers]
        raise UnsupportedGraph(f"unexpected readers of the patch grid: {kinds}")
    tokens = _only(users, flat[0].output[0], "Transpose")
    if (attr_ints(tokens, "perm") or []) != [0, 2, 1]:
        raise UnsupportedGraph("the tokens are not the transposed patch grid")
    if tokens.output[0] in {o.name for o in g.output}:
        raise UnsupportedGraph("the patch tokens are a graph output")
    w_zp = conv.input[3] if len(conv.input) > 3 else ""
    return _Projection(
        conv.input[0], conv.input[2], w_zp, weight, scale, bias, mul, tokens.output[0]
    )


def _new_nodes(m: _Projection) -> tuple[list[onnx.TensorProto], list[onnx.NodeProto]]:
    """The initializers and nodes of the projection as a matrix product."""
    out_ch, ch, kh, kw = (int(d) for d in m.weight.shape)
    p, x = PREFIX, m.x
    new_inits = [
        numpy_helper.from_array(m.weight.reshape(out_ch, ch * kh * kw).T.copy(), p + "weight"),
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
            [p + "patches", p + "weight", m.x_zp] + ([m.w_zp] if m.w_zp else []),
            [p + "acc"],
        ),
        helper.make_node("Cast", [p + "acc"], [p + "acc_f"], to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", [p + "acc_f", m.scale], [p + "scaled"]),
        helper.make_node("Add", [p + "scaled", m.bias], [p + "tokens"]),
    ]
    return new_inits, nodes
