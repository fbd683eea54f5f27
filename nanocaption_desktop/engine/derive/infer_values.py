"""Shape-folding handlers for ops whose small integer outputs can be known element by element
(infer.py): constants, casts, `Shape`, `Size`, `Gather`, integer arithmetic and comparisons,
`Where`, `ConstantOfShape`, `Range`."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from .dims import Dim, add, product
from .graph import attr_int, attr_optional_int, attr_tensor
from .known import (
    INT_TYPES,
    MAX_VALUE_LEN,
    Known,
    broadcast,
    elementwise,
    equal,
    from_tensor,
    ints,
    is_unknown_value,
    norm_axis,
    zip_values,
)
from .site import BOOL, INT64, Site, handler_table

HANDLERS, handles = handler_table()


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
