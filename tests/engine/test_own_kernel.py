"""The own kernel (engine/kernels/) and the own graph (derive/own.py, issue 18): the products
equal onnxruntime's, the own graph derives only where the kernel runs and is checked bit for bit,
a folder's captions are those without it, and a broken copy or another build is never used.

In CI (`CI` set) the kernel must be built and usable: the runner is x86-64 with AVX512-VNNI and
installs with a C compiler, so a skip there would hide a broken build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from fixture_paths import IMAGES_DIR
from onnx import TensorProto, helper, numpy_helper

from nanocaption_desktop.engine import Captioner, kernels
from nanocaption_desktop.engine.derive import (
    checks,
    derived_decoder,
    derived_own,
    derived_rows,
    sha256,
)
from nanocaption_desktop.engine.derive import own as own_module
from nanocaption_desktop.engine.derive.own import OWN, make_own_copy

LIBRARY = kernels.library()
if LIBRARY is None and os.environ.get("CI"):
    raise AssertionError("the own kernel is not usable in CI: was it built (setup.py)?")
needs_kernel = pytest.mark.skipif(LIBRARY is None, reason="own kernel not built or no VNNI here")


def _session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.register_custom_ops_library(str(LIBRARY))
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _graph(node: onnx.NodeProto, inputs: list, out_type: int, inits: list) -> onnx.ModelProto:
    g = helper.make_graph(
        [node], "g", inputs, [helper.make_tensor_value_info("y", out_type, None)], inits
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(kernels.DOMAIN, 1)]
    return helper.make_model(g, opset_imports=opsets, ir_version=8)


def test_pack_lays_the_weight_out_in_panels_of_32_columns() -> None:
    w = np.arange(8 * 40, dtype=np.int64).reshape(8, 40).astype(np.int8)
    packed = kernels.pack(w)
    assert packed.shape == (2, 2, 32, 4)  # [panels, k/4, 32 columns, 4 of depth]
    assert packed[0, 1, 5, 2] == w[1 * 4 + 2, 5]
    assert packed[1, 0, 7, 3] == w[3, 32 + 7]
    assert not packed[1, :, 8:, :].any()  # the last panel's padding columns are zero


@needs_kernel
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("k", "n", "m"), [(8, 17, 1), (32, 96, 3), (64, 100, 9), (768, 50, 8)])
def test_the_products_are_matmulinteger_exactly(threads: int, k: int, n: int, m: int) -> None:
    rng = np.random.default_rng(k * n + m)
    w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    zero = rng.integers(0, 256, (m, 1), dtype=np.uint8)
    colsum = w.astype(np.int32).sum(axis=0, dtype=np.int32)
    node = helper.make_node(
        kernels.OP, ["a", "w", "z", "c"], ["y"], domain=kernels.DOMAIN, k=k, n=n
    )
    inputs = [
        helper.make_tensor_value_info("a", TensorProto.UINT8, [None, k]),
        helper.make_tensor_value_info("z", TensorProto.UINT8, [None, 1]),
    ]
    inits = [numpy_helper.from_array(kernels.pack(w), "w"), numpy_helper.from_array(colsum, "c")]
    got = _session(_graph(node, inputs, TensorProto.INT32, inits), threads).run(
        None, {"a": a, "z": zero}
    )[0]
    want = (a.astype(np.int64) - zero) @ w.astype(np.int64)
    assert got.dtype == np.int32 and np.array_equal(got, want)


@needs_kernel
@pytest.mark.parametrize("scale_shape", ["one", "per row", "per column"])
def test_the_float_steps_round_as_cast_mul_add(scale_shape: str) -> None:
    """OwnMatMulIntegerToFloat against onnxruntime's own MatMulInteger, Cast, Mul and Add."""
    k, n, m = 64, 70, 5
    rng = np.random.default_rng(7)
    w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    zero = rng.integers(0, 256, (m, 1), dtype=np.uint8)
    shape = {"one": (1,), "per row": (m, 1), "per column": (n,)}[scale_shape]
    scale = (rng.random(shape) * 1e-3).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    colsum = w.astype(np.int32).sum(axis=0, dtype=np.int32)
    node = helper.make_node(
        kernels.FLOAT_OP, ["a", "w", "z", "c", "s", "b"], ["y"], domain=kernels.DOMAIN, k=k, n=n
    )
    inputs = [
        helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k]),
        helper.make_tensor_value_info("z", TensorProto.UINT8, [m, 1]),
        helper.make_tensor_value_info("s", TensorProto.FLOAT, list(shape)),
    ]
    inits = [
        numpy_helper.from_array(kernels.pack(w), "w"),
        numpy_helper.from_array(colsum, "c"),
        numpy_helper.from_array(bias, "b"),
    ]
    got = _session(_graph(node, inputs, TensorProto.FLOAT, inits), 2).run(
        None, {"a": a, "z": zero, "s": scale}
    )[0]
    # onnxruntime's own: the product with A's zero point per row, exactly as the rows graph does
    nodes = [
        helper.make_node("MatMulInteger", ["a", "wq"], ["raw"]),
        helper.make_node("Cast", ["z"], ["z32"], to=TensorProto.INT32),
        helper.make_node("Mul", ["z32", "c"], ["corr"]),
        helper.make_node("Sub", ["raw", "corr"], ["acc"]),
        helper.make_node("Cast", ["acc"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["f", "s"], ["scaled"]),
        helper.make_node("Add", ["scaled", "b"], ["y"]),
    ]
    g = helper.make_graph(
        nodes,
        "stock",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "wq"), inits[1], inits[2]],
    )
    stock = ort.InferenceSession(
        helper.make_model(
            g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8
        ).SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    want = stock.run(None, {"a": a, "z": zero, "s": scale})[0]
    assert np.array_equal(got, want)


def test_switched_off_there_is_no_library_and_no_own_copy(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(kernels.SWITCH, "0")
    assert kernels.library() is None
    c = Captioner.load(bundle, threads=1, rows_graph=True)
    assert c.decoder_graphs == "hoisted pair, rows graph"
    assert not any(bundle.rglob(OWN))


@needs_kernel
def test_a_folder_decodes_on_the_own_graph_and_every_caption_stays(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = Captioner.load(bundle, threads=1, rows_graph=True)
    assert own.decoder_graphs == "hoisted pair, rows graph, own kernel"
    found = list(bundle.rglob(OWN))
    assert len(found) == 1
    doc = json.loads((found[0].parent / "manifest.json").read_text())
    assert doc["own"]["products"] == 13 and doc["stamp"]["kernel_sha256"]
    assert doc["own"]["quantization"] is True  # each row's quantization in the op too
    monkeypatch.setenv(kernels.SWITCH, "0")
    plain = Captioner.load(bundle, threads=1)
    assert plain.decoder_graphs == "hoisted pair"
    pixels = [own.prepare(p) for p in sorted(IMAGES_DIR.iterdir())]
    alone = [plain.caption_pixels(p, beams=1, max_new_tokens=12) for p in pixels]
    for p, want in zip(pixels, alone, strict=True):
        got = own.caption_pixels(p, beams=1, max_new_tokens=12)
        assert got.token_ids == want.token_ids and got.score == want.score
    together = own.caption_rows(pixels[:5], sources=list("abcde"), max_new_tokens=12)
    assert [c.token_ids for c in together] == [c.token_ids for c in alone[:5]]
    beam = own.caption_pixels(pixels[0], beams=3, max_new_tokens=12)  # on the step graph
    assert beam.token_ids == plain.caption_pixels(pixels[0], beams=3, max_new_tokens=12).token_ids


@needs_kernel
def test_a_copy_that_computes_otherwise_fails_its_check(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is what stands between a wrong kernel or rewrite and a caption: a copy whose
    every product adds one to its bias must fail it."""
    pair = derived_decoder(Captioner.load(bundle, threads=1).bundle.decoder)
    assert pair is not None
    rows = derived_rows(pair.step)
    assert rows is not None
    rewrite = own_module.own_graph

    def off_by_a_little(model: onnx.ModelProto, quantize: bool = True) -> int:
        count = rewrite(model, quantize=quantize)
        for init in model.graph.initializer:
            if init.data_type == TensorProto.FLOAT and "bias" in init.name:
                values = numpy_helper.to_array(init) + np.float32(1e-3)
                init.CopyFrom(numpy_helper.from_array(values.astype(np.float32), init.name))
        return count

    monkeypatch.setattr(own_module, "own_graph", off_by_a_little)
    out = tmp_path / "copy"
    out.mkdir()
    with pytest.raises(checks.DeriveCheckFailed, match="differs"):
        make_own_copy(rows.step, out)
    assert derived_own(rows.step) is None  # remembered as unusable: the rows graph is used
    assert Captioner.load(bundle, threads=1, rows_graph=True).decoder_graphs == (
        "hoisted pair, rows graph"
    )


@needs_kernel
def test_another_build_of_the_kernel_derives_the_copy_again(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Captioner.load(bundle, threads=1, rows_graph=True)
    (copy,) = bundle.rglob(OWN)
    manifest = copy.parent / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["stamp"] = {"kernel_sha256": "0" * 64}  # as if checked with another library
    manifest.write_text(json.dumps(doc))
    before = copy.stat().st_mtime_ns
    c = Captioner.load(bundle, threads=1, rows_graph=True)
    assert c.decoder_graphs == "hoisted pair, rows graph, own kernel"
    assert LIBRARY is not None
    assert json.loads(manifest.read_text())["stamp"] == {"kernel_sha256": sha256(LIBRARY)}
    assert copy.stat().st_mtime_ns != before  # derived again


@needs_kernel
def test_models_verify_hashes_the_own_copy(bundle: Path) -> None:
    from nanocaption_desktop.engine.derive import verify_copies

    Captioner.load(bundle, threads=1, rows_graph=True)
    assert verify_copies(bundle) == []
    (copy,) = bundle.rglob(OWN + ".data")
    data = bytearray(copy.read_bytes())
    data[100] ^= 1
    copy.write_bytes(bytes(data))
    problems = verify_copies(bundle)
    assert len(problems) == 1 and "own.onnx.data" in problems[0], problems


@needs_kernel
def test_a_quantization_that_rounds_otherwise_falls_back_to_the_graphs_own(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the op's quantization ever round otherwise than onnxruntime's (another release),
    the check catches it and the own graph keeps the rows graph's quantization nodes."""
    rewrite = own_module.own_graph

    def quantization_off(model: onnx.ModelProto, quantize: bool = True) -> int:
        count = rewrite(model, quantize=quantize)
        if quantize:  # every scale of the weights a little off: the outputs differ
            for init in model.graph.initializer:
                if init.data_type == TensorProto.FLOAT and init.name.endswith("_scale"):
                    values = numpy_helper.to_array(init) * np.float32(1.001)
                    init.CopyFrom(numpy_helper.from_array(values.astype(np.float32), init.name))
        return count

    monkeypatch.setattr(own_module, "own_graph", quantization_off)
    c = Captioner.load(bundle, threads=1, rows_graph=True)
    assert c.decoder_graphs == "hoisted pair, rows graph, own kernel"
    (copy,) = bundle.rglob(OWN)
    doc = json.loads((copy.parent / "manifest.json").read_text())
    assert doc["own"] == {"products": 13, "quantization": False}
    kinds = {n.op_type for n in onnx.load(str(copy), load_external_data=False).graph.node}
    assert kernels.FLOAT_OP in kinds and kernels.QUANTIZE_OP not in kinds


@needs_kernel
def test_the_windows_batch_decodes_on_the_own_graph_too(bundle: Path) -> None:
    """A captioner loaded for single captions (the window's) opens the rows graph for a batch
    on first use (captioner_rows.rows_decoder): the own graph there too, the same captions."""
    c = Captioner.load(bundle, threads=2)
    assert c.decoder_graphs == "hoisted pair, step engine"  # single captions: the engine
    found = c.rows_decoder()
    assert found is not None
    assert Path(found.rows.step._model_path).name == OWN
    pixels = [c.prepare(p) for p in sorted(IMAGES_DIR.iterdir())][:4]
    together = c.caption_rows(pixels, sources=list("abcd"), max_new_tokens=12)
    alone = [c.caption_pixels(p, beams=1, max_new_tokens=12) for p in pixels]
    assert [x.token_ids for x in together] == [x.token_ids for x in alone]
