"""Drop the flatten/unflatten pairs around row-wise products (needs the `onnx` package).

The export of every linear layer on a 3-D input flattens it to [-1, K], multiplies, and
unflattens again. MatMul flattens the leading dims itself, so the chain can run on the 3-D
tensor directly with the same numbers, and two nodes fewer per layer run at every step.
"""

from __future__ import annotations

import onnx

from .dims import Dim, product
from .fold import OneOr, analyse
from .graph import prune
from .known import Known

#: ops that act on each row alone (or, DynamicQuantizeLinear, on all elements as one set), so
#: they give the same numbers on [..., K] as on the rows flattened to [-1, K]
_ROW_WISE = {"Cast", "Relu", "Gelu", "FastGelu", "Tanh", "Sigmoid", "Erf", "Identity", "Neg"}
_ELEMENTWISE = {"Add", "Sub", "Mul", "Div"}


def drop_flatten_pairs(model: onnx.ModelProto, one_or: OneOr | None = None) -> int:
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
        if flat.shape != [product(x.shape[:-1]), x.shape[-1]]:
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
        prune(g, [n for n in g.node if id(n) not in drop])
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
        small = all(_rank(known.get(i)) in (0, 1) for i in others)
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
            if any(_shape(known.get(i)) not in ([], [1]) for i in zps):
                return None
        else:
            return None
        if list(n.input).count(cur) != 1:
            return None
        nodes.append(n)
        cur = n.output[0]


def _shape(k: Known | None) -> list[Dim] | None:
    return None if k is None else k.shape


def _rank(k: Known | None) -> int | None:
    shape = _shape(k)
    return None if shape is None else len(shape)
