"""Symbolic inference for shape folding: one small handler per ONNX op (fold.py).

`infer(st, node)` records in `st` what is known of the node's outputs: their shapes, element
types and, for small integer tensors, their elements. An op without a handler leaves its
outputs unknown. The handlers read attributes through typed getters (graph.py) and create
fresh symbols in graph order, so the same graph always gets the same symbols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from .dims import Dim, add, div, product
from .graph import attr_int, attr_ints, attr_optional_int, attr_tensor
from .known import (
    INT_TYPES,
    MAX_VALUE_LEN,
    Known,
    State,
    broadcast,
    elementwise,
    equal,
    from_tensor,
    int_dims,
    ints,
    is_unknown_value,
    norm_axis,
    slice_len,
    zip_values,
)

BOOL, INT32, INT64 = onnx.TensorProto.BOOL, onnx.TensorProto.INT32, onnx.TensorProto.INT64


@dataclass
class Site:
    """One node under inference: what is known of its inputs, and its outputs to fill in."""

    st: State
    node: onnx.NodeProto
    ins: list[Known]
    out: list[Known]
    hint: str  # for fresh symbols: the first output's name

    @property
    def x(self) -> Known:
        return self.ins[0] if self.ins else Known()

    def shapes(self) -> list[list[Dim] | None]:
        return [k.shape for k in self.ins]


Handler = Callable[[Site], None]
HANDLERS: dict[str, Handler] = {}


def handles(*ops: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS.update(dict.fromkeys(ops, fn))
        return fn

    return register


def infer(st: State, node: onnx.NodeProto) -> None:
    ins = [st.get(i) if i else Known() for i in node.input]
    out = [Known() for _ in node.output]
    hint = node.output[0] if node.output else node.op_type
    handler = HANDLERS.get(node.op_type)
    if handler is not None:
        handler(Site(st, node, ins, out, hint))
    for name, k in zip(node.output, out, strict=False):
        if name:
            if k.value is not None and (k.dtype not in INT_TYPES or len(k.value) > MAX_VALUE_LEN):
                k.value = None
            st.known[name] = k


@handles("Constant")
def _constant(s: Site) -> None:
    t = attr_tensor(s.node, "value")
    if t is not None:
        s.out[0] = from_tensor(t)


@handles("Identity")
def _identity(s: Site) -> None:
    s.out[0] = Known(s.x.shape, s.x.value, s.x.dtype)


@handles("Cast", "CastLike")
def _cast(s: Site) -> None:
    x = s.x
    if s.node.op_type == "Cast":
        to = attr_int(s.node, "to", 0)
    else:
        to = s.ins[1].dtype if len(s.ins) > 1 else 0
    out = s.out[0] = Known(x.shape, None, to or x.dtype)
    if to in INT_TYPES and x.dtype in INT_TYPES and x.value is not None:
        if to != BOOL or x.dtype == BOOL:
            out.value = x.value
        elif all(isinstance(v, int) for v in x.value):
            out.value = [int(v != 0) for v in x.value]  # to bool: nonzero is true


@handles("Shape")
def _shape(s: Site) -> None:
    x = s.x
    if x.shape is None:
        s.out[0] = Known(None, None, INT64)
        return
    rank = len(x.shape)
    start = norm_axis(attr_int(s.node, "start", 0), rank)
    end_attr = attr_optional_int(s.node, "end")
    end = rank if end_attr is None else norm_axis(end_attr, rank)
    start, end = max(0, min(start, rank)), max(0, min(end, rank))
    s.out[0] = Known([max(0, end - start)], list(x.shape[start:end]), INT64)


@handles("Size")
def _size(s: Site) -> None:
    shape = s.x.shape
    s.out[0] = Known([], [product(shape)] if shape is not None else None, INT64)


@handles("Gather")
def _gather(s: Site) -> None:
    x, idx, out = s.x, s.ins[1], s.out[0]
    axis = attr_int(s.node, "axis", 0)
    if x.shape is not None and idx.shape is not None:
        a = norm_axis(axis, len(x.shape))
        out.shape = x.shape[:a] + idx.shape + x.shape[a + 1 :]
    out.dtype = x.dtype
    ii = ints(idx)
    if x.value is not None and ii is not None and x.shape is not None and len(x.shape) == 1:
        n = len(x.value)
        if all(-n <= i < n for i in ii):
            out.value = [x.value[i] for i in ii]


@handles("Unsqueeze", "Squeeze")
def _squeeze(s: Site) -> None:
    x = s.x
    axes = ints(s.ins[1]) if len(s.ins) > 1 else attr_ints(s.node, "axes")
    out = s.out[0] = Known(None, x.value, x.dtype)
    if x.shape is not None and axes is not None:
        if s.node.op_type == "Unsqueeze":
            rank = len(x.shape) + len(axes)
            shape = list(x.shape)
            for p in sorted(norm_axis(a, rank) for a in axes):
                shape.insert(p, 1)
            out.shape = shape
        else:
            pos = {norm_axis(a, len(x.shape)) for a in axes}
            out.shape = [d for k, d in enumerate(x.shape) if k not in pos]
    elif x.shape is not None and s.node.op_type == "Squeeze" and int_dims(x.shape) is not None:
        out.shape = [d for d in x.shape if d != 1]


@handles("Concat")
def _concat(s: Site) -> None:
    x, out = s.x, s.out[0]
    out.dtype = x.dtype
    shapes = [sh for sh in s.shapes() if sh is not None]
    if len(shapes) != len(s.ins) or len({len(sh) for sh in shapes}) != 1:
        return
    rank = len(shapes[0])
    a = norm_axis(attr_int(s.node, "axis", 0), rank)
    shape = list(shapes[0])
    total: Dim = 0
    for sh in shapes:
        total = add(total, sh[a])
    shape[a] = total
    for k in range(rank):
        if k != a and len({sh[k] for sh in shapes}) != 1:
            shape[k] = s.st.new_dim(f"{s.hint}:{k}")
    out.shape = shape
    if rank == 1 and x.dtype in INT_TYPES:
        # a piece of unknown value but known length contributes unknown elements
        value: list[Dim] = []
        for piece, sh in zip(s.ins, shapes, strict=True):
            if piece.value is not None:
                value += piece.value
            elif isinstance(sh[0], int) and sh[0] <= MAX_VALUE_LEN:
                value += [s.st.unknown_value(s.hint) for _ in range(sh[0])]
            else:
                return
        out.value = value


@handles("Slice")
def _slice(s: Site) -> None:
    x, ins, node, out = s.x, s.ins, s.node, s.out[0]
    out.dtype = x.dtype
    starts, ends = ins[1].value, ins[2].value
    axes = ints(ins[3]) if len(ins) > 3 and node.input[3] else None
    steps = ints(ins[4]) if len(ins) > 4 and node.input[4] else None
    if x.shape is None:
        return
    rank = len(x.shape)
    if starts is None or ends is None:  # bounds unknown: the rank stays, the sliced dims are new
        sliced = {norm_axis(a, rank) for a in axes} if axes is not None else set(range(rank))
        out.shape = [
            s.st.new_dim(f"{s.hint}:{a}") if a in sliced else d for a, d in enumerate(x.shape)
        ]
        return
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    shape: list[Dim] = list(x.shape)
    for b, e, a, step in zip(starts, ends, axes, steps, strict=False):
        a = norm_axis(a, rank)
        size = slice_len(x.shape[a], b, e, step)
        shape[a] = size if size is not None else s.st.new_dim(f"{s.hint}:{a}")
    out.shape = shape
    if x.value is not None and rank == 1 and isinstance(shape[0], int):
        b, e = starts[0], ends[0]
        if isinstance(b, int) and isinstance(e, int) and steps[0]:
            out.value = x.value[b : e : steps[0]]


@handles("Add", "Sub", "Mul", "Div")
def _arithmetic(s: Site) -> None:
    x, out = s.x, s.out[0]
    out.shape = broadcast(s.st, s.shapes(), s.hint)
    out.dtype = x.dtype
    a, b = s.ins[0].value, s.ins[1].value
    if a is None or b is None or x.dtype not in INT_TYPES or out.shape is None:
        return
    n = max(len(a), len(b))
    if len(a) in (1, n) and len(b) in (1, n) and len(out.shape) <= 1:
        op = s.node.op_type
        vals = [
            elementwise(op, a[k if len(a) > 1 else 0], b[k if len(b) > 1 else 0]) for k in range(n)
        ]
        known = [v for v in vals if v is not None]
        if len(known) == len(vals):
            out.value = known


@handles("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or")
def _compare(s: Site) -> None:
    out = s.out[0] = Known(broadcast(s.st, s.shapes(), s.hint), None, BOOL)
    if s.node.op_type == "Equal" and out.shape is not None and len(out.shape) <= 1:
        out.value = zip_values(equal, s.ins[0].value, s.ins[1].value)


@handles("Where")
def _where(s: Site) -> None:
    out = s.out[0] = Known(broadcast(s.st, s.shapes(), s.hint), None, s.ins[1].dtype)
    cond, a, b = (k.value for k in s.ins)
    if out.shape is None or len(out.shape) > 1 or cond is None or a is None or b is None:
        return
    conds = ints(Known(None, cond))
    n = max(len(cond), len(a), len(b))
    if conds is None or any(len(v) not in (1, n) for v in (cond, a, b)):
        return

    def at(v: list[Dim], k: int) -> Dim:
        return v[k if len(v) > 1 else 0]

    out.value = [at(a, k) if conds[k if len(conds) > 1 else 0] else at(b, k) for k in range(n)]


@handles("Pow", "Max", "Min")
def _broadcast_only(s: Site) -> None:
    s.out[0] = Known(broadcast(s.st, s.shapes(), s.hint), None, s.x.dtype)


@handles(
    "Sqrt", "Tanh", "Erf", "Neg", "Relu", "Sigmoid", "Softmax", "Exp", "Log", "Abs",
    "Reciprocal", "IsNaN", "IsInf", "Not", "Gelu", "FastGelu", "LayerNormalization",
    "DequantizeLinear", "QuantizeLinear",
)  # fmt: skip
def _same_shape(s: Site) -> None:
    s.out[0] = Known(s.x.shape, None, s.x.dtype)


@handles("DynamicQuantizeLinear")
def _dynamic_quantize(s: Site) -> None:
    uint8 = onnx.TensorProto.UINT8
    s.out[0] = Known(s.x.shape, None, uint8)
    s.out[1:] = [Known([], None, 0), Known([], None, uint8)][: len(s.out) - 1]


@handles("MatMul", "MatMulInteger")
def _matmul(s: Site) -> None:
    a, b, out = s.ins[0].shape, s.ins[1].shape, s.out[0]
    if a is not None and b is not None and len(a) >= 2 and len(b) >= 2:
        batch = broadcast(s.st, [a[:-2], b[:-2]], s.hint) or []
        out.shape = batch + [a[-2], b[-1]]
    out.dtype = INT32 if s.node.op_type == "MatMulInteger" else s.x.dtype


@handles("Transpose")
def _transpose(s: Site) -> None:
    x, out = s.x, s.out[0]
    if x.shape is not None:
        perm = attr_ints(s.node, "perm") or list(range(len(x.shape)))[::-1]
        out.shape = [x.shape[p] for p in perm]
    out.dtype = x.dtype


@handles("Reshape")
def _reshape(s: Site) -> None:
    x, out, target = s.x, s.out[0], s.ins[1].value
    out.dtype = x.dtype
    if target is None:
        n = s.ins[1].shape[0] if s.ins[1].shape is not None else None
        if isinstance(n, int):
            out.shape = s.st.fresh_shape(n, s.hint)
        return
    allowzero = attr_int(s.node, "allowzero", 0)
    shape: list[Dim | None] = []
    for k, v in enumerate(target):
        if is_unknown_value(v) or v == -1:
            shape.append(None)  # an unknown element could be 0 or -1 at run time
        elif v == 0 and not allowzero:
            shape.append(x.shape[k] if x.shape is not None and k < len(x.shape) else None)
        else:
            shape.append(v)
    resolvable = -1 in target and not any(is_unknown_value(v) for v in target)
    if resolvable and shape.count(None) == 1 and x.shape is not None:
        rest = product([d for d in shape if d is not None])
        shape[shape.index(None)] = div(product(x.shape), rest)
    out.shape = [d if d is not None else s.st.new_dim(f"{s.hint}:{k}") for k, d in enumerate(shape)]
    if x.value is not None:
        out.value = x.value


@handles("Split")
def _split(s: Site) -> None:
    x, node = s.x, s.node
    axis = attr_int(node, "axis", 0)
    sizes = ints(s.ins[1]) if len(s.ins) > 1 and node.input[1] else attr_ints(node, "split")
    parts = len(node.output)
    for k in range(parts):
        s.out[k].dtype = x.dtype
        if x.shape is None:
            continue
        a = norm_axis(axis, len(x.shape))
        shape = list(x.shape)
        whole = x.shape[a]
        if sizes is not None:
            shape[a] = sizes[k]
        elif isinstance(whole, int) and whole % parts == 0:
            shape[a] = whole // parts  # an even split
        else:
            shape[a] = s.st.new_dim(f"{s.hint}:{k}:{a}")
        s.out[k].shape = shape


@handles("Expand")
def _expand(s: Site) -> None:
    x, target, shape_of = s.x, s.ins[1].value, s.ins[1].shape
    shape = None
    if target is not None:
        shape = broadcast(s.st, [x.shape, list(target)], s.hint)
    elif x.shape is not None and shape_of is not None:
        n = shape_of[0]
        if isinstance(n, int):
            shape = s.st.fresh_shape(max(n, len(x.shape)), s.hint)
    s.out[0] = Known(shape, None, s.x.dtype)


@handles("ConstantOfShape")
def _constant_of_shape(s: Site) -> None:
    target, t = s.x.value, attr_tensor(s.node, "value")
    dtype = int(t.data_type) if t is not None else onnx.TensorProto.FLOAT
    out = s.out[0] = Known(list(target) if target is not None else None, None, dtype)
    if dtype in INT_TYPES and target is not None:
        fill = numpy_helper.to_array(t).reshape(-1)[0] if t is not None else 0
        size = ints(Known(None, target))
        if size is not None and int(np.prod(size)) <= MAX_VALUE_LEN:
            out.value = [int(fill)] * int(np.prod(size))


@handles("Range")
def _range(s: Site) -> None:
    start, limit, delta = (k.value[0] if k.value else None for k in s.ins[:3])
    n: Dim | None = None
    if delta == 1 and start is not None and limit is not None:
        n = add(limit, start, -1)
        if isinstance(n, int):
            n = max(0, n)
        elif any(c < 0 for _, c in n.terms) or is_unknown_value(n):
            n = None  # max(0, limit - start) is not a polynomial (dims are never negative)
    s.out[0] = Known([n if n is not None else s.st.new_dim(s.hint)], None, s.x.dtype)
    if isinstance(n, int) and start is not None and n <= MAX_VALUE_LEN:
        s.out[0].value = [add(start, k) for k in range(n)]
