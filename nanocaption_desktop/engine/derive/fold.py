"""Fold a graph's shape arithmetic into constants (needs the `onnx` package).

A decoder exported from PyTorch computes every reshape target at run time: `Shape`, `Gather`,
`Unsqueeze`, `Concat`, ... for each `Reshape`, and the attention scale from `Shape` again. For
one token these small nodes outnumber the matrix products ten to one and their dispatch cost
dominates a step (onnxruntime keeps them because the dims are symbolic).

This pass evaluates those integer tensors symbolically (infer.py: every dim is an integer or a
polynomial in symbols, dims.py). Then
  - an integer tensor whose every element is known is replaced by a constant;
  - a `Reshape` target whose unknown elements are the data's own dims at the same positions gets
    those elements as 0 ("copy this dim");
  - any other target made only of constants and runs of a graph input's dims is rebuilt from one
    shared `Shape` of that input;
and nodes nobody reads any more are dropped. Everything else stays as it was. Only integers
derived from shapes change form, never a float computation, so outputs are unchanged; the
recipes check that bit for bit in any case (checks.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .dims import Dim, Poly
from .graph import attr_int, has_subgraph, onnx_opset, prune
from .infer import infer
from .known import INT_TYPES, Known, State, from_input, from_tensor, int_dims, ints

OneOr = dict[str, list[int]]  # graph input -> positions of dims that may also be 1


@dataclass(frozen=True)
class FoldReport:
    constants: int  # integer tensors turned into constants
    reshapes_zero: int  # reshape targets rewritten with 0 for "copy this dim"
    rebuilt: int  # targets rebuilt from a graph input's shape
    nodes_before: int
    nodes_after: int


def analyse(model: onnx.ModelProto, one_or: OneOr | None = None) -> dict[str, Known]:
    """What is known of every tensor. `one_or` names input dims that may also be 1 where the
    graph input declares a named dim (an image's tensors fed once for several beams)."""
    g = model.graph
    st = State()
    init = {t.name: t for t in g.initializer}
    for t in g.initializer:
        st.known[t.name] = from_tensor(t)
    for vi in g.input:
        if vi.name not in init:
            st.known[vi.name] = from_input(st, vi, (one_or or {}).get(vi.name, ()))
    for node in g.node:
        infer(st, node)
    return st.known


@dataclass
class _Rewrite:
    """What `fold_shapes` adds to the graph as it goes."""

    new_inits: list[onnx.TensorProto] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)
    shared_shapes: dict[tuple[str, int, int], str] = field(default_factory=dict)
    extra_nodes: list[onnx.NodeProto] = field(default_factory=list)

    def constant(self, name: str, value: Sequence[int]) -> str:
        self.new_inits.append(numpy_helper.from_array(np.array(value, np.int64), name))
        return name

    def shape_of(self, src: str, start: int, end: int) -> str:
        """One shared `Shape(src)[start:end]` node's output."""
        key = (src, start, end)
        if key not in self.shared_shapes:
            name = self.shared_shapes[key] = f"{src}/shape_{start}_{end}/folded"
            node = helper.make_node("Shape", [src], [name], start=start, end=end, name=name)
            self.extra_nodes.append(node)
        return self.shared_shapes[key]


def fold_shapes(model: onnx.ModelProto, one_or: OneOr | None = None) -> FoldReport:
    """Rewrite `model` in place (see the module docstring and `analyse`)."""
    g = model.graph
    known = analyse(model, one_or)
    nodes_before = len(g.node)
    rw = _Rewrite()
    _replace_constants(g, known, rw)
    zero, rebuilt = _rewrite_targets(g, known, rw, shape_slices=onnx_opset(model) >= 15)
    kept = prune(g, _ordered(g, rw), rw.new_inits)
    return FoldReport(len(rw.replaced), zero, rebuilt, nodes_before, kept)


def _replace_constants(g: onnx.GraphProto, known: dict[str, Known], rw: _Rewrite) -> None:
    """Every node whose outputs are all known integer tensors becomes initializers."""
    outputs = {o.name for o in g.output}
    for node in g.node:
        if node.op_type == "Constant":
            continue
        arrays = [_constant(known.get(o)) if o and o not in outputs else None for o in node.output]
        if not node.output or has_subgraph(node):
            continue  # a node is replaced whole or not at all
        found = [a for a in arrays if a is not None]
        if len(found) != len(arrays):
            continue
        for o, arr in zip(node.output, found, strict=True):
            rw.new_inits.append(numpy_helper.from_array(arr, o))
            rw.replaced.add(o)


def _rewrite_targets(
    g: onnx.GraphProto, known: dict[str, Known], rw: _Rewrite, shape_slices: bool
) -> tuple[int, int]:
    """Reshape targets with 0 for "copy this dim", or rebuilt from shared `Shape`s of graph
    inputs (`shape_slices`: the opset has Shape's start/end); how many of each."""
    dim_source = _dim_sources(g, known)
    zero = rebuilt = 0
    for node in g.node:
        if node.op_type != "Reshape" or node.input[1] in rw.replaced:
            continue
        target = known.get(node.input[1])
        data = known.get(node.input[0])
        if target is None or target.value is None:
            continue
        if not attr_int(node, "allowzero", 0):
            with_zero = _with_zeros(target.value, data.shape if data else None)
            if with_zero is not None:
                node.input[1] = rw.constant(f"{node.output[0]}/shape/folded", with_zero)
                zero += 1
                continue
        pieces = _pieces(target.value, dim_source) if shape_slices else None
        if pieces is None:
            continue
        parts = []
        for piece in pieces:
            if isinstance(piece, _Dims):
                parts.append(rw.shape_of(piece.src, piece.start, piece.end))
            else:
                parts.append(rw.constant(f"{node.output[0]}/shape/{len(parts)}/folded", piece))
        name = f"{node.output[0]}/shape/folded"
        rw.extra_nodes.append(helper.make_node("Concat", parts, [name], axis=0, name=name))
        node.input[1] = name
        rebuilt += 1
    return zero, rebuilt


def _dim_sources(g: onnx.GraphProto, known: dict[str, Known]) -> dict[Dim, tuple[str, int]]:
    """Where each named dim of a graph input can be read (for rebuilt targets)."""
    dim_source: dict[Dim, tuple[str, int]] = {}
    for vi in g.input:
        k = known.get(vi.name)
        for a, d in enumerate(k.shape or [] if k else []):
            name = d.name() if isinstance(d, Poly) else None
            if name and not name.startswith("?"):
                dim_source.setdefault(d, (vi.name, a))
    return dim_source


def _ordered(g: onnx.GraphProto, rw: _Rewrite) -> list[onnx.NodeProto]:
    """The graph's nodes with the new ones: Concat nodes must come after the Shapes they read
    and before their Reshape, so all new Shapes go first (they read graph inputs only) and each
    Concat right before its reader; nodes whose outputs became constants are left out."""
    concat_for = {n.output[0]: n for n in rw.extra_nodes if n.op_type == "Concat"}
    ordered = [n for n in rw.extra_nodes if n.op_type == "Shape"]
    for node in g.node:
        if node.output and all(o in rw.replaced for o in node.output if o):
            continue
        for i in node.input:
            if i in concat_for:
                ordered.append(concat_for.pop(i))
        ordered.append(node)
    return ordered


def _constant(k: Known | None) -> np.ndarray | None:
    """The tensor's value when every element and dim is known."""
    if k is None or k.dtype not in INT_TYPES or k.shape is None:
        return None
    values, shape = ints(k), int_dims(k.shape)
    if values is None or shape is None or int(np.prod(shape)) != len(values):
        return None
    return np.array(values, dtype=INT_TYPES[k.dtype]).reshape(shape)


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


@dataclass(frozen=True)
class _Dims:
    """A run of consecutive dims of one graph input: `Shape(src)[start:end]`."""

    src: str
    start: int
    end: int


def _pieces(
    target: Iterable[Dim], source: dict[Dim, tuple[str, int]]
) -> list[list[int] | _Dims] | None:
    """The target as runs of constants and runs of consecutive dims of one graph input."""
    pieces: list[list[int] | _Dims] = []
    for v in target:
        last = pieces[-1] if pieces else None
        if isinstance(v, int):
            if isinstance(last, list):
                last.append(v)
            else:
                pieces.append([v])
            continue
        if v not in source:
            return None
        src, axis = source[v]
        if isinstance(last, _Dims) and last.src == src and last.end == axis:
            pieces[-1] = _Dims(src, last.start, axis + 1)
        else:
            pieces.append(_Dims(src, axis, axis + 1))
    return pieces
