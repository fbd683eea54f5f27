"""The encoder's patch projection as a matrix product (engine/derive/patch_embed.py): the
same output bit for bit, used automatically, shipped alone by the executable, and the stock
encoder whenever the rewrite does not apply or fails its check."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nanocaption_desktop.engine import derive
from nanocaption_desktop.engine.bundle import Bundle
from nanocaption_desktop.engine.captioner import Captioner
from nanocaption_desktop.engine.errors import ModelError
from nanocaption_desktop.engine.sessions import make_session

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from nanocaption_desktop.engine.derive.graph import UnsupportedGraph  # noqa: E402
from nanocaption_desktop.engine.derive.patch_embed import patch_projection_as_matmul  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def greedy_tokens(c: Captioner, expected: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {
        name: c.caption_pixels(c.prepare(FIXTURES / "images" / name)).token_ids
        for name in expected["images"]
    }


def test_the_rewrite_removes_the_convolution_and_keeps_every_bit(bundle):
    source = bundle / "onnx" / "encoder_model_quantized.onnx"
    model = onnx.load(str(source))
    patch_projection_as_matmul(model)
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert "ConvInteger" not in ops and "MatMulInteger" in ops
    stock = make_session(source, threads=1)
    path = bundle / "rewritten.onnx"
    onnx.save(model, str(path))
    new = make_session(path, threads=1)
    rng = np.random.default_rng(3)
    for batch in (1, 3):
        x = rng.uniform(-1, 1, (batch, 3, 224, 224)).astype(np.float32)
        want = stock.run(None, {"pixel_values": x})[0]
        got = new.run(None, {"pixel_values": x})[0]
        assert got.shape == want.shape and np.array_equal(got, want)


def test_the_engine_uses_the_derived_encoder_and_captions_as_before(bundle, expected, monkeypatch):
    c = Captioner.load(bundle, threads=1)
    assert c.encoder_graph == "patches as a matrix product"
    assert c.encoder_file == bundle / "optimized" / "encoder_model_quantized" / "encoder.onnx"
    doc = json.loads((c.encoder_file.parent / derive.MANIFEST).read_text())
    assert doc["usable"] and doc["source"]["sha256"] == derive.sha256(c.bundle.encoder)
    assert doc["encoder"]["nodes"][1] < doc["encoder"]["nodes"][0]
    got = greedy_tokens(c, expected)
    want = {
        im: tuple(v["optimum_int8"]["greedy"]["token_ids"]) for im, v in expected["images"].items()
    }
    assert got == want
    monkeypatch.setenv("NANOCAPTION_STOCK_DECODER", "1")  # the stock graphs, encoder included
    stock = Captioner.load(bundle, threads=1)
    assert stock.encoder_graph == "stock graph"
    pixels = c.prepare(FIXTURES / "images" / "sun_and_grass.jpg")
    assert np.array_equal(c.encode(pixels), stock.encode(pixels))


def test_an_fp32_encoder_has_no_integer_convolution_and_stays_stock(bundle, caplog):
    source = bundle / "onnx" / "encoder_model.onnx"
    with caplog.at_level(logging.INFO, logger="nanocaption_desktop.engine.derive"):
        assert derive.derived_encoder(source) is None
        assert derive.derived_encoder(source) is None  # remembered, not tried again
    doc = json.loads((bundle / "optimized" / "encoder_model" / derive.MANIFEST).read_text())
    assert doc["usable"] is False and "ConvInteger" in doc["reason"]
    c = Captioner(Bundle.open(bundle, quantized=False), threads=1)
    assert c.encoder_graph == "stock graph"


def test_a_rewrite_that_changes_the_output_is_caught_and_the_stock_encoder_used(
    bundle, expected, monkeypatch
):
    from nanocaption_desktop.engine.derive import patch_embed

    real = patch_embed.patch_projection_as_matmul

    def off_by_one(model: Any) -> None:
        real(model)
        for t in model.graph.initializer:
            if t.name == patch_embed.PREFIX + "weight":
                w = numpy_helper.to_array(t).copy()
                w[0, 0] = w[0, 0] + 1 if w[0, 0] < 127 else w[0, 0] - 1
                t.CopyFrom(numpy_helper.from_array(w, t.name))

    monkeypatch.setattr(patch_embed, "patch_projection_as_matmul", off_by_one)
    source = bundle / "onnx" / "encoder_model_quantized.onnx"
    assert derive.derived_encoder(source) is None
    doc = json.loads((bundle / "optimized" / source.stem / derive.MANIFEST).read_text())
    assert doc["usable"] is False and "differs" in doc["reason"]
    assert not (bundle / "optimized" / source.stem / "encoder.onnx").exists()
    c = Captioner.load(bundle, threads=1)
    assert c.encoder_graph == "stock graph"
    pixels = c.prepare(FIXTURES / "images" / "gradient.png")
    want = expected["images"]["gradient.png"]["optimum_int8"]["greedy"]["token_ids"]
    assert list(c.caption_pixels(pixels).token_ids) == want


def test_a_bundle_that_ships_the_derived_encoder_alone_runs_it(bundle, expected):
    """The executable's bundle (packaging/build.py): no stock INT8 encoder, its derived copy
    marked `shipped_alone`; a damaged copy is refused by name."""
    source = bundle / "onnx" / "encoder_model_quantized.onnx"
    derived = derive.derived_encoder(source)
    assert derived is not None
    source.unlink()
    assert Bundle.open(bundle).encoder.name == "encoder_model.onnx"  # merely gone: the fp32 one
    derive.mark_shipped_alone(source)
    opened = Bundle.open(bundle)
    assert opened.encoder == source and not opened.has_stock_encoder
    c = Captioner.load(bundle, threads=1)
    assert c.encoder_graph == "patches as a matrix product"
    want = {
        im: tuple(v["optimum_int8"]["greedy"]["token_ids"]) for im, v in expected["images"].items()
    }
    assert greedy_tokens(c, expected) == want
    doc = json.loads((derived.parent / derive.MANIFEST).read_text())
    doc["files"]["encoder.onnx"]["size"] += 1
    (derived.parent / derive.MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="optimized encoder shipped instead is not usable"):
        Captioner.load(bundle, threads=1)


def _conv_model(**conv: Any) -> onnx.ModelProto:
    """x -> DynamicQuantizeLinear -> ConvInteger(**conv) -> Cast -> Mul -> Add -> tokens."""
    w = numpy_helper.from_array(np.ones((4, 3, 2, 2), np.int8), "w")
    wzp = numpy_helper.from_array(np.array(0, np.int8), "wzp")
    ws = numpy_helper.from_array(np.array(0.5, np.float32), "ws")
    b = numpy_helper.from_array(np.zeros(4, np.float32), "b")
    bshape = numpy_helper.from_array(np.array([1, 4, 1, 1], np.int64), "bshape")
    flat = numpy_helper.from_array(np.array([0, 4, -1], np.int64), "flat")
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xzp"]),
        helper.make_node("ConvInteger", ["xq", "w", "xzp", "wzp"], ["acc"], **conv),
        helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["xs", "ws"], ["scale"]),
        helper.make_node("Mul", ["accf", "scale"], ["scaled"]),
        helper.make_node("Reshape", ["b", "bshape"], ["b4"]),
        helper.make_node("Add", ["scaled", "b4"], ["grid"]),
        helper.make_node("Reshape", ["grid", "flat"], ["flat_grid"]),
        helper.make_node("Transpose", ["flat_grid"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Relu", ["t"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "patches",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w, wzp, ws, b, bshape, flat],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_only_a_plain_patch_projection_is_rewritten(tmp_path):
    plain = _conv_model(kernel_shape=[2, 2], strides=[2, 2])
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 4, 4)).astype(np.float32)
    onnx.save(plain, str(tmp_path / "a.onnx"))
    want = make_session(tmp_path / "a.onnx", threads=1).run(None, {"x": x})[0]
    patch_projection_as_matmul(plain)
    onnx.save(plain, str(tmp_path / "b.onnx"))
    got = make_session(tmp_path / "b.onnx", threads=1).run(None, {"x": x})[0]
    assert np.array_equal(got, want)
    for conv in (
        {"kernel_shape": [2, 2], "strides": [1, 1]},  # overlapping windows
        {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"kernel_shape": [2, 2], "strides": [2, 2], "dilations": [2, 2]},
    ):
        with pytest.raises(UnsupportedGraph):
            patch_projection_as_matmul(_conv_model(**conv))


def test_derive_pending_says_when_opening_will_derive_first(bundle, monkeypatch):
    encoder = bundle / "onnx" / "encoder_model_quantized.onnx"
    decoder = bundle / "onnx" / "decoder_with_past_model_quantized.onnx"
    fp32 = bundle / "onnx" / "encoder_model.onnx"
    assert derive.derive_pending(encoder) and derive.derive_pending(decoder)
    Captioner.load(bundle, threads=1)
    assert not derive.derive_pending(encoder) and not derive.derive_pending(decoder)
    assert derive.derive_pending(fp32)
    assert derive.derived_encoder(fp32) is None  # cannot be optimized: remembered
    assert not derive.derive_pending(fp32)
    assert not derive.derive_pending(bundle / "onnx" / "no_such_model.onnx")
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # without onnx nothing is derived
    assert not derive.derive_pending(bundle / "onnx" / "decoder_model_merged_quantized.onnx")
