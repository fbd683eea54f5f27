"""Symbolic inference for shape folding: one small handler per ONNX op (fold.py).

`infer(st, node)` records in `st` what is known of the node's outputs: their shapes, element
types and, for small integer tensors, their elements. The handlers live in two tables
(infer_values.py, infer_shapes.py); an op without a handler leaves its outputs unknown. They
read attributes through typed getters (graph.py) and create fresh symbols in graph order, so
the same graph always gets the same symbols.
"""

from __future__ import annotations

import onnx

from . import infer_shapes, infer_values
from .known import INT_TYPES, MAX_VALUE_LEN, Known, State
from .site import Handler, Site

HANDLERS: dict[str, Handler] = {**infer_values.HANDLERS, **infer_shapes.HANDLERS}


def infer(st: State, node: onnx.NodeProto) -> None:
    ins = [st.get(i) if i else Known() for i in node.input]
    out = [Known() for _ in node.output]
    hint = node.output[0] if node.output else node.op_type
    handler = HANDLERS.get(node.op_type)
    if handler is not None:
        handler(Site(st, node, ins, out, hint))
    for name, k in zip(node.output, out, strict=False):
        if name:
            if k.value is not None and (k.dtype not in INT_TYPES or len(k.value) > MAX_VALUE_LEN):
                k.value = None
            st.known[name] = k
