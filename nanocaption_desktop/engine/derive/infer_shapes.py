"""Shape-folding handlers for ops that move, join or cut dims (infer.py): `Squeeze`,
`Unsqueeze`, `Concat`, `Slice`, `Reshape`, `Split`, `Expand`, `Transpose`, matrix products, and
the ops whose output has their input's shape."""

from __future__ import annotations

import onnx

from .dims import Dim, add, div, product
from .graph import attr_int, attr_ints
from .known import (
    INT_TYPES,
    MAX_VALUE_LEN,
    Known,
    broadcast,
    int_dims,
    ints,
    is_unknown_value,
    norm_axis,
    slice_len,
)
from .site import INT32, Site, handler_table

HANDLERS, handles = handler_table()


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
