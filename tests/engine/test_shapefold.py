"""Shape folding (engine/derive/fold.py): integers derived from shapes become constants, reshape
targets become 0-for-copy or one shared Shape of an input, and the graph computes exactly what
it computed before, for any shapes it can be fed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fixture_paths import TINY_BUNDLE
from hypothesis import given, settings
from hypothesis import strategies as st

from nanocaption_desktop.engine import derive
from nanocaption_desktop.engine.decoder import EXACT

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from nanocaption_desktop.engine.derive.flatten import drop_flatten_pairs  # noqa: E402
from nanocaption_desktop.engine.derive.fold import analyse, fold_shapes  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), opts, ["CPUExecutionProvider"], disabled_optimizers=list(EXACT)
    )


def _const(name: str, values: list[int]) -> onnx.NodeProto:
    value = helper.make_tensor(name, TensorProto.INT64, [len(values)], values)
    return helper.make_node("Constant", [], [name], value=value)


def _heads_model() -> onnx.ModelProto:
    """x [batch, seq, 8] -> reshape to [batch, seq, 2, 4] with the target computed from Shape(x),
    and a scale sqrt(last dim of the result) applied: the pattern a PyTorch export produces."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        _const("i0", [0]),
        _const("i1", [1]),
        _const("tail", [2, 4]),
        helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
        helper.make_node("Gather", ["s", "i1"], ["t"], axis=0),
        helper.make_node("Concat", ["b", "t", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
        helper.make_node("Shape", ["y"], ["ys"]),
        _const("last", [-1]),
        _const("end", [2**62]),
        helper.make_node("Slice", ["ys", "last", "end"], ["d"]),
        helper.make_node("Cast", ["d"], ["df"], to=TensorProto.FLOAT),
        helper.make_node("Sqrt", ["df"], ["scale"]),
        helper.make_node("Div", ["y", "scale"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "heads",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "seq", 2, 4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_shape_arithmetic_becomes_constants_and_copy_dims():
    model = _heads_model()
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    report = fold_shapes(folded)
    onnx.checker.check_model(folded)
    ops = [n.op_type for n in folded.graph.node]
    assert ops == ["Reshape", "Cast", "Sqrt", "Div"], ops
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in folded.graph.initializer}
    reshape = folded.graph.node[0]
    assert inits[reshape.input[1]].tolist() == [0, 0, 2, 4]  # batch and seq copied from x
    assert inits["d"].tolist() == [4]  # the head size, a constant now
    assert report.nodes_before == len(model.graph.node) and report.nodes_after == 4
    for shape in [(1, 1, 8), (3, 5, 8), (2, 0, 8), (0, 2, 8)]:
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        want = _session(model).run(None, {"x": x})[0]
        got = _session(folded).run(None, {"x": x})[0]
        assert got.shape == want.shape == (*shape[:2], 2, 4)
        assert np.array_equal(got, want)


def test_dims_of_different_inputs_are_never_assumed_equal():
    """A target built from b's shape must not become "copy a's dims": a and b are only the same
    size if the caller makes them so, so the target is rebuilt from b's shape instead."""
    nodes = [
        helper.make_node("Shape", ["b"], ["s"]),
        _const("tail", [-1, 4]),
        helper.make_node("Concat", ["s", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["a", "target"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "two",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 8]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["m"]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["m", "k", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    original = onnx.ModelProto()
    original.CopyFrom(model)
    report = fold_shapes(model)
    assert report.reshapes_zero == 0 and report.rebuilt == 1
    inits = {t.name for t in model.graph.initializer}
    reshape = next(n for n in model.graph.node if n.op_type == "Reshape")
    assert reshape.input[1] not in inits  # still computed at run time, from b
    for n, m in [(6, 3), (6, 6), (2, 1)]:
        feeds = {"a": np.arange(n * 8, dtype=np.float32).reshape(n, 8), "b": np.ones(m, np.float32)}
        got = _session(model).run(None, feeds)[0]
        want = _session(original).run(None, feeds)[0]
        assert got.shape == want.shape == (m, n * 2 // m, 4) and np.array_equal(got, want)


def test_analysis_keeps_unknown_values_unknown():
    """An integer read from data (not from a shape) must not be folded: ArgMax's result is
    data, so the reshape target built from it stays as it is."""
    nodes = [
        helper.make_node("ArgMax", ["x"], ["k"], axis=0, keepdims=1),
        _const("tail", [-1]),
        helper.make_node("Concat", ["k", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "data",
        [helper.make_tensor_value_info("x", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("out", TensorProto.INT64, ["r", "c"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    known = analyse(model)
    value = known["target"].value
    assert value is None or not isinstance(value[0], int)
    report = fold_shapes(model)
    assert report.constants == 0 and report.reshapes_zero == 0 and report.rebuilt == 0
    assert [n.op_type for n in model.graph.node] == ["ArgMax", "Constant", "Concat", "Reshape"]


def _linear_model(second_reader: bool) -> onnx.ModelProto:
    """x [batch, seq, 4] -> flatten to [-1, 4] -> MatMul W [4, 3] -> + bias -> Relu -> back to
    [batch, seq, 3] (a linear layer as PyTorch exports it); optionally the flattened tensor is
    also a graph output, which must keep the pair."""
    rng = np.random.default_rng(3)
    w = onnx.numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    bias = onnx.numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "bias")
    nodes = [
        _const("flat_shape", [-1, 4]),
        helper.make_node("Reshape", ["x", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "bias"], ["biased"]),
        helper.make_node("Relu", ["biased"], ["act"]),
        helper.make_node("Shape", ["x"], ["xs"]),
        _const("zero", [0]),
        _const("two", [2]),
        helper.make_node("Slice", ["xs", "zero", "two"], ["lead"]),
        _const("n", [3]),
        helper.make_node("Concat", ["lead", "n"], ["back"], axis=0),
        helper.make_node("Reshape", ["act", "back"], ["y"]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 3])]
    if second_reader:
        outputs.append(helper.make_tensor_value_info("flat", TensorProto.FLOAT, ["rows", 4]))
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 4])],
        outputs,
        initializer=[w, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("second_reader", [False, True])
def test_flatten_pairs_around_a_linear_layer_are_dropped(second_reader):
    model = _linear_model(second_reader)
    original = onnx.ModelProto()
    original.CopyFrom(model)
    fold_shapes(model)
    dropped = drop_flatten_pairs(model)
    onnx.checker.check_model(model)
    reshapes = sum(n.op_type == "Reshape" for n in model.graph.node)
    if second_reader:
        assert dropped == 0 and reshapes == 2
    else:
        assert dropped == 1 and reshapes == 0
        assert [n.op_type for n in model.graph.node] == ["MatMul", "Add", "Relu"]
    for shape in [(1, 1, 4), (2, 5, 4), (4, 1, 4)]:
        x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
        want = _session(original).run(None, {"x": x})
        got = _session(model).run(None, {"x": x})
        assert all(
            g.shape == w.shape and np.array_equal(g, w) for g, w in zip(got, want, strict=True)
        )


@pytest.fixture(scope="module")
def decoders() -> dict[str, tuple[ort.InferenceSession, ort.InferenceSession, onnx.ModelProto]]:
    """Stock and folded sessions of the tiny fixture's fp32 and INT8 with-past decoders (shapes
    folded and flatten pairs dropped)."""
    out = {}
    for name in ("decoder_with_past_model.onnx", "decoder_with_past_model_quantized.onnx"):
        model = onnx.load(str(TINY_BUNDLE / "onnx" / name))
        folded = onnx.ModelProto()
        folded.CopyFrom(model)
        fold_shapes(folded, {"encoder_hidden_states": [0]})
        pairs = drop_flatten_pairs(folded, {"encoder_hidden_states": [0]})
        assert pairs > 0 or "quantized" not in name  # fp32 linear layers are Gemm: 2-D only
        onnx.checker.check_model(folded)
        out[name] = (_session(model), _session(folded), folded)
    return out


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 4),
    past=st.integers(0, 6),
    new=st.integers(1, 3),
    image_tokens=st.integers(1, 9),
    image_once=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_folded_decoder_equals_stock_for_any_shapes(
    decoders, rows, past, new, image_tokens, image_once, seed
):
    """The whole tiny decoder, folded, against the original: every output bit for bit, over
    batch sizes, past lengths (0 included), several new tokens at once, image lengths, and the
    image fed once for all rows (the broadcast the beam search relies on)."""
    rng = np.random.default_rng(seed)
    for stock, folded, _ in decoders.values():
        feeds = {}
        for i in stock.get_inputs():
            if i.name == "input_ids":
                feeds[i.name] = rng.integers(0, 300, (rows, new), dtype=np.int64)
            elif i.name == "encoder_hidden_states":
                batch = 1 if image_once else rows
                feeds[i.name] = rng.standard_normal((batch, image_tokens, i.shape[2]), np.float32)
            else:
                heads, head_dim = i.shape[1], i.shape[3]
                feeds[i.name] = rng.standard_normal((rows, heads, past, head_dim), np.float32)
        want = stock.run(None, feeds)
        got = folded.run(None, feeds)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape and np.array_equal(g, w)


def test_folding_removes_most_shape_nodes(decoders):
    for name, (_, _, model) in decoders.items():
        before = onnx.load(str(TINY_BUNDLE / "onnx" / name), load_external_data=False).graph.node
        for op in ("Shape", "Gather", "Unsqueeze", "Concat"):
            n0 = sum(n.op_type == op for n in before)
            n1 = sum(n.op_type == op for n in model.graph.node)
            assert n1 <= n0 / 4 if op != "Concat" else n1 <= n0 / 2, (name, op, n0, n1)


def test_derived_pair_is_folded_and_says_so(bundle):
    found = derive.derived_decoder(bundle / "onnx" / "decoder_with_past_model_quantized.onnx")
    assert found is not None
    doc = json.loads((found.folder / derive.MANIFEST).read_text())
    assert doc["folded"]["nodes_after"] < doc["folded"]["nodes_before"] / 1.5
    assert doc["folded"]["flatten_pairs"] > 0
    step = onnx.load(str(found.step))
    assert sum(n.op_type == "Shape" for n in step.graph.node) <= doc["folded"]["nodes_after"] / 20


def test_a_fold_that_fails_its_check_falls_back_to_a_plain_split(bundle, monkeypatch, caplog):
    """A wrong fold (here: one constant deliberately changed) is caught by the bit-for-bit
    check, and the pair is split again without folding; it is still used."""
    from nanocaption_desktop.engine.derive import fold as shapefold

    real = shapefold.fold_shapes

    def broken(model, one_or=None):
        report = real(model, one_or)
        for t in model.graph.initializer:
            if t.name.endswith("/folded") and t.data_type == TensorProto.INT64:
                arr = onnx.numpy_helper.to_array(t).copy()
                if arr.size == 1 and arr.reshape(-1)[0] > 1:
                    arr = arr // 2  # a wrong head size: a different, still valid reshape
                    t.CopyFrom(onnx.numpy_helper.from_array(arr, t.name))
                    break
        return report

    monkeypatch.setattr(shapefold, "fold_shapes", broken)
    source = bundle / "onnx" / "decoder_with_past_model_quantized.onnx"
    with caplog.at_level("WARNING"):
        found = derive.derived_decoder(source)
    assert found is not None
    doc = json.loads((found.folder / derive.MANIFEST).read_text())
    assert doc["folded"] is None
    assert "folding shapes failed" in caplog.text


def test_casts_to_bool_fold_to_truth_values():
    """Cast(int -> bool) turns 5 into true (1), not 5; a symbolic dim cast to bool stays unknown."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Cast", ["s"], ["b"], to=TensorProto.BOOL),
        helper.make_node("Cast", ["b"], ["out"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes,
        "cast",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 5, 0])],
        [helper.make_tensor_value_info("out", TensorProto.INT64, [3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    known = analyse(model)
    assert known["b"].value is None  # n is not known
    original = onnx.ModelProto()
    original.CopyFrom(model)
    fold_shapes(model)
    x = np.zeros((3, 5, 0), np.float32)
    got = _session(model).run(None, {"x": x})[0]
    assert got.tolist() == _session(original).run(None, {"x": x})[0].tolist() == [1, 1, 0]
    fixed = helper.make_graph(
        nodes,
        "cast",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 0])],
        [helper.make_tensor_value_info("out", TensorProto.INT64, [3])],
    )
    model = helper.make_model(fixed, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert analyse(model)["b"].value == [1, 1, 0]
    fold_shapes(model)
    assert _session(model).run(None, {"x": np.zeros((2, 5, 0), np.float32)})[0].tolist() == [
        1,
        1,
        0,
    ]
