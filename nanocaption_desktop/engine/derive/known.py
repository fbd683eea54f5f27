"""What shape folding knows about each tensor (fold.py), and the dim arithmetic on it.

`Known` holds a tensor's shape (dims as polynomials, dims.py), its element type and, for a
small integer tensor, its elements. `State` hands out fresh symbols in a fixed order, so that
the same graph always gets the same symbols.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from .dims import Dim, Poly, add, div, mul

UNKNOWN_VALUE = "?v"  # prefix of a symbol that stands for an unknown value, not a dim
ONE_OR = "?1|"  # prefix of a dim that is either 1 or the dim named after it
INT_TYPES: dict[int, type[np.generic]] = {
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
class State:
    known: dict[str, Known] = field(default_factory=dict)
    fresh: Iterator[int] = field(default_factory=itertools.count)

    def get(self, name: str) -> Known:
        return self.known.get(name) or Known()

    def new_dim(self, hint: str) -> Poly:
        return Poly.symbol(f"?{next(self.fresh)}:{hint}")

    def unknown_value(self, hint: str) -> Poly:
        """An element of an integer tensor whose value is not known (may be 0, -1, negative)."""
        return Poly.symbol(f"{UNKNOWN_VALUE}{next(self.fresh)}:{hint}")

    def fresh_shape(self, rank: int, hint: str) -> list[Dim]:
        return [self.new_dim(f"{hint}:{k}") for k in range(rank)]


def one_or(d: Dim) -> Poly | None:
    """X for a dim that is "1 or X"."""
    name = d.name() if isinstance(d, Poly) else None
    return Poly.symbol(name[len(ONE_OR) :]) if name and name.startswith(ONE_OR) else None


def broadcast(st: State, shapes: Sequence[list[Dim] | None], hint: str) -> list[Dim] | None:
    """The numpy-style broadcast of `shapes` (a fresh dim where two symbols meet)."""
    known = [s for s in shapes if s is not None]
    if len(known) != len(shapes):
        return None
    rank = max(len(s) for s in known)
    out: list[Dim] = []
    for k in range(rank):
        dims = {s[k - rank + len(s)] for s in known if k - rank + len(s) >= 0}
        dims.discard(1)
        dims -= {d for d in dims if one_or(d) in dims}  # "1 or X" next to X gives X
        if not dims:
            out.append(1)
        elif len(dims) == 1:
            out.append(dims.pop())
        else:
            out.append(st.new_dim(f"{hint}:{k}"))
    return out


def zip_values(
    fn: Callable[[Dim, Dim], Dim | None], a: list[Dim] | None, b: list[Dim] | None
) -> list[Dim] | None:
    """fn over two value lists, a length-1 list broadcasting over the other."""
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    if len(a) not in (1, n) or len(b) not in (1, n):
        return None
    out = [fn(a[k if len(a) > 1 else 0], b[k if len(b) > 1 else 0]) for k in range(n)]
    return [v for v in out if v is not None] if all(v is not None for v in out) else None


def equal(a: Dim, b: Dim) -> int | None:
    if a == b:
        return 1
    if isinstance(a, int) and isinstance(b, int):
        return 0
    dim, num = (a, b) if isinstance(a, Poly) else (b, a)
    if isinstance(num, int) and num < 0 and isinstance(dim, Poly) and not is_unknown_value(dim):
        if all(c > 0 for _, c in dim.terms):
            return 0  # a dim (a sum of dims) is never negative
    return None


def elementwise(op: str, a: Dim, b: Dim) -> Dim | None:
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


def norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def ints(k: Known) -> list[int] | None:
    """The tensor's elements when every one is a known integer."""
    if k.value is None:
        return None
    out = [v for v in k.value if isinstance(v, int)]
    return out if len(out) == len(k.value) else None


def int_dims(dims: Sequence[Dim]) -> list[int] | None:
    """`dims` when every one is an integer."""
    out = [d for d in dims if isinstance(d, int)]
    return out if len(out) == len(dims) else None


def slice_len(d: Dim, s: Dim, e: Dim, step: int) -> Dim | None:
    """The length of d[s:e:step] when it is certain."""
    if isinstance(d, int) and isinstance(s, int) and isinstance(e, int) and step:
        return len(range(*slice(s, e, step).indices(d)))
    if step != 1 or s != 0 or is_unknown_value(d):
        return None
    if e == d or (isinstance(e, int) and e >= 2**31 - 1):
        return d  # [0:d] or [0:INT_MAX]: the whole dim
    return None


def is_unknown_value(d: Dim) -> bool:
    return isinstance(d, Poly) and any(s.startswith(UNKNOWN_VALUE) for m, _ in d.terms for s in m)


def from_tensor(t: onnx.TensorProto) -> Known:
    shape: list[Dim] = [int(d) for d in t.dims]
    value: list[Dim] | None = None
    if t.data_type in INT_TYPES and int(np.prod(t.dims)) <= MAX_VALUE_LEN:
        value = [int(v) for v in numpy_helper.to_array(t).reshape(-1)]
    return Known(shape, value, int(t.data_type))


def from_input(st: State, vi: onnx.ValueInfoProto, one_or_dims: Iterable[int] = ()) -> Known:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return Known(None, None, tt.elem_type)
    shape: list[Dim] = []
    for k, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            shape.append(int(d.dim_value))
        elif d.dim_param and k in one_or_dims:
            shape.append(Poly.symbol(ONE_OR + d.dim_param))
        elif d.dim_param:
            shape.append(Poly.symbol(d.dim_param))
        else:
            shape.append(st.new_dim(f"{vi.name}:{k}"))
    return Known(shape, None, tt.elem_type)
