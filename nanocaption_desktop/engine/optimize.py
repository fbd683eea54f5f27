"""Split a decoder graph into its per-image part and its per-token part (needs the `onnx` package).

The stock decoder (`decoder_with_past_model`) projects the image tokens into cross-attention keys
and values again at every step. Everything in the graph that depends on `encoder_hidden_states`
but not on `input_ids` or the past is step-invariant; found by dependency analysis alone (no
model-specific names), it becomes a "cross" graph run once per image, and the rest becomes a
"step" graph that takes the cross graph's outputs as inputs, under their original names. The
nodes are the same nodes, so each graph computes the same values as before.

A merged decoder (one top-level `If` on `use_cache_branch`) is first turned into a plain
with-past graph by lifting its cache branch out of the `If`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import onnx
from onnx import helper

#: inputs that stay the same for every step of one image (every other input changes per step)
INVARIANT_PREFIX = "encoder_"


class OptimizeError(Exception):
    """The graph is not one this module can transform; the stock graph stays in use."""


@dataclass(frozen=True)
class Split:
    cross: onnx.ModelProto  # invariant inputs -> boundary tensors
    step: onnx.ModelProto  # step inputs + boundary tensors -> the original outputs
    boundary: tuple[str, ...]


def _subgraph_refs(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs (If/Loop/Scan bodies) read from the enclosing scope."""
    refs: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for g in graphs:
            defined = {i.name for i in g.input} | {i.name for i in g.initializer}
            for n in g.node:
                refs |= {i for i in (*n.input, *_subgraph_refs(n)) if i and i not in defined}
                defined |= set(n.output)
    return refs


def _inputs(node: onnx.NodeProto) -> list[str]:
    return [i for i in node.input if i] + sorted(_subgraph_refs(node))


def _closure(
    nodes: list[onnx.NodeProto], wanted: Iterable[str], stop: set[str]
) -> list[onnx.NodeProto]:
    """The nodes needed to compute `wanted`, not looking past the names in `stop`, graph order."""
    producer = {o: k for k, n in enumerate(nodes) for o in n.output if o}
    keep: set[int] = set()
    todo = [w for w in wanted if w not in stop]
    while todo:
        k = producer.get(todo.pop())
        if k is None or k in keep:
            continue
        keep.add(k)
        todo.extend(i for i in _inputs(nodes[k]) if i not in stop)
    return [n for k, n in enumerate(nodes) if k in keep]


def _value_info(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - types are then taken from what the graph declares
        inferred = model
    g = inferred.graph
    return {v.name: v for v in (*g.value_info, *g.input, *g.output)}


def _loose(info: onnx.ValueInfoProto | None, name: str) -> onnx.ValueInfoProto:
    """A graph input/output for `name`: its element type, static dims kept, symbolic dims dropped
    (the step graph may get batch-1 image tensors next to several beams)."""
    if info is None or not info.type.HasField("tensor_type"):
        raise OptimizeError(f"no type known for {name}")
    tt = info.type.tensor_type
    if not tt.HasField("shape"):
        return helper.make_tensor_value_info(name, tt.elem_type, None)
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
    return helper.make_tensor_value_info(name, tt.elem_type, dims)


def _model(src: onnx.ModelProto, graph: onnx.GraphProto) -> onnx.ModelProto:
    m = helper.make_model(
        graph,
        opset_imports=list(src.opset_import),
        ir_version=src.ir_version,
        producer_name="nanocaption-desktop",
    )
    m.functions.extend(src.functions)
    return m


def _graph(
    src: onnx.GraphProto,
    name: str,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
) -> onnx.GraphProto:
    used = {i for n in nodes for i in _inputs(n)}
    inits = [t for t in src.initializer if t.name in used]
    return helper.make_graph(nodes, name, inputs, outputs, initializer=inits)


def split_decoder(model: onnx.ModelProto) -> Split:
    """Cross/step split of a with-past decoder; `OptimizeError` when there is nothing to hoist."""
    g = model.graph
    graph_inputs = {i.name for i in g.input}
    if any(n.op_type == "If" and n.input and n.input[0] in graph_inputs for n in g.node):
        raise OptimizeError("merged decoder: lift its cache branch first")
    invariant_in = [i for i in g.input if i.name.startswith(INVARIANT_PREFIX)]
    if not invariant_in:
        raise OptimizeError(f"no {INVARIANT_PREFIX}* input")
    kind: dict[str, str] = {t.name: "const" for t in g.initializer}
    kind.update({i.name: "step" for i in g.input})
    kind.update({i.name: "cross" for i in invariant_in})
    nodes = list(g.node)
    for n in nodes:
        ks = set()
        for i in _inputs(n):
            if i not in kind:
                raise OptimizeError(f"{n.name or n.op_type} reads {i} before it is defined")
            ks.add(kind[i])
        k = "step" if "step" in ks else "cross" if "cross" in ks else "const"
        if k == "const" and not n.input and n.op_type != "Constant":
            k = "step"  # a source node that is not a constant (random ops): leave it per step
        kind.update({o: k for o in n.output if o})
    boundary: list[str] = []
    for n in nodes:
        if any(kind[o] == "step" for o in n.output if o):
            boundary += [i for i in _inputs(n) if kind[i] == "cross" and i not in boundary]
    boundary += [o.name for o in g.output if kind.get(o.name) == "cross" and o.name not in boundary]
    hoisted = [b for b in boundary if b not in {i.name for i in invariant_in}]
    if not hoisted:
        raise OptimizeError("nothing step-invariant to hoist")
    info = _value_info(model)
    consts = {t.name for t in g.initializer}
    cross_nodes = _closure(nodes, boundary, {i.name for i in invariant_in} | consts)
    step_nodes = _closure(nodes, [o.name for o in g.output], set(boundary) | consts)
    step_inputs = [i for i in g.input if kind[i.name] == "step"]
    cross = _graph(
        g, "cross", cross_nodes, list(invariant_in), [_loose(info.get(b), b) for b in boundary]
    )
    step = _graph(
        g,
        "step",
        step_nodes,
        step_inputs + [_loose(info.get(b), b) for b in boundary],
        list(g.output),
    )
    return Split(_model(model, cross), _model(model, step), tuple(boundary))


def lift_cache_branch(model: onnx.ModelProto, flag: str = "use_cache_branch") -> onnx.ModelProto:
    """A merged decoder as a with-past graph: the `If` on `flag` replaced by its then-branch."""
    g = model.graph
    ifs = [n for n in g.node if n.op_type == "If" and n.input and n.input[0] == flag]
    if len(ifs) != 1:
        raise OptimizeError(f"expected one If on {flag}, found {len(ifs)}")
    node = ifs[0]
    branch = next(a.g for a in node.attribute if a.name == "then_branch")
    outer = (
        {o for n in g.node for o in n.output}
        | {i.name for i in g.input}
        | {t.name for t in g.initializer}
    )
    inner = {o for n in branch.node for o in n.output} | {t.name for t in branch.initializer}
    clash = (inner - {o.name for o in branch.output}) & outer
    if clash:
        raise OptimizeError(f"branch names clash with the outer graph: {sorted(clash)[:3]}")
    rename = {b.name: o for b, o in zip(branch.output, node.output, strict=True)}
    body: list[onnx.NodeProto] = []
    for n in branch.node:
        c = onnx.NodeProto()
        c.CopyFrom(n)
        c.output[:] = [rename.get(o, o) for o in c.output]
        c.input[:] = [rename.get(i, i) for i in c.input]
        body.append(c)
    passthrough = [b.name for b in branch.output if b.name not in inner]  # output = outer name
    body += [helper.make_node("Identity", [b], [rename[b]]) for b in passthrough]
    k = list(g.node).index(node)
    nodes = list(g.node)[:k] + body + list(g.node)[k + 1 :]
    inputs = [i for i in g.input if i.name != flag]
    used = {i for n in nodes for i in _inputs(n)} | {o.name for o in g.output}
    inits = [t for t in (*g.initializer, *branch.initializer) if t.name in used]
    graph = helper.make_graph(nodes, g.name, inputs, list(g.output), initializer=inits)
    return _model(model, graph)


def describe(split: Split) -> dict[str, Any]:
    """Sizes for logs and the manifest."""

    def weight_bytes(m: onnx.ModelProto) -> int:
        return sum(len(t.raw_data) for t in m.graph.initializer)

    return {
        "boundary": len(split.boundary),
        "cross_nodes": len(split.cross.graph.node),
        "step_nodes": len(split.step.graph.node),
        "cross_weight_bytes": weight_bytes(split.cross),
        "step_weight_bytes": weight_bytes(split.step),
    }
