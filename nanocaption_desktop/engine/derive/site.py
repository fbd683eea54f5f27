"""One node under shape-folding inference (infer.py), and the tables of per-op handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import onnx

from .dims import Dim
from .known import Known, State

BOOL, INT32, INT64 = onnx.TensorProto.BOOL, onnx.TensorProto.INT32, onnx.TensorProto.INT64


@dataclass
class Site:
    """One node under inference: what is known of its inputs, and its outputs to fill in."""

    st: State
    node: onnx.NodeProto
    ins: list[Known]
    out: list[Known]
    hint: str  # for fresh symbols: the first output's name

    @property
    def x(self) -> Known:
        return self.ins[0] if self.ins else Known()

    def shapes(self) -> list[list[Dim] | None]:
        return [k.shape for k in self.ins]


Handler = Callable[[Site], None]


def handler_table() -> tuple[dict[str, Handler], Callable[..., Callable[[Handler], Handler]]]:
    """A table of handlers by op type, and the decorator that fills it:
    `@handles("Add", "Sub")` above a handler."""
    table: dict[str, Handler] = {}

    def handles(*ops: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            table.update(dict.fromkeys(ops, fn))
            return fn

        return register

    return table, handles
