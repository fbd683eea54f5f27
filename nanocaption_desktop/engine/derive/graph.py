"""Graph helpers shared by the derive wing (needs the `onnx` package).

What a node reads (its inputs and what its subgraphs read from the enclosing scope), typed
attribute getters, pruning a graph to what its outputs need, and a new model around a graph
with its source's opsets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import onnx
from onnx import helper


class UnsupportedGraph(Exception):
    """The graph is not one the derive wing can rewrite; the stock graph stays in use."""


def onnx_opset(model: onnx.ModelProto) -> int:
    """The model's default-domain opset version (0 when it names none)."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _attribute(node: onnx.NodeProto, name: str) -> onnx.AttributeProto | None:
    return next((a for a in node.attribute if a.name == name), None)


def attr_int(node: onnx.NodeProto, name: str, default: int) -> int:
    a = _attribute(node, name)
    return default if a is None else int(a.i)


def attr_optional_int(node: onnx.NodeProto, name: str) -> int | None:
    a = _attribute(node, name)
    return None if a is None else int(a.i)


def attr_ints(node: onnx.NodeProto, name: str) -> list[int] | None:
    a = _attribute(node, name)
    return None if a is None else [int(v) for v in a.ints]


def attr_str(node: onnx.NodeProto, name: str, default: str) -> str:
    a = _attribute(node, name)
    return default if a is None else a.s.decode("utf-8")


def attr_tensor(node: onnx.NodeProto, name: str) -> onnx.TensorProto | None:
    a = _attribute(node, name)
    return a.t if a is not None and a.type == onnx.AttributeProto.TENSOR else None


def has_subgraph(node: onnx.NodeProto) -> bool:
    graphs = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    return any(a.type in graphs for a in node.attribute)


def subgraph_refs(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs (If/Loop/Scan bodies) read from the enclosing scope."""
    refs: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for g in graphs:
            defined = {i.name for i in g.input} | {i.name for i in g.initializer}
            for n in g.node:
                refs |= {i for i in (*n.input, *subgraph_refs(n)) if i and i not in defined}
                defined |= set(n.output)
    return refs


def consumers(graph: onnx.GraphProto) -> defaultdict[str, list[onnx.NodeProto]]:
    """Every value's reading nodes, in graph order, a node once for each input that names it
    (a value no node reads maps to an empty list)."""
    found: defaultdict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in graph.node:
        for i in n.input:
            found[i].append(n)
    return found


def splice(
    graph: onnx.GraphProto,
    replace: dict[int, onnx.NodeProto],
    removed: set[int],
    added: Sequence[onnx.TensorProto] = (),
) -> None:
    """Rewrite `graph` in place: each node whose id is a key of `replace` becomes its value
    (where it stood, so the new node's inputs are made before it), the nodes in `removed` go, and
    the initializers no node reads any more go, `added` being appended."""
    nodes = [replace.get(id(n), n) for n in graph.node if id(n) in replace or id(n) not in removed]
    graph.ClearField("node")
    graph.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend([*kept, *added])


def node_inputs(node: onnx.NodeProto) -> list[str]:
    """Every name `node` reads: its inputs, then what its subgraphs read from outside."""
    return [i for i in node.input if i] + sorted(subgraph_refs(node))


def prune(
    g: onnx.GraphProto, nodes: list[onnx.NodeProto], new_inits: Sequence[onnx.TensorProto] = ()
) -> int:
    """Set the graph's nodes to those of `nodes` that its outputs need (and its initializers to
    those still read); returns the number of nodes kept."""
    needed = {o.name for o in g.output}
    keep: list[onnx.NodeProto] = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output) or has_subgraph(node):
            keep.append(node)
            needed.update(node_inputs(node))
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


def new_model(src: onnx.ModelProto, graph: onnx.GraphProto) -> onnx.ModelProto:
    """A model around `graph` with the opsets, IR version and functions of `src`."""
    m = helper.make_model(
        graph,
        opset_imports=list(src.opset_import),
        ir_version=src.ir_version,
        producer_name="nanocaption-desktop",
    )
    m.functions.extend(src.functions)
    return m
