"""Fold a graph's shape arithmetic into constants (needs the `onnx` package).

A decoder exported from PyTorch computes every reshape target at run time: `Shape`, `Gather`,
`Unsqueeze`, `Concat`, ... for each `Reshape`, and the attention scale from `Shape` again. For
one token these small nodes outnumber the matrix products ten to one and their dispatch cost
dominates a step (profiled on the full INT8 step graph: about 1,500 of 1,750 nodes after
onnxruntime's own optimizations, which keep them because the dims are symbolic).

This pass evaluates those integer tensors symbolically: every dim is an integer or a polynomial
in symbols (a graph input's named dims, or a fresh symbol for a dim nothing says more about), and
no two symbols are ever assumed equal unless they are the same symbol. Then
  - an integer tensor whose every element is known is replaced by a constant;
  - a `Reshape` target whose unknown elements are the data's own dims at the same positions gets
    those elements as 0 ("copy this dim");
  - any other target made only of constants and runs of a graph input's dims is rebuilt from one
    shared `Shape` of that input;
and nodes nobody reads any more are dropped. Everything else stays as it was. Only integers
derived from shapes change form, never a float computation, so outputs are unchanged; derive.py
checks that bit for bit in any case.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

# ---- polynomials in dim symbols ----------------------------------------------------------------

Monomial = tuple[str, ...]  # sorted symbol names, repeated for powers; () is the constant term


@dataclass(frozen=True)
class Poly:
    terms: tuple[tuple[Monomial, int], ...]  # sorted, no zero coefficients

    @staticmethod
    def of(terms: dict[Monomial, int]) -> Dim:
        items = tuple(sorted((m, c) for m, c in terms.items() if c))
        if not items:
            return 0
        if len(items) == 1 and items[0][0] == ():
            return items[0][1]
        return Poly(items)

    @staticmethod
    def symbol(name: str) -> Poly:
        return Poly((((name,), 1),))

    def name(self) -> str | None:
        """The symbol's name if this is one plain symbol."""
        if len(self.terms) == 1 and self.terms[0][1] == 1 and len(self.terms[0][0]) == 1:
            return self.terms[0][0][0]
        return None


Dim = int | Poly


def _terms(d: Dim) -> dict[Monomial, int]:
    return {(): d} if isinstance(d, int) else dict(d.terms)


def add(a: Dim, b: Dim, sign: int = 1) -> Dim:
    t = _terms(a)
    for m, c in _terms(b).items():
        t[m] = t.get(m, 0) + sign * c
    return Poly.of(t)


def mul(a: Dim, b: Dim) -> Dim:
    t: dict[Monomial, int] = {}
    for (ma, ca), (mb, cb) in itertools.product(_terms(a).items(), _terms(b).items()):
        m = tuple(sorted(ma + mb))
        t[m] = t.get(m, 0) + ca * cb
    return Poly.of(t)


def div(a: Dim, b: Dim) -> Dim | None:
    """a / b when it is exact for every value of the symbols, else None."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b and a % b == 0 else None
    if a == b:
        return 1
    tb = _terms(b)
    if len(tb) != 1:
        return None
    ((mb, cb),) = tb.items()
    out: dict[Monomial, int] = {}
    for m, c in _terms(a).items():
        rest = list(m)
        for s in mb:
            if s not in rest:
                return None
            rest.remove(s)
        if c % cb:
            return None
        out[tuple(rest)] = c // cb
    return Poly.of(out)


# ---- what is known about each tensor -----------------------------------------------------------

UNKNOWN_VALUE = "?v"  # prefix of a symbol that stands for an unknown value, not a dim
INT_TYPES = {
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.BOOL: np.bool_,
}
MAX_VALUE_LEN = 64  # integer tensors longer than this are not tracked element by element


@dataclass
class Known:
    shape: list[Dim] | None = None  # None: rank unknown
    value: list[Dim] | None = None  # the elements of a small integer tensor (flattened)
    dtype: int = 0  # onnx element type when known


@dataclass
class _State:
    known: dict[str, Known] = field(default_factory=dict)
    fresh: itertools.count = field(default_factory=itertools.count)

    def get(self, name: str) -> Known:
        return self.known.get(name) or Known()

    def new_dim(self, hint: str) -> Poly:
        return Poly.symbol(f"?{next(self.fresh)}:{hint}")

    def unknown_value(self, hint: str) -> Poly:
        """An element of an integer tensor whose value is not known (may be 0, -1, negative)."""
        return Poly.symbol(f"{UNKNOWN_VALUE}{next(self.fresh)}:{hint}")

    def fresh_shape(self, rank: int, hint: str) -> list[Dim]:
        return [self.new_dim(f"{hint}:{k}") for k in range(rank)]


def onnx_opset(model: onnx.ModelProto) -> int:
    """The model's default-domain opset version (0 when it names none)."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


ONE_OR = "?1|"  # prefix of a dim that is either 1 or the dim named after it


def _one_or(d: Dim) -> Poly | None:
    """X for a dim that is "1 or X"."""
    name = d.name() if isinstance(d, Poly) else None
    return Poly.symbol(name[len(ONE_OR) :]) if name and name.startswith(ONE_OR) else None


def _broadcast(st: _State, shapes: Sequence[list[Dim] | None], hint: str) -> list[Dim] | None:
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)  # type: ignore[arg-type]
    out: list[Dim] = []
    for k in range(rank):
        dims = {s[k - rank + len(s)] for s in shapes if k - rank + len(s) >= 0}  # type: ignore
        dims.discard(1)
        dims -= {d for d in dims if _one_or(d) in dims}  # "1 or X" next to X gives X
        if not dims:
            out.append(1)
        elif len(dims) == 1:
            out.append(dims.pop())
        else:
            out.append(st.new_dim(f"{hint}:{k}"))
    return out


def _zip_values(fn, a: list | None, b: list | None) -> list | None:  # type: ignore[type-arg]
    """fn over two value lists, a length-1 list broadcasting over the other."""
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    if len(a) not in (1, n) or len(b) not in (1, n):
        return None
    out = [fn(a[k if len(a) > 1 else 0], b[k if len(b) > 1 else 0]) for k in range(n)]
    return None if any(v is None for v in out) else out


def _equal(a: Dim, b: Dim) -> int | None:
    if a == b:
        return 1
    if isinstance(a, int) and isinstance(b, int):
        return 0
    dim, num = (a, b) if isinstance(a, Poly) else (b, a)
    if isinstance(num, int) and num < 0 and isinstance(dim, Poly) and not _is_unknown_value(dim):
        if all(c > 0 for _, c in dim.terms):
            return 0  # a dim (a sum of dims) is never negative
    return None


def _elementwise(op: str, a: Dim, b: Dim) -> Dim | None:
    if op == "Add":
        return add(a, b)
    if op == "Sub":
        return add(a, b, -1)
    if op == "Mul":
        return mul(a, b)
    if op == "Div" and isinstance(a, int) and isinstance(b, int) and b:
        return int(a / b)  # ONNX integer division truncates toward zero
    if op == "Div":
        return div(a, b) if isinstance(b, int) and b > 0 or isinstance(b, Poly) else None
    return None


def _norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _ints(k: Known) -> list[int] | None:
    if k.value is None or not all(isinstance(v, int) for v in k.value):
        return None
    return [int(v) for v in k.value]  # type: ignore[arg-type]


def _infer(st: _State, node: onnx.NodeProto) -> None:
    op = node.op_type
    ins = [st.get(i) if i else Known() for i in node.input]
    x = ins[0] if ins else Known()
    out = [Known() for _ in node.output]
    hint = node.output[0] if node.output else op

    if op == "Constant":
        t = _attr(node, "value")
        if isinstance(t, onnx.TensorProto):
            out[0] = _from_tensor(t)
    elif op in ("Identity", "Cast", "CastLike"):
        out[0] = Known(x.shape, None, x.dtype)
        to = _attr(node, "to") if op == "Cast" else ins[1].dtype if len(ins) > 1 else 0
        if to in INT_TYPES and x.dtype in INT_TYPES and x.value is not None:
            if to != onnx.TensorProto.BOOL or x.dtype == onnx.TensorProto.BOOL:
                out[0].value = x.value
            elif all(isinstance(v, int) for v in x.value):
                out[0].value = [int(v != 0) for v in x.value]  # to bool: nonzero is true
        if op == "Identity":
            out[0].value = x.value
        out[0].dtype = int(to) if op != "Identity" and to else x.dtype  # type: ignore[arg-type]
    elif op == "Shape":
        if x.shape is not None:
            rank = len(x.shape)
            start = _norm_axis(int(_attr(node, "start", 0)), rank)  # type: ignore[arg-type]
            end_attr = _attr(node, "end")
            end = rank if end_attr is None else _norm_axis(int(end_attr), rank)  # type: ignore
            start, end = max(0, min(start, rank)), max(0, min(end, rank))
            out[0] = Known([max(0, end - start)], list(x.shape[start:end]), onnx.TensorProto.INT64)
        else:
            out[0] = Known(None, None, onnx.TensorProto.INT64)
    elif op == "Size":
        size: Dim = 1
        for d in x.shape or []:
            size = mul(size, d)
        out[0] = Known([], [size] if x.shape is not None else None, onnx.TensorProto.INT64)
    elif op == "Gather":
        idx = ins[1]
        axis = int(_attr(node, "axis", 0))  # type: ignore[arg-type]
        if x.shape is not None and idx.shape is not None:
            a = _norm_axis(axis, len(x.shape))
            out[0].shape = x.shape[:a] + idx.shape + x.shape[a + 1 :]
        out[0].dtype = x.dtype
        ii = _ints(idx)
        if x.value is not None and ii is not None and x.shape is not None and len(x.shape) == 1:
            n = len(x.value)
            if all(-n <= i < n for i in ii):
                out[0].value = [x.value[i] for i in ii]
    elif op in ("Unsqueeze", "Squeeze"):
        axes = _ints(ins[1]) if len(ins) > 1 else _attr(node, "axes")
        out[0] = Known(None, x.value, x.dtype)
        if x.shape is not None and axes is not None:
            axes = list(axes)  # type: ignore[arg-type]
            if op == "Unsqueeze":
                rank = len(x.shape) + len(axes)
                pos = sorted(_norm_axis(a, rank) for a in axes)
                shape = list(x.shape)
                for p in pos:
                    shape.insert(p, 1)
                out[0].shape = shape
            else:
                pos = {_norm_axis(a, len(x.shape)) for a in axes}
                out[0].shape = [d for k, d in enumerate(x.shape) if k not in pos]
        elif x.shape is not None and op == "Squeeze" and all(isinstance(d, int) for d in x.shape):
            out[0].shape = [d for d in x.shape if d != 1]
    elif op == "Concat":
        axis = int(_attr(node, "axis", 0))  # type: ignore[arg-type]
        shapes = [k.shape for k in ins]
        out[0].dtype = x.dtype
        if all(s is not None for s in shapes) and len({len(s) for s in shapes}) == 1:  # type: ignore
            rank = len(shapes[0])  # type: ignore[arg-type]
            a = _norm_axis(axis, rank)
            shape = list(shapes[0])  # type: ignore[arg-type]
            total: Dim = 0
            for s in shapes:
                total = add(total, s[a])  # type: ignore[index]
            shape[a] = total
            for k in range(rank):
                if k != a and len({s[k] for s in shapes}) != 1:  # type: ignore[index]
                    shape[k] = st.new_dim(f"{hint}:{k}")
            out[0].shape = shape
            if rank == 1 and x.dtype in INT_TYPES:
                # a piece of unknown value but known length contributes unknown elements
                value: list[Dim] = []
                for k, s in zip(ins, shapes, strict=True):
                    if k.value is not None:
                        value += k.value
                    elif isinstance(s[0], int) and s[0] <= MAX_VALUE_LEN:  # type: ignore[index]
                        value += [st.unknown_value(hint) for _ in range(s[0])]  # type: ignore
                    else:
                        break
                else:
                    out[0].value = value
    elif op == "Slice":
        out[0].dtype = x.dtype
        starts, ends = ins[1].value, ins[2].value
        axes = _ints(ins[3]) if len(ins) > 3 and node.input[3] else None
        steps = _ints(ins[4]) if len(ins) > 4 and node.input[4] else None
        if x.shape is not None and starts is not None and ends is not None:
            rank = len(x.shape)
            axes = axes if axes is not None else list(range(len(starts)))
            steps = steps if steps is not None else [1] * len(starts)
            shape: list[Dim] = list(x.shape)
            for s, e, a, step in zip(starts, ends, axes, steps, strict=False):
                a = _norm_axis(a, rank)
                size = _slice_len(x.shape[a], s, e, step)
                shape[a] = size if size is not None else st.new_dim(f"{hint}:{a}")
            out[0].shape = shape
            if x.value is not None and rank == 1 and isinstance(shape[0], int):
                s, e = starts[0], ends[0]
                if isinstance(s, int) and isinstance(e, int) and steps[0]:
                    out[0].value = x.value[s : e : steps[0]]
        elif x.shape is not None:  # bounds unknown: the rank stays, the sliced dims are new
            rank = len(x.shape)
            sliced = {_norm_axis(a, rank) for a in axes} if axes is not None else set(range(rank))
            out[0].shape = [
                st.new_dim(f"{hint}:{a}") if a in sliced else d for a, d in enumerate(x.shape)
            ]
    elif op in ("Add", "Sub", "Mul", "Div"):
        out[0].shape = _broadcast(st, [k.shape for k in ins], hint)
        out[0].dtype = x.dtype
        a, b = ins[0].value, ins[1].value
        if a is not None and b is not None and x.dtype in INT_TYPES and out[0].shape is not None:
            n = max(len(a), len(b))
            if len(a) in (1, n) and len(b) in (1, n) and len(out[0].shape) <= 1:
                vals = [
                    _elementwise(op, a[k if len(a) > 1 else 0], b[k if len(b) > 1 else 0])
                    for k in range(n)
                ]
                if all(v is not None for v in vals):
                    out[0].value = vals  # type: ignore[assignment]
    elif op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or"):
        out[0] = Known(_broadcast(st, [k.shape for k in ins], hint), None, onnx.TensorProto.BOOL)
        if op == "Equal" and out[0].shape is not None and len(out[0].shape) <= 1:
            out[0].value = _zip_values(_equal, ins[0].value, ins[1].value)
    elif op == "Where":
        out[0] = Known(_broadcast(st, [k.shape for k in ins], hint), None, ins[1].dtype)
        cond, a, b = (k.value for k in ins)
        if out[0].shape is not None and len(out[0].shape) <= 1 and cond is not None:
            picked = _zip_values(lambda c, ab: ab, cond, _zip_values(lambda u, v: (u, v), a, b))
            if picked is not None and all(isinstance(c, int) for c in cond):
                n = len(picked)
                out[0].value = [
                    picked[k][0] if cond[k if len(cond) > 1 else 0] else picked[k][1]
                    for k in range(n)
                ]  # type: ignore[index]
    elif op in ("Pow", "Max", "Min"):
        out[0] = Known(_broadcast(st, [k.shape for k in ins], hint), None, x.dtype)
    elif op in (
        "Sqrt", "Tanh", "Erf", "Neg", "Relu", "Sigmoid", "Softmax", "Exp", "Log", "Abs",
        "Reciprocal", "IsNaN", "IsInf", "Not", "Gelu", "FastGelu", "LayerNormalization",
        "DequantizeLinear", "QuantizeLinear",
    ):  # fmt: skip
        out[0] = Known(x.shape, None, x.dtype)
    elif op == "DynamicQuantizeLinear":
        out[0] = Known(x.shape, None, onnx.TensorProto.UINT8)
        out[1:] = [Known([], None, 0), Known([], None, onnx.TensorProto.UINT8)][: len(out) - 1]
    elif op in ("MatMul", "MatMulInteger"):
        a, b = ins[0].shape, ins[1].shape
        if a is not None and b is not None and len(a) >= 2 and len(b) >= 2:
            batch = _broadcast(st, [a[:-2], b[:-2]], hint) or []
            out[0].shape = batch + [a[-2], b[-1]]
        out[0].dtype = onnx.TensorProto.INT32 if op == "MatMulInteger" else x.dtype
    elif op == "Transpose":
        if x.shape is not None:
            perm = _attr(node, "perm") or list(range(len(x.shape)))[::-1]
            out[0].shape = [x.shape[p] for p in perm]  # type: ignore[union-attr]
        out[0].dtype = x.dtype
    elif op == "Reshape":
        out[0].dtype = x.dtype
        target = ins[1].value
        allowzero = int(_attr(node, "allowzero", 0))  # type: ignore[arg-type]
        if target is not None:
            shape: list[Dim | None] = []
            for k, v in enumerate(target):
                if _is_unknown_value(v) or v == -1:
                    shape.append(None)  # an unknown element could be 0 or -1 at run time
                elif v == 0 and not allowzero:
                    shape.append(x.shape[k] if x.shape is not None and k < len(x.shape) else None)
                else:
                    shape.append(v)
            resolvable = -1 in target and not any(_is_unknown_value(v) for v in target)
            if resolvable and shape.count(None) == 1 and x.shape is not None:
                total: Dim = 1
                for d in x.shape:
                    total = mul(total, d)
                known: Dim = 1
                for d in shape:
                    if d is not None:
                        known = mul(known, d)
                shape[shape.index(None)] = div(total, known)
            out[0].shape = [
                d if d is not None else st.new_dim(f"{hint}:{k}") for k, d in enumerate(shape)
            ]
            if x.value is not None:
                out[0].value = x.value
        elif ins[1].shape is not None and isinstance(ins[1].shape[0], int):
            out[0].shape = st.fresh_shape(ins[1].shape[0], hint)
    elif op == "Split":
        axis = int(_attr(node, "axis", 0))  # type: ignore[arg-type]
        sizes = _ints(ins[1]) if len(ins) > 1 and node.input[1] else _attr(node, "split")
        for k in range(len(node.output)):
            out[k].dtype = x.dtype
            if x.shape is not None:
                a = _norm_axis(axis, len(x.shape))
                shape = list(x.shape)
                if sizes is not None:
                    shape[a] = list(sizes)[k]  # type: ignore[arg-type]
                elif isinstance(x.shape[a], int) and x.shape[a] % len(node.output) == 0:
                    shape[a] = x.shape[a] // len(node.output)  # an even split
                else:
                    shape[a] = st.new_dim(f"{hint}:{k}:{a}")
                out[k].shape = shape
    elif op in ("Expand", "ConstantOfShape"):
        target = ins[1].value if op == "Expand" else x.value
        dtype = x.dtype if op == "Expand" else onnx.TensorProto.FLOAT
        if op == "ConstantOfShape":
            t = _attr(node, "value")
            dtype = t.data_type if isinstance(t, onnx.TensorProto) else dtype
        shape = None
        if target is not None and op == "Expand":
            shape = _broadcast(st, [x.shape, list(target)], hint)
        elif target is not None:
            shape = list(target)
        elif op == "Expand" and x.shape is not None and ins[1].shape is not None:
            n = ins[1].shape[0]
            if isinstance(n, int):
                shape = st.fresh_shape(max(n, len(x.shape)), hint)
        out[0] = Known(shape, None, dtype)
        if op == "ConstantOfShape" and dtype in INT_TYPES and target is not None:
            fill = numpy_helper.to_array(t).reshape(-1)[0] if isinstance(t, onnx.TensorProto) else 0
            size = _ints(Known(None, target))
            if size is not None and int(np.prod(size)) <= MAX_VALUE_LEN:
                out[0].value = [int(fill)] * int(np.prod(size))
    elif op == "Range":
        start, limit, delta = (k.value[0] if k.value else None for k in ins[:3])
        n: Dim | None = None
        if delta == 1 and start is not None and limit is not None:
            n = add(limit, start, -1)
            if isinstance(n, int):
                n = max(0, n)
            elif any(c < 0 for _, c in n.terms) or _is_unknown_value(n):
                n = None  # max(0, limit - start) is not a polynomial (dims are never negative)
        out[0] = Known([n if n is not None else st.new_dim(hint)], None, x.dtype)
        if isinstance(n, int) and start is not None and n <= MAX_VALUE_LEN:
            out[0].value = [add(start, k) for k in range(n)]

    for name, k in zip(node.output, out, strict=False):
        if name:
            if k.value is not None and (k.dtype not in INT_TYPES or len(k.value) > MAX_VALUE_LEN):
                k.value = None
            st.known[name] = k


def _slice_len(d: Dim, s: Dim, e: Dim, step: int) -> Dim | None:
    """The length of d[s:e:step] when it is certain."""
    if isinstance(d, int) and isinstance(s, int) and isinstance(e, int) and step:
        return len(range(*slice(s, e, step).indices(d)))
    if step != 1 or s != 0 or _is_unknown_value(d):
        return None
    if e == d or (isinstance(e, int) and e >= 2**31 - 1):
        return d  # [0:d] or [0:INT_MAX]: the whole dim
    return None


def _is_unknown_value(d: Dim) -> bool:
    return isinstance(d, Poly) and any(s.startswith(UNKNOWN_VALUE) for m, _ in d.terms for s in m)


def _from_tensor(t: onnx.TensorProto) -> Known:
    shape: list[Dim] = [int(d) for d in t.dims]
    value = None
    if t.data_type in INT_TYPES and int(np.prod(t.dims)) <= MAX_VALUE_LEN:
        value = [int(v) for v in numpy_helper.to_array(t).reshape(-1)]
    return Known(shape, value, t.data_type)  # type: ignore[arg-type]


def _from_input(st: _State, vi: onnx.ValueInfoProto, one_or: Iterable[int] = ()) -> Known:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return Known(None, None, tt.elem_type)
    shape: list[Dim] = []
    for k, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            shape.append(int(d.dim_value))
        elif d.dim_param and k in one_or:
            shape.append(Poly.symbol(ONE_OR + d.dim_param))
        elif d.dim_param:
            shape.append(Poly.symbol(d.dim_param))
        else:
            shape.append(st.new_dim(f"{vi.name}:{k}"))
    return Known(shape, None, tt.elem_type)


# ---- the rewrite -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoldReport:
    constants: int  # integer tensors turned into constants
    reshapes_zero: int  # reshape targets rewritten with 0 for "copy this dim"
    rebuilt: int  # targets rebuilt from a graph input's shape
    nodes_before: int
    nodes_after: int


def analyse(
    model: onnx.ModelProto, one_or: dict[str, Iterable[int]] | None = None
) -> dict[str, Known]:
    """What is known of every tensor. `one_or` names input dims that may also be 1 where the
    graph input declares a named dim (an image's tensors fed once for several beams)."""
    g = model.graph
    st = _State()
    init = {t.name: t for t in g.initializer}
    for t in g.initializer:
        st.known[t.name] = _from_tensor(t)
    for vi in g.input:
        if vi.name not in init:
            st.known[vi.name] = _from_input(st, vi, (one_or or {}).get(vi.name, ()))
    for node in g.node:
        _infer(st, node)
    return st.known


def fold_shapes(
    model: onnx.ModelProto, one_or: dict[str, Iterable[int]] | None = None
) -> FoldReport:
    """Rewrite `model` in place (see the module docstring and `analyse`)."""
    g = model.graph
    known = analyse(model, one_or)
    nodes_before = len(g.node)
    outputs = {o.name for o in g.output}
    new_inits: list[onnx.TensorProto] = []
    replaced: set[str] = set()

    # where each graph input's dims can be read (for rebuilt targets)
    dim_source: dict[Dim, tuple[str, int]] = {}
    for vi in g.input:
        k = known.get(vi.name)
        for a, d in enumerate(k.shape or [] if k else []):
            if isinstance(d, Poly) and d.name() and not d.name().startswith("?"):
                dim_source.setdefault(d, (vi.name, a))

    def const_name(base: str) -> str:
        return f"{base}/folded"

    for node in g.node:
        if node.op_type == "Constant":
            continue
        arrays = [_constant(known.get(o)) if o and o not in outputs else None for o in node.output]
        if not node.output or any(a is None for a in arrays) or _has_subgraph(node):
            continue  # a node is replaced whole or not at all
        for o, arr in zip(node.output, arrays, strict=True):
            new_inits.append(numpy_helper.from_array(arr, o))
            replaced.add(o)

    opset = onnx_opset(model)
    shape_slices = opset >= 15  # Shape's start/end attributes
    shared_shapes: dict[tuple[str, int, int], str] = {}
    extra_nodes: list[onnx.NodeProto] = []
    zero = rebuilt = 0
    for node in g.node:
        if node.op_type != "Reshape" or node.input[1] in replaced:
            continue
        target = known.get(node.input[1])
        data = known.get(node.input[0])
        if target is None or target.value is None:
            continue
        if not int(_attr(node, "allowzero", 0)):  # type: ignore[arg-type]
            with_zero = _with_zeros(target.value, data.shape if data else None)
            if with_zero is not None:
                name = const_name(f"{node.output[0]}/shape")
                new_inits.append(numpy_helper.from_array(np.array(with_zero, np.int64), name))
                node.input[1] = name
                zero += 1
                continue
        pieces = _pieces(target.value, dim_source) if shape_slices else None
        if pieces is None:
            continue
        parts = []
        for kind, payload in pieces:
            if kind == "const":
                name = const_name(f"{node.output[0]}/shape/{len(parts)}")
                new_inits.append(numpy_helper.from_array(np.array(payload, np.int64), name))
                parts.append(name)
            else:
                src, start, end = payload  # type: ignore[misc]
                key = (src, start, end)
                if key not in shared_shapes:
                    shared_shapes[key] = f"{src}/shape_{start}_{end}/folded"
                    extra_nodes.append(
                        helper.make_node(
                            "Shape",
                            [src],
                            [shared_shapes[key]],
                            start=start,
                            end=end,
                            name=shared_shapes[key],
                        )
                    )
                parts.append(shared_shapes[key])
        name = f"{node.output[0]}/shape/folded"
        extra_nodes.append(helper.make_node("Concat", parts, [name], axis=0, name=name))
        node.input[1] = name
        rebuilt += 1

    # Concat nodes must come after the Shapes they read and before their Reshape: put all new
    # Shapes first (they read graph inputs only) and each Concat right before its reader.
    concat_for = {n.output[0]: n for n in extra_nodes if n.op_type == "Concat"}
    ordered = [n for n in extra_nodes if n.op_type == "Shape"]
    for node in g.node:
        if node.output and all(o in replaced for o in node.output if o):
            continue
        for i in node.input:
            if i in concat_for:
                ordered.append(concat_for.pop(i))
        ordered.append(node)

    kept = _prune(g, ordered, new_inits)
    return FoldReport(len(replaced), zero, rebuilt, nodes_before, kept)


def _prune(
    g: onnx.GraphProto, nodes: list[onnx.NodeProto], new_inits: Sequence[onnx.TensorProto] = ()
) -> int:
    """Set the graph's nodes to those of `nodes` that its outputs need (and its initializers to
    those still read); returns the number of nodes kept."""
    from .optimize import _inputs

    needed = {o.name for o in g.output}
    keep: list[onnx.NodeProto] = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output) or _has_subgraph(node):
            keep.append(node)
            needed.update(_inputs(node))
    keep.reverse()
    used_inits = [t for t in (*g.initializer, *new_inits) if t.name in needed]
    del g.node[:]
    g.node.extend(keep)
    del g.initializer[:]
    g.initializer.extend(used_inits)
    produced = {o for n in keep for o in n.output}
    infos = [v for v in g.value_info if v.name in produced]
    del g.value_info[:]
    g.value_info.extend(infos)
    return len(keep)


def _constant(k: Known | None) -> np.ndarray | None:
    """The tensor's value when every element and dim is known."""
    if k is None or k.dtype not in INT_TYPES or k.shape is None:
        return None
    ints = _ints(k)
    if ints is None or not all(isinstance(d, int) for d in k.shape):
        return None
    shape = [int(d) for d in k.shape]  # type: ignore[arg-type]
    if int(np.prod(shape)) != len(ints):
        return None
    return np.array(ints, dtype=INT_TYPES[k.dtype]).reshape(shape)


def _has_subgraph(node: onnx.NodeProto) -> bool:
    graphs = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    return any(a.type in graphs for a in node.attribute)


def _with_zeros(target: Sequence[Dim], data: Sequence[Dim] | None) -> list[int] | None:
    """The target with each symbolic element that is the data's dim at its position as 0."""
    if data is None:
        return None
    out = []
    for k, v in enumerate(target):
        if isinstance(v, int) and v != 0:
            out.append(v)
        elif isinstance(v, Poly) and k < len(data) and data[k] == v:
            out.append(0)
        else:
            return None
    return out


def _pieces(
    target: Iterable[Dim], source: dict[Dim, tuple[str, int]]
) -> list[tuple[str, object]] | None:
    """The target as runs of constants and runs of consecutive dims of one graph input."""
    pieces: list[tuple[str, object]] = []
    for v in target:
        if isinstance(v, int):
            if pieces and pieces[-1][0] == "const":
                pieces[-1][1].append(v)  # type: ignore[attr-defined]
            else:
                pieces.append(("const", [v]))
            continue
        if v not in source:
            return None
        src, axis = source[v]
        last = pieces[-1] if pieces else None
        if last and last[0] == "dims" and last[1][0] == src and last[1][2] == axis:  # type: ignore
            pieces[-1] = ("dims", (src, last[1][1], axis + 1))  # type: ignore[index]
        else:
            pieces.append(("dims", (src, axis, axis + 1)))
    return pieces


# ---- flatten / unflatten pairs around row-wise products ----------------------------------------

#: ops that act on each row alone (or, DynamicQuantizeLinear, on all elements as one set), so
#: they give the same numbers on [..., K] as on the rows flattened to [-1, K]
_ROW_WISE = {"Cast", "Relu", "Gelu", "FastGelu", "Tanh", "Sigmoid", "Erf", "Identity", "Neg"}
_ELEMENTWISE = {"Add", "Sub", "Mul", "Div"}


def drop_flatten_pairs(
    model: onnx.ModelProto, one_or: dict[str, Iterable[int]] | None = None
) -> int:
    """Remove `Reshape(x, [-1, K])` ... `Reshape(y, x's leading dims + [N])` pairs around a
    chain of products with a 2-D weight and row-wise ops (the export of every linear layer on a
    3-D input): the chain then runs on the 3-D tensor directly. MatMul flattens the leading dims
    itself, so the numbers are the same. Returns the number of pairs removed."""
    g = model.graph
    known = analyse(model, one_or)
    users: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in set(n.input):
            users.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}
    drop: set[int] = set()
    chains: list[tuple[onnx.NodeProto, list[onnx.NodeProto], onnx.NodeProto]] = []
    for r1 in g.node:
        if r1.op_type != "Reshape" or id(r1) in drop:
            continue
        x = known.get(r1.input[0])
        flat = known.get(r1.output[0])
        if x is None or x.shape is None or len(x.shape) < 3 or flat is None or flat.shape is None:
            continue
        lead: Dim = 1
        for d in x.shape[:-1]:
            lead = mul(lead, d)
        if flat.shape != [lead, x.shape[-1]]:
            continue
        chain = _row_chain(r1.output[0], users, known, outputs)
        if chain is None:
            continue
        nodes, r2 = chain
        end = known.get(r2.output[0])
        last = known.get(r2.input[0])
        if end is None or last is None or end.shape is None or last.shape is None:
            continue
        if end.shape != [*x.shape[:-1], last.shape[-1]]:
            continue
        drop |= {id(r1), id(r2)}
        chains.append((r1, nodes, r2))
    for r1, nodes, r2 in chains:
        first = nodes[0]
        first.input[:] = [r1.input[0] if i == r1.output[0] else i for i in first.input]
        nodes[-1].output[0] = r2.output[0]
    if chains:
        # the chains' tensors changed rank: forget what the graph declared of them
        changed = {n.output[0] for _, nodes, _ in chains for n in nodes}
        infos = [v for v in g.value_info if v.name not in changed]
        del g.value_info[:]
        g.value_info.extend(infos)
        _prune(g, [n for n in g.node if id(n) not in drop])
    return len(chains)


def _row_chain(
    start: str,
    users: dict[str, list[onnx.NodeProto]],
    known: dict[str, Known],
    outputs: set[str],
) -> tuple[list[onnx.NodeProto], onnx.NodeProto] | None:
    """The nodes from `start` (a flattened [-1, K] tensor) to the Reshape that ends the chain,
    when every tensor on the way is read by the chain alone."""
    nodes: list[onnx.NodeProto] = []
    cur = start
    while True:
        readers = users.get(cur, [])
        if cur in outputs or len(readers) != 1:
            return None
        n = readers[0]
        if n.op_type == "Reshape" and n.input[0] == cur and nodes:
            return nodes, n
        others = [i for i in n.input if i and i != cur]
        small = all(
            known.get(i) is not None and known[i].shape is not None and len(known[i].shape) <= 1  # type: ignore[arg-type]
            for i in others
        )
        if n.op_type == "DynamicQuantizeLinear" or n.op_type in _ROW_WISE:
            pass
        elif n.op_type in _ELEMENTWISE:
            if not small:
                return None
        elif n.op_type in ("MatMul", "MatMulInteger"):
            b = known.get(n.input[1])
            zps = [i for i in n.input[2:] if i]
            if n.input[0] != cur or b is None or b.shape is None or len(b.shape) != 2:
                return None
            if any(known.get(i) is None or known[i].shape not in ([], [1]) for i in zps):
                return None
        else:
            return None
        if list(n.input).count(cur) != 1:
            return None
        nodes.append(n)
        cur = n.output[0]
