"""Read the external-data references of an ONNX file, without needing the ``onnx`` package.

An ONNX tensor may keep its bytes in another file (``data_location = EXTERNAL``, with an
``external_data`` entry ``location``). onnxruntime opens that file relative to the model, so a
hostile bundle could point it anywhere. This module only lists the references; ``manifest.py``
judges them. ``onnx`` is not a runtime dependency, so a small reader of the protobuf wire
format walks the messages that can hold tensors: model -> graph (and the sub-graphs in node
attributes), functions, training info -> tensors, skipping tensor payloads without copying them.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["ExternalRef", "OnnxReadError", "external_refs"]

ExternalRef = tuple[str, str | None]  # (tensor name, location or None when missing)

_MAX_DEPTH = 64  # nested sub-graphs; a real model has a handful


class OnnxReadError(ValueError):
    """The file is not a readable ONNX model."""


def external_refs(path: str | os.PathLike[str], *, use_onnx: bool = False) -> list[ExternalRef]:
    """Every tensor stored outside ``path``, as ``(tensor name, location)``.

    By default the built-in reader: it maps the file and skips tensor payloads, so it needs no
    memory for the weights (measured on a 766 MB decoder: 0.06 s, against 1.9 s and a full copy
    in memory for ``onnx.load(..., load_external_data=False)``). ``use_onnx=True`` asks the
    ``onnx`` package instead (the tests check that both agree).
    Raises OnnxReadError for a file that cannot be parsed.
    """
    if os.stat(path).st_size == 0:
        raise OnnxReadError("empty file")
    return _refs_with_onnx(Path(path)) if use_onnx else _refs_from_wire(Path(path))


# --- with the onnx package -------------------------------------------------------------------


def _refs_with_onnx(path: Path) -> list[ExternalRef]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise OnnxReadError(f"not a readable ONNX model ({type(e).__name__}: {e})") from e
    found: list[ExternalRef] = []
    for tensor in _onnx_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            entries = {e.key: e.value for e in tensor.external_data}
            found.append((tensor.name, entries.get("location")))
    return found


def _onnx_tensors(model: Any) -> Iterator[Any]:
    graphs = [model.graph]
    nodes: list[Any] = []
    for info in model.training_info:
        graphs += [info.initialization, info.algorithm]
    for func in model.functions:
        nodes += list(func.node)
        yield from _onnx_attr_tensors(func.attribute_proto, graphs)
    while graphs or nodes:
        if graphs:
            graph = graphs.pop()
            yield from graph.initializer
            for sparse in graph.sparse_initializer:
                yield from (sparse.values, sparse.indices)
            nodes += list(graph.node)
        else:
            yield from _onnx_attr_tensors(nodes.pop().attribute, graphs)


def _onnx_attr_tensors(attributes: Any, graphs: list[Any]) -> Iterator[Any]:
    for attr in attributes:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        for sparse in [attr.sparse_tensor, *attr.sparse_tensors]:
            yield from (sparse.values, sparse.indices)
        if attr.HasField("g"):
            graphs.append(attr.g)
        graphs.extend(attr.graphs)


# --- built-in protobuf wire-format reader ----------------------------------------------------

# message kind -> {field number: message kind of that (length-delimited) field}
_SCHEMA: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "function": {7: "node", 11: "attribute"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}


def _refs_from_wire(path: Path) -> list[ExternalRef]:
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise OnnxReadError("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                found: list[ExternalRef] = []
                _walk(view, 0, len(view), "model", found, 0)
                return found
            finally:
                view.release()


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise OnnxReadError("not a readable ONNX model (bad varint)")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start, stop or varint value) for every field in [pos, end)."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, pos
            continue
        if wire == 2:
            size, pos = _varint(buf, pos, end)
            stop = pos + size
        elif wire == 1:
            stop = pos + 8
        elif wire == 5:
            stop = pos + 4
        else:
            raise OnnxReadError(f"not a readable ONNX model (wire type {wire})")
        if number == 0 or stop > end:
            raise OnnxReadError("not a readable ONNX model (truncated or corrupt)")
        yield number, wire, pos, stop
        pos = stop


def _walk(
    buf: memoryview, pos: int, end: int, kind: str, found: list[ExternalRef], depth: int
) -> None:
    if depth > _MAX_DEPTH:
        raise OnnxReadError("not a readable ONNX model (sub-graphs nested too deeply)")
    if kind == "tensor":
        found.extend(_tensor_ref(buf, pos, end))
        return
    children = _SCHEMA[kind]
    for number, wire, start, stop in _fields(buf, pos, end):
        child = children.get(number)
        if child is not None and wire == 2:
            _walk(buf, start, stop, child, found, depth + 1)


def _tensor_ref(buf: memoryview, pos: int, end: int) -> list[ExternalRef]:
    name = ""
    external = False
    entries: dict[str, str] = {}
    for number, wire, start, stop in _fields(buf, pos, end):
        if number == 8 and wire == 2:
            name = _text(buf, start, stop)
        elif number == 14 and wire == 0:
            external = start == 1
        elif number == 13 and wire == 2:
            key = value = ""
            for n, w, s, t in _fields(buf, start, stop):
                if w == 2 and n in (1, 2):
                    key, value = (_text(buf, s, t), value) if n == 1 else (key, _text(buf, s, t))
            entries[key] = value
            external = True
    return [(name, entries.get("location"))] if external else []


def _text(buf: memoryview, start: int, stop: int) -> str:
    return bytes(buf[start:stop]).decode("utf-8", errors="replace")
