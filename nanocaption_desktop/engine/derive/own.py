"""The own graph: the rows graph with its weight products on NanoCaption's own kernel
(engine/kernels/, issue 18), and the check that proves it before use.

In the rows graph (rows.py) each weight product is the row's quantization (11 nodes: min,
max, scale, zero point, the quantized row) -> `MatMulInteger` (no zero point in the product; an
INT8 weight whose zero point is none or a constant 0) -> `Sub` of the correction
`Mul(Cast(zero point), column sums)` (exact in int32) -> `Cast` to float -> `Mul` by the row's
scale times the weight's -> `Add` of the bias. Here all of that becomes one
`OwnDynamicQuantizeMatMul` over the float activations, the weight packed for the kernel
(`kernels.pack`), its column sums, its scale and the bias: each step computed as onnxruntime
computes it, in the same order (products.c). Nothing else changes, so the own graph takes the
rows graph's inputs and gives its outputs: 733 kernels a step on the full model instead of
1,851. Where the quantization is not the rows graph's own, or its check fails (another
onnxruntime rounding otherwise), the quantization stays nodes and the rest is one
`OwnMatMulIntegerToFloat` (1,609 kernels a step).

The check is the rows check (rows_copy.check_rows) with the own graph in the rows graph's
place: 1 to 8 images stepped together, several steps, against each image stepped alone on the
step graph, logits and every key and value bit for bit; once on one thread (a folder's
sessions) and once on two (the kernel then splits its columns over both). It runs on this
machine, with this build of the kernel: the manifest records the library's SHA-256 (the
recipe's `stamp`), and a different library derives the copy again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import kernels
from ..decoder import EXACT, HoistedDecoder, open_hoisted
from ..sessions import make_session
from .checks import DeriveCheckFailed
from .external import save_graph
from .graph import consumers, splice
from .rows_copy import check_rows, per_image_tensors

log = logging.getLogger(__name__)

OWN = "own.onnx"
STEP, CROSS = "step.onnx", "cross.onnx"


def own_graph(model: onnx.ModelProto, quantize: bool = True) -> int:
    """Rewrite the rows graph `model` in place; returns how many products moved to the kernel
    (each with its correction and float steps, and with `quantize` its activations' per-row
    quantization too where the graph has the rows graph's own: `_quantization`)."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    users = consumers(g)
    producer = {o: n for n in g.node for o in n.output}
    outputs = {o.name for o in g.output}

    def only(value: str, op: str) -> onnx.NodeProto | None:
        found = users.get(value, [])
        one = len(found) == 1 and value not in outputs and found[0].op_type == op
        return found[0] if one else None

    added: dict[str, onnx.TensorProto] = {}
    replace: dict[int, onnx.NodeProto] = {}  # the last node a product's chain ends with -> op
    removed: set[int] = set()
    for n in g.node:
        w = _weight(n, inits)
        sub = only(n.output[0], "Sub") if w is not None else None
        if w is None or sub is None or sub.input[0] != n.output[0]:
            continue
        corr = producer.get(sub.input[1])
        zero = producer.get(corr.input[0]) if corr is not None else None
        if corr is None or corr.op_type != "Mul" or zero is None or zero.op_type != "Cast":
            continue
        if len(users[corr.output[0]]) != 1 or len(users[zero.output[0]]) != 1:
            continue
        cast = only(sub.output[0], "Cast")
        mul = only(cast.output[0], "Mul") if cast is not None else None
        if mul is None or cast is None or _attr(cast, "to") != onnx.TensorProto.FLOAT:
            continue
        colsum = w.astype(np.int32).sum(axis=0, dtype=np.int32)
        theirs = inits.get(corr.input[1])
        if theirs is None or not np.array_equal(numpy_helper.to_array(theirs), colsum):
            continue
        add = only(mul.output[0], "Add")
        bias = _other(add, mul.output[0]) if add is not None else ""
        if add is None or bias not in inits:
            add, bias = None, ""
        name = n.input[1]
        added[f"{name}/own"] = numpy_helper.from_array(kernels.pack(w), f"{name}/own")
        added[f"{name}/colsum"] = numpy_helper.from_array(colsum, f"{name}/colsum")
        last = add if add is not None else mul
        chain = [x for x in (n, sub, corr, zero, cast, mul, add) if x is not None]
        k, cols = w.shape
        scale = _other(mul, cast.output[0])
        found = _quantization(n.input[0], zero.input[0], scale, producer, inits)
        if quantize and found is not None and _private(found[0], chain, users, outputs):
            quantization, x, w_scale = found
            ins = [x, f"{name}/own", f"{name}/colsum", w_scale, bias]
            op_type = kernels.QUANTIZE_OP
            chain += quantization
        else:
            ins = [n.input[0], f"{name}/own", zero.input[0], f"{name}/colsum", scale, bias]
            op_type = kernels.FLOAT_OP
        op = helper.make_node(op_type, ins, list(last.output), f"{n.name}/own", k=k, n=cols)
        op.domain = kernels.DOMAIN
        replace[id(last)] = op  # where the chain's last node was: every input is ready there
        removed |= {id(x) for x in chain}
    if not replace:
        raise DeriveCheckFailed("no weight product the own kernel can take")
    splice(g, replace, removed, list(added.values()))
    model.opset_import.append(helper.make_opsetid(kernels.DOMAIN, 1))
    return len(replace)


def _quantization(
    q: str,
    zp: str,
    scale: str,
    producer: dict[str, onnx.NodeProto],
    inits: dict[str, onnx.TensorProto],
) -> tuple[list[onnx.NodeProto], str, str] | None:
    """The rows graph's per-row quantization that makes a product's activations `q` and zero
    point `zp` (rows._quantize_rows: 11 nodes), and the Mul of its scale by the weight's that
    makes the product's `scale`: (those 12 nodes, the float activations, the weight's scale, a
    single float constant); None when the graph computes them otherwise."""

    def made(value: str, op: str, arity: int) -> onnx.NodeProto | None:
        node = producer.get(value)
        ok = node is not None and node.op_type == op and len(node.input) == arity
        return node if ok else None

    def const(value: str, want: float) -> bool:
        t = inits.get(value)
        if t is None:
            return False
        v = numpy_helper.to_array(t).reshape(-1)
        return v.size == 1 and float(v[0]) == want

    ql = made(q, "QuantizeLinear", 3)
    zql = made(zp, "QuantizeLinear", 2)
    combined = made(scale, "Mul", 2)
    if ql is None or zql is None or combined is None or ql.input[2] != zp:
        return None
    x, a_scale = ql.input[0], ql.input[1]
    where = made(a_scale, "Where", 3)
    neg = made(zql.input[0], "Neg", 1)
    if where is None or neg is None or zql.input[1] != a_scale or not const(where.input[1], 1):
        return None
    equal, div = made(where.input[0], "Equal", 2), made(where.input[2], "Div", 2)
    if equal is None or div is None or not const(div.input[1], 255):
        return None
    sub = made(div.input[0], "Sub", 2)
    if sub is None or list(sub.input) != list(equal.input) or neg.input[0] != sub.input[1]:
        return None
    mx, mn = made(sub.input[0], "Max", 2), made(sub.input[1], "Min", 2)
    if mx is None or mn is None or not (const(mx.input[1], 0) and const(mn.input[1], 0)):
        return None
    rmax, rmin = made(mx.input[0], "ReduceMax", 2), made(mn.input[0], "ReduceMin", 2)
    if rmax is None or rmin is None or rmax.input[0] != x or rmin.input[0] != x:
        return None
    if not (const(rmax.input[1], -1) and const(rmin.input[1], -1)):
        return None
    w_scale = _other(combined, a_scale)
    t = inits.get(w_scale)
    if t is None or t.data_type != onnx.TensorProto.FLOAT or numpy_helper.to_array(t).size != 1:
        return None
    return [rmin, rmax, mn, mx, sub, div, equal, where, neg, zql, ql, combined], x, w_scale


def _private(
    nodes: list[onnx.NodeProto],
    chain: list[onnx.NodeProto],
    users: dict[str, list[onnx.NodeProto]],
    outputs: set[str],
) -> bool:
    """Whether every value `nodes` make is read only by them and the product's `chain` (then
    all of them can go into one op)."""
    inside = {id(x) for x in nodes + chain}
    made = [o for x in nodes for o in x.output]
    return not any(o in outputs or any(id(u) not in inside for u in users[o]) for o in made)


def _weight(n: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> np.ndarray | None:
    """The INT8 weight of a rows-graph product the kernel can take (no activation zero point in
    the product, a depth that is a multiple of 4, the weight's zero point none or a constant
    0), else None."""
    if n.op_type != "MatMulInteger" or n.domain not in ("", "ai.onnx"):
        return None
    if len(n.input) > 2 and n.input[2]:
        return None
    w = inits.get(n.input[1])
    if w is None or w.data_type != onnx.TensorProto.INT8 or len(w.dims) != 2 or w.dims[0] % 4:
        return None
    b_zero = n.input[3] if len(n.input) > 3 else ""
    if b_zero and (b_zero not in inits or numpy_helper.to_array(inits[b_zero]).any()):
        return None
    return numpy_helper.to_array(w)


def _attr(node: onnx.NodeProto, name: str) -> int | None:
    return next((a.i for a in node.attribute if a.name == name), None)


def _other(node: onnx.NodeProto, value: str) -> str:
    """The input of a two-input node that is not `value`."""
    return node.input[1] if node.input[0] == value else node.input[0]


def step_graph_of(rows: Path) -> Path:
    """The derived step graph a rows graph was derived from: `<pair>/optimized/step/rows.onnx`
    -> `<pair>/step.onnx`."""
    return rows.parent.parent.parent / STEP


def make_own_copy(rows: Path, tmp: Path) -> dict[str, Any]:
    """Write the own graph of the rows graph `rows` into `tmp` and check it; raises when it
    cannot be made, the kernel cannot run here, or any output differs."""
    library = kernels.library()
    if library is None:
        raise DeriveCheckFailed("the own kernel cannot run on this machine")
    step = step_graph_of(rows)
    one = open_hoisted(step.parent / CROSS, step, threads=1)
    hidden = one.cross.get_inputs()[0].shape[-1]
    if not isinstance(hidden, int):
        raise DeriveCheckFailed(f"encoder hidden size not fixed: {hidden}")
    per_image = frozenset(per_image_tensors(one, hidden))
    try:
        count = _make(rows, tmp, library, one, per_image, hidden, quantize=True)
        quantized = True
    except DeriveCheckFailed as e:  # the quantization in C did not round as onnxruntime's
        log.warning("%s: the own graph with the quantization in it failed (%s); without", rows, e)
        count = _make(rows, tmp, library, one, per_image, hidden, quantize=False)
        quantized = False
    return {"own": {"products": count, "quantization": quantized}}


def _make(
    rows: Path,
    tmp: Path,
    library: Path,
    one: HoistedDecoder,
    per_image: frozenset[str],
    hidden: int,
    quantize: bool,
) -> int:
    """Write the own graph into `tmp` and check it on 1 and 2 threads (`make_own_copy`)."""
    model = onnx.load(str(rows))  # its weights too, from rows.onnx.data beside it
    count = own_graph(model, quantize=quantize)
    onnx.checker.check_model(model)
    save_graph(model, tmp / OWN)
    del model
    for threads in (1, 2):
        session = make_session(
            tmp / OWN, threads=threads, disabled_optimizers=EXACT, custom_ops=library
        )
        check_rows(one, HoistedDecoder(one.cross, session, one.path), per_image, hidden)
        del session
    return count
