"""Compute once what a graph computes several times (needs the `onnx` package).

A GPT-2 export builds the causal mask for every layer again: `Shape` of the layer's keys,
`Gather` of its length, `Unsqueeze`, `Slice` of the mask, `Where` to the additive mask: five
kernels per layer and per token for one value that every layer shares. Two passes, in graph
order:
  - an integer tensor whose elements the shape analysis (fold.analyse) knows as the same
    polynomials in the inputs' named dims as an earlier tensor's, with the same type and shape,
    is read from that earlier tensor instead (every layer's key length is past + 1);
  - a node with the same op, attributes and inputs as an earlier node is dropped and its
    readers read the earlier node's outputs (ONNX ops are deterministic; only default-domain
    ops without subgraphs, and never a node that writes a graph output).
Nodes nobody reads any more are then dropped.

Why it is exact: the first pass relies on what fold.py already relies on (a named dim has one
value across the graph's inputs, and the analysis only derives what integer arithmetic gives);
the second replaces a computation by the same computation on the same values. checks.py proves
the derived graphs bit for bit against the stock graph on every derive in any case.
"""

from __future__ import annotations

import onnx

from .fold import OneOr, analyse
from .graph import has_subgraph, prune, subgraph_refs
from .known import is_unknown_value

_RANDOM = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial"}


def _value_renames(model: onnx.ModelProto, one_or: OneOr | None) -> dict[str, str]:
    """Each integer tensor whose value an earlier tensor has -> that earlier tensor."""
    known = analyse(model, one_or)
    g = model.graph
    outputs = {o.name for o in g.output}
    fed = {i.name for i in g.input}
    first: dict[tuple[object, ...], str] = {}
    renames: dict[str, str] = {}
    names = [t.name for t in g.initializer if t.name not in fed]
    names += [name for node in g.node for name in node.output]
    for name in names:  # initializers first: they exist before any node runs
        k = known.get(name)
        if not name or name in outputs or k is None or k.value is None or k.shape is None:
            continue
        if any(is_unknown_value(d) for d in (*k.value, *k.shape)):
            continue
        key = (k.dtype, tuple(k.shape), tuple(k.value))
        seen = first.setdefault(key, name)
        if seen != name:
            renames[name] = seen
    return renames


def _node_key(node: onnx.NodeProto) -> tuple[object, ...]:
    attrs = tuple(sorted((a.name, a.SerializeToString()) for a in node.attribute))
    return (node.op_type, node.domain, tuple(node.input), len(node.output), attrs)


def merge_duplicates(model: onnx.ModelProto, one_or: OneOr | None = None) -> dict[str, int]:
    """Rewrite `model` in place (see the module docstring); returns what was done."""
    g = model.graph
    subgraph_read: set[str] = set()
    for n in g.node:
        subgraph_read |= subgraph_refs(n)
    renames = {k: v for k, v in _value_renames(model, one_or).items() if k not in subgraph_read}
    values_shared = len(renames)
    # names a subgraph reads stay as they are (renames reach only the top level)
    outputs = {o.name for o in g.output} | subgraph_read
    first: dict[tuple[object, ...], onnx.NodeProto] = {}
    keep = []
    nodes_merged = 0
    for node in g.node:
        for k, name in enumerate(node.input):
            node.input[k] = renames.get(name, name)
        plain = node.domain in ("", "ai.onnx") and node.op_type not in _RANDOM
        if plain and not has_subgraph(node) and not set(node.output) & outputs:
            seen = first.setdefault(_node_key(node), node)
            if seen is not node:
                renames.update(zip(node.output, seen.output, strict=True))
                nodes_merged += 1
                continue
        keep.append(node)
    before = len(g.node)
    after = prune(g, keep)
    return {
        "values_shared": values_shared,
        "nodes_merged": nodes_merged,
        "nodes_before": before,
        "nodes_after": after,
    }
