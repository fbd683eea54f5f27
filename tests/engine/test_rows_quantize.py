"""The per-row quantization of the rows graph (engine/derive/rows.py) on the rows the derive
check's random inputs never hit: an all-zero row (scale 1, zero point 0), constant rows of
either sign (one bound is the 0 that min and max include), a row whose values fall on rounding
ties, huge and subnormal values; each row of one rewritten run against the stock
`DynamicQuantizeLinear` graph run on that row alone, bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from nanocaption_desktop.engine.derive.rows import RowsError, per_row_quantization

K, N = 16, 5


def _product_graph(scale_shape: list[int | str]) -> onnx.ModelProto:
    """x -> DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(a_scale * w_scale), as
    onnxruntime's dynamic quantization writes a product (opset 17, as the step graph)."""
    rng = np.random.default_rng(5)
    weights = [
        numpy_helper.from_array(rng.integers(-128, 128, (K, N), dtype=np.int8), "w"),
        numpy_helper.from_array(np.array(3, dtype=np.int8), "wzp"),
        numpy_helper.from_array(np.array(0.02, dtype=np.float32), "wscale"),
    ]
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "scale", "zp"]),
        helper.make_node("MatMulInteger", ["q", "w", "zp", "wzp"], ["raw"]),
        helper.make_node("Cast", ["raw"], ["rawf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["scale", "wscale"], ["s"]),
        helper.make_node("Mul", ["rawf", "s"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "product",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", 1, K])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", 1, N]),
            helper.make_tensor_value_info("q", TensorProto.UINT8, ["rows", 1, K]),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, scale_shape),
        ],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _awkward_rows() -> np.ndarray:
    rng = np.random.default_rng(6)
    ties = np.arange(K, dtype=np.float32) - 7.5  # min -7.5, max 7.5: scale 15/255, many halves
    rows = [
        np.zeros(K),
        np.full(K, 2.5),
        np.full(K, -0.75),
        ties,
        ties * 255 / 15,  # scale exactly 1: x / scale lands on .5 for every value
        np.where(np.arange(K) % 2, 1e-41, -3e-42),  # subnormal
        np.where(np.arange(K) % 3, 3e38, -1e37),  # huge
        np.concatenate([[0.0], np.full(K - 1, 1e-3)]),  # min exactly 0
        rng.standard_normal(K) * 40,
    ]
    return np.stack(rows).astype(np.float32)[:, None, :]


def test_awkward_rows_quantized_together_equal_each_alone() -> None:
    stock = _product_graph([])  # one scale for the whole tensor
    rows_model = _product_graph(["rows", 1, 1])
    assert per_row_quantization(rows_model) == 1
    assert not any(n.op_type in ("DynamicQuantizeLinear", "Reshape") for n in rows_model.graph.node)
    onnx.checker.check_model(rows_model)
    alone, together = _session(stock), _session(rows_model)
    x = _awkward_rows()
    got = together.run(None, {"x": x})
    for r in range(len(x)):
        want = alone.run(None, {"x": x[r : r + 1]})
        for name, g, w in zip(("y", "q", "scale"), got, want, strict=True):
            assert g.dtype == w.dtype and g[r].size == w.size, (name, r)
            assert g[r].tobytes() == w.tobytes(), (name, r)
    assert got[2][0].item() == 1.0  # the all-zero row: scale 1, as DynamicQuantizeLinear has it
    # one tensor-wide quantization over the same rows would give other values: the test can fail
    shared = alone.run(None, {"x": x})
    assert shared[1].tobytes() != got[1].tobytes()


def test_a_zero_point_used_outside_a_product_is_refused() -> None:
    model = _product_graph([])
    model.graph.output.append(helper.make_tensor_value_info("zp2", TensorProto.UINT8, []))
    model.graph.node.append(helper.make_node("Identity", ["zp"], ["zp2"]))
    with pytest.raises(RowsError, match="zero point used otherwise"):
        per_row_quantization(model)
