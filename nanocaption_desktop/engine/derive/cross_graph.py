"""Separate a decoder's cross graph from its step graph (needs the `onnx` package).

The stock decoder (`decoder_with_past_model`) projects the image tokens into cross-attention keys
and values again at every step. Everything in the graph that depends on `encoder_hidden_states`
but not on `input_ids` or the past is the same at every step; found by dependency analysis alone
(no model-specific names), it becomes the "cross graph", run once per image, and the rest becomes
the "step graph", run once per token, which takes the cross graph's outputs as inputs under their
original names. The nodes are the same nodes, so each graph computes the same values as before.

A merged decoder (one top-level `If` on `use_cache_branch`) is first turned into a plain
with-past graph by lifting its cache branch out of the `If`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import onnx
from onnx import helper

from .graph import UnsupportedGraph, new_model, node_inputs

#: inputs that stay the same for every step of one image: the cross graph's inputs
CROSS_INPUT_PREFIX = "encoder_"


@dataclass(frozen=True)
class DecoderGraphs:
    cross: onnx.ModelProto  # per image: the cross inputs -> the boundary tensors
    step: onnx.ModelProto  # per token: the step inputs + the boundary tensors -> the outputs
    boundary: tuple[str, ...]  # what the cross graph hands to the step graph


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
        todo.extend(i for i in node_inputs(nodes[k]) if i not in stop)
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
        raise UnsupportedGraph(f"no type known for {name}")
    tt = info.type.tensor_type
    if not tt.HasField("shape"):
        return helper.make_tensor_value_info(name, tt.elem_type, None)
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
    return helper.make_tensor_value_info(name, tt.elem_type, dims)


def _graph(
    src: onnx.GraphProto,
    name: str,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
) -> onnx.GraphProto:
    used = {i for n in nodes for i in node_inputs(n)}
    inits = [t for t in src.initializer if t.name in used]
    return helper.make_graph(nodes, name, inputs, outputs, initializer=inits)


def _kinds(g: onnx.GraphProto, cross_in: list[onnx.ValueInfoProto]) -> dict[str, str]:
    """Each tensor's kind: "const", "cross" (the same at every step) or "step"."""
    kind: dict[str, str] = {t.name: "const" for t in g.initializer}
    kind.update({i.name: "step" for i in g.input})
    kind.update({i.name: "cross" for i in cross_in})
    for n in g.node:
        ks = set()
        for i in node_inputs(n):
            if i not in kind:
                raise UnsupportedGraph(f"{n.name or n.op_type} reads {i} before it is defined")
            ks.add(kind[i])
        k = "step" if "step" in ks else "cross" if "cross" in ks else "const"
        if k == "const" and not n.input and n.op_type != "Constant":
            k = "step"  # a source node that is not a constant (random ops): leave it per step
        kind.update({o: k for o in n.output if o})
    return kind


def separate_cross_graph(model: onnx.ModelProto) -> DecoderGraphs:
    """The cross graph and step graph of a with-past decoder; `UnsupportedGraph` when nothing
    in it is the same at every step."""
    g = model.graph
    graph_inputs = {i.name for i in g.input}
    if any(n.op_type == "If" and n.input and n.input[0] in graph_inputs for n in g.node):
        raise UnsupportedGraph("merged decoder: lift its cache branch first")
    cross_in = [i for i in g.input if i.name.startswith(CROSS_INPUT_PREFIX)]
    if not cross_in:
        raise UnsupportedGraph(f"no {CROSS_INPUT_PREFIX}* input")
    kind = _kinds(g, cross_in)
    nodes = list(g.node)
    boundary: list[str] = []
    for n in nodes:
        if any(kind[o] == "step" for o in n.output if o):
            boundary += [i for i in node_inputs(n) if kind[i] == "cross" and i not in boundary]
    boundary += [o.name for o in g.output if kind.get(o.name) == "cross" and o.name not in boundary]
    if not [b for b in boundary if b not in {i.name for i in cross_in}]:
        raise UnsupportedGraph("nothing step-invariant for a cross graph")
    info = _value_info(model)
    consts = {t.name for t in g.initializer}
    cross_nodes = _closure(nodes, boundary, {i.name for i in cross_in} | consts)
    step_nodes = _closure(nodes, [o.name for o in g.output], set(boundary) | consts)
    step_inputs = [i for i in g.input if kind[i.name] == "step"]
    boundary_info = [_loose(info.get(b), b) for b in boundary]
    cross = _graph(g, "cross", cross_nodes, list(cross_in), boundary_info)
    step = _graph(g, "step", step_nodes, step_inputs + boundary_info, list(g.output))
    return DecoderGraphs(new_model(model, cross), new_model(model, step), tuple(boundary))


def lift_cache_branch(model: onnx.ModelProto, flag: str = "use_cache_branch") -> onnx.ModelProto:
    """A merged decoder as a with-past graph: the `If` on `flag` replaced by its then-branch."""
    g = model.graph
    ifs = [n for n in g.node if n.op_type == "If" and n.input and n.input[0] == flag]
    if len(ifs) != 1:
        raise UnsupportedGraph(f"expected one If on {flag}, found {len(ifs)}")
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
        raise UnsupportedGraph(f"branch names clash with the outer graph: {sorted(clash)[:3]}")
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
    used = {i for n in nodes for i in node_inputs(n)} | {o.name for o in g.output}
    inits = [t for t in (*g.initializer, *branch.initializer) if t.name in used]
    graph = helper.make_graph(nodes, g.name, inputs, list(g.output), initializer=inits)
    return new_model(model, graph)


def describe(graphs: DecoderGraphs) -> dict[str, Any]:
    """Sizes for logs and the manifest (under its "split" key)."""

    def weight_bytes(m: onnx.ModelProto) -> int:
        return sum(len(t.raw_data) for t in m.graph.initializer)

    return {
        "boundary": len(graphs.boundary),
        "cross_nodes": len(graphs.cross.graph.node),
        "step_nodes": len(graphs.step.graph.node),
        "cross_weight_bytes": weight_bytes(graphs.cross),
        "step_weight_bytes": weight_bytes(graphs.step),
    }
