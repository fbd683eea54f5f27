"""The exact rewrites of the derive wing that cut kernels: computing once what the graph computes
several times (engine/derive/dedupe.py) and one integer product for the products that share a
quantized input (engine/derive/fuse_matmul.py). Each keeps every output bit for bit."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from fixture_paths import TINY_BUNDLE
from hypothesis import given, settings
from hypothesis import strategies as st

from nanocaption_desktop.engine import derive
from nanocaption_desktop.engine.decoder import EXACT
from nanocaption_desktop.engine.sessions import make_session

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from nanocaption_desktop.engine.derive.dedupe import merge_duplicates  # noqa: E402
from nanocaption_desktop.engine.derive.flatten import drop_flatten_pairs  # noqa: E402
from nanocaption_desktop.engine.derive.fold import fold_shapes  # noqa: E402
from nanocaption_desktop.engine.derive.fuse_matmul import merge_shared_products  # noqa: E402

ONE_OR = {"encoder_hidden_states": [0]}


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), opts, ["CPUExecutionProvider"], disabled_optimizers=list(EXACT)
    )


@pytest.fixture(scope="module")
def deduped() -> dict[str, tuple[ort.InferenceSession, ort.InferenceSession, dict[str, int]]]:
    """Stock and deduplicated (after folding, as the recipe does) sessions of the tiny fixture's
    fp32 and INT8 with-past decoders, and what the pass reported."""
    out = {}
    for name in ("decoder_with_past_model.onnx", "decoder_with_past_model_quantized.onnx"):
        model = onnx.load(str(TINY_BUNDLE / "onnx" / name))
        new = onnx.ModelProto()
        new.CopyFrom(model)
        fold_shapes(new, ONE_OR)
        drop_flatten_pairs(new, ONE_OR)
        report = merge_duplicates(new, ONE_OR)
        onnx.checker.check_model(new)
        out[name] = (_session(model), _session(new), report)
    return out


def test_every_layer_s_mask_is_computed_once(deduped):
    for name, (_, _, report) in deduped.items():
        layers = json.loads((TINY_BUNDLE / "config.json").read_text())["decoder"]["n_layer"]
        # per layer after the first: the key length's Shape/Gather/Unsqueeze, the mask's Slice
        # and Where
        assert report["nodes_merged"] >= 2 * (layers - 1), (name, report)
        assert report["values_shared"] >= layers - 1, (name, report)
        assert report["nodes_after"] < report["nodes_before"], (name, report)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 4),
    past=st.integers(0, 6),
    new=st.integers(1, 3),
    image_tokens=st.integers(1, 9),
    image_once=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_deduplicated_decoder_equals_stock_for_any_shapes(
    deduped, rows, past, new, image_tokens, image_once, seed
):
    rng = np.random.default_rng(seed)
    for stock, derived, _ in deduped.values():
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
        want, got = stock.run(None, feeds), derived.run(None, feeds)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape and np.array_equal(g, w)


def _graph(nodes: list[onnx.NodeProto], outputs: list[str]) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["n", None]) for o in outputs],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_only_deterministic_nodes_that_write_no_graph_output_are_merged():
    model = _graph(
        [
            helper.make_node("Relu", ["x"], ["a"]),
            helper.make_node("Relu", ["x"], ["b"]),  # the same as a: merged
            helper.make_node("Add", ["a", "b"], ["s"]),
            helper.make_node("RandomUniformLike", ["x"], ["r1"], seed=1.0),
            helper.make_node("RandomUniformLike", ["x"], ["r2"], seed=1.0),  # random: kept
            helper.make_node("Sigmoid", ["x"], ["out1"]),
            helper.make_node("Sigmoid", ["x"], ["out2"]),  # writes a graph output: kept
            helper.make_node("Sub", ["r1", "r2"], ["d"]),
        ],
        ["s", "d", "out1", "out2"],
    )
    report = merge_duplicates(model)
    ops = [n.op_type for n in model.graph.node]
    assert report["nodes_merged"] == 1
    assert ops.count("Relu") == 1 and ops.count("RandomUniformLike") == 2
    assert ops.count("Sigmoid") == 2
    add = next(n for n in model.graph.node if n.op_type == "Add")
    assert list(add.input) == ["a", "a"]


def test_the_derived_pair_is_deduplicated_and_says_so(bundle):
    """The recipe's own bit-for-bit check passed with the pass on (else `folded` is None)."""
    found = derive.derived_decoder(bundle / "onnx" / "decoder_with_past_model_quantized.onnx")
    assert found is not None
    doc = json.loads((found.folder / derive.MANIFEST).read_text())
    assert doc["folded"] is not None and doc["folded"]["dedupe"]["nodes_merged"] > 0


def test_products_that_share_a_quantized_input_become_one_and_keep_every_bit(tmp_path):
    """The tiny INT8 encoder's query, key and value products of each layer read one quantized
    input: one MatMulInteger each, and the same output bit for bit."""
    source = TINY_BUNDLE / "onnx" / "encoder_model_quantized.onnx"
    model = onnx.load(str(source))
    before = sum(n.op_type == "MatMulInteger" for n in model.graph.node)
    report = merge_shared_products(model)
    onnx.checker.check_model(model)
    after = sum(n.op_type == "MatMulInteger" for n in model.graph.node)
    layers = json.loads((TINY_BUNDLE / "config.json").read_text())["encoder"]["num_hidden_layers"]
    assert report["products_merged"] == 3 * layers and report["products_after"] == layers
    assert after == before - 2 * layers
    path = tmp_path / "merged.onnx"
    onnx.save(model, str(path))
    stock, new = make_session(source, threads=1), make_session(path, threads=1)
    rng = np.random.default_rng(5)
    size = json.loads((TINY_BUNDLE / "config.json").read_text())["encoder"]["image_size"]
    for batch in (1, 3):
        x = rng.uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
        want, got = stock.run(None, {"pixel_values": x}), new.run(None, {"pixel_values": x})
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape and np.array_equal(g, w)


def test_a_repeated_quantization_of_one_tensor_is_dropped_and_the_products_merged():
    """Two DynamicQuantizeLinear of x, each read by one product (weights with different scales
    and zero points): one quantization, one product, per-column scales, same outputs."""
    rng = np.random.default_rng(0)
    inits, nodes, outs = [], [], []
    for k, (zp, scale) in enumerate(((0, 0.02), (3, 0.05))):
        w = rng.integers(-100, 100, (4, 3 + k), dtype=np.int8)
        inits += [
            onnx.numpy_helper.from_array(w, f"w{k}"),
            onnx.numpy_helper.from_array(np.array(zp, dtype=np.int8), f"wz{k}"),
            onnx.numpy_helper.from_array(np.array(scale, dtype=np.float32), f"ws{k}"),
            onnx.numpy_helper.from_array(rng.standard_normal(3 + k, np.float32), f"b{k}"),
        ]
        nodes += [
            helper.make_node("DynamicQuantizeLinear", ["x"], [f"q{k}", f"s{k}", f"z{k}"]),
            helper.make_node("MatMulInteger", [f"q{k}", f"w{k}", f"z{k}", f"wz{k}"], [f"i{k}"]),
            helper.make_node("Cast", [f"i{k}"], [f"c{k}"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"s{k}", f"ws{k}"], [f"S{k}"]),
            helper.make_node("Mul", [f"c{k}", f"S{k}"], [f"m{k}"]),
            helper.make_node("Add", [f"m{k}", f"b{k}"], [f"y{k}"]),
            helper.make_node("Relu", [f"y{k}"], [f"out{k}"]),
        ]
        outs.append(f"out{k}")
    model = _graph(nodes, outs)
    model.graph.initializer.extend(inits)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    want = _session(model).run(None, {"x": x})
    report = merge_shared_products(model)
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert report == {"quantize_dropped": 1, "products_merged": 2, "products_after": 1}
    assert ops.count("DynamicQuantizeLinear") == 1 and ops.count("MatMulInteger") == 1
    got = _session(model).run(None, {"x": x})
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and np.array_equal(g, w)
