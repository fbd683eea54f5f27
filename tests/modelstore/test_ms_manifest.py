"""Manifest, verify, and the safety checks on bundle folders and ONNX external data."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE

from nanocaption_desktop.cli_models import cmd_verify
from nanocaption_desktop.engine.errors import ModelError
from nanocaption_desktop.modelstore import (
    check_bundle,
    check_external_data,
    check_tree_safety,
    verify,
    write_manifest,
)
from nanocaption_desktop.modelstore.onnxrefs import OnnxReadError, external_refs


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    (root / "onnx").mkdir(parents=True)
    (root / "config.json").write_text('{"a": 1}')
    (root / "tokenizer.json").write_text("{}")
    (root / "preprocessor_config.json").write_text("{}")
    shutil.copy(TINY_BUNDLE / "onnx" / "encoder_model_quantized.onnx", root / "onnx")
    return root


def test_manifest_roundtrip(bundle):
    path = write_manifest(bundle, source={"bundle": "test"})
    doc = json.loads(path.read_text())
    assert sorted(doc["files"]) == [
        "config.json",
        "onnx/encoder_model_quantized.onnx",
        "preprocessor_config.json",
        "tokenizer.json",
    ]
    assert doc["source"] == {"bundle": "test"} and doc["format"] == 1
    assert verify(bundle) == []
    assert [p.name for p in bundle.iterdir() if p.name.endswith((".tmp", ".nctmp"))] == []


def test_verify_detects_changes(bundle):
    write_manifest(bundle)
    (bundle / "config.json").write_text('{"a": 2}')  # same size, different bytes
    (bundle / "tokenizer.json").write_text("{} ")  # different size
    (bundle / "preprocessor_config.json").unlink()
    problems = verify(bundle)
    assert problems == [
        "config.json: SHA-256 differs from the manifest (the file was changed)",
        "preprocessor_config.json: missing",
        "tokenizer.json: size 3 bytes, the manifest says 2",
    ]
    code, text = cmd_verify(bundle)  # and what a load checks: this bundle has no decoder
    assert code == 2 and all(problem in text for problem in problems)


def test_verify_without_or_with_broken_manifest(bundle):
    assert verify(bundle) == [
        "manifest.json is missing (the bundle was not installed by models fetch)"
    ]
    (bundle / "manifest.json").write_text("{not json")
    assert "the manifest is not valid" in verify(bundle)[0]


def test_manifest_entries_cannot_point_outside(bundle):
    write_manifest(bundle)
    doc = json.loads((bundle / "manifest.json").read_text())
    doc["files"]["../outside"] = {"size": 1, "sha256": "0" * 64}
    (bundle / "manifest.json").write_text(json.dumps(doc))
    assert verify(bundle) == ["../outside: manifest entry goes up with '..' ('../outside')"]


def test_cmd_verify_ok_after_install(tmp_path):
    bundle = tmp_path / "installed"
    shutil.copytree(TINY_BUNDLE, bundle, ignore=shutil.ignore_patterns("optimized"))
    write_manifest(bundle)
    code, text = cmd_verify(bundle)
    assert code == 0 and "OK" in text, text


def test_symlinked_file_is_refused(bundle, tmp_path):
    real = tmp_path / "elsewhere.onnx"
    real.write_bytes(b"data")
    (bundle / "onnx" / "decoder_model.onnx").symlink_to(real)
    problems = check_tree_safety(bundle)
    assert problems == [
        "onnx/decoder_model.onnx: is a symbolic link (copy the real file in its place)"
    ]
    with pytest.raises(ModelError, match="symbolic link"):
        write_manifest(bundle)
    assert check_bundle(bundle) == problems


def test_symlinked_folder_is_refused(bundle, tmp_path):
    (tmp_path / "other").mkdir()
    (bundle / "extra").symlink_to(tmp_path / "other", target_is_directory=True)
    assert check_tree_safety(bundle) == [
        "extra: is a symbolic link (copy the real file in its place)"
    ]


def test_hard_linked_file_is_refused(bundle, tmp_path):
    os.link(bundle / "config.json", tmp_path / "second-name.json")
    assert check_tree_safety(bundle) == ["config.json: is hard-linked (2 links; copy it instead)"]


def test_clean_tree_and_the_fixture_bundle_pass(bundle):
    assert check_tree_safety(bundle) == []
    assert check_bundle(TINY_BUNDLE) == []  # real ONNX files: no external data, no links


def test_fixture_models_parse_the_same_with_and_without_onnx():
    """The stock graphs keep their weights inline; copies other tests derived into the fixture
    (optimized/, engine/derive/external.py) keep theirs in their own `<graph>.data`."""
    for model in sorted(TINY_BUNDLE.rglob("*.onnx")):
        refs = external_refs(model, use_onnx=False)
        if "optimized" in model.relative_to(TINY_BUNDLE).parts:
            assert refs and {location for _t, location in refs} == {f"{model.name}.data"}
        else:
            assert refs == []
        if _has_onnx():
            assert external_refs(model, use_onnx=True) == refs


def _has_onnx() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def test_unreadable_onnx_is_reported_not_raised(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 64)
    with pytest.raises(OnnxReadError):
        external_refs(tmp_path / "junk.onnx", use_onnx=False)
    for name in ("empty.onnx", "junk.onnx"):
        problems = check_external_data(tmp_path / name)
        assert len(problems) <= 1
        assert all(p.startswith(name) for p in problems)
    assert check_external_data(tmp_path / "empty.onnx") == ["empty.onnx: empty file"]


# --- ONNX external data, with models built by the onnx helper API ------------------------------


def _model_with_external(folder: Path, location: str, *, in_subgraph: bool = False) -> Path:
    """A one-node model whose weight lives in ``location`` (relative to ``folder``)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    if in_subgraph:
        inner = helper.make_graph(
            [helper.make_node("Add", ["x", "w"], ["y"])], "inner", [], [y], initializer=[weight]
        )
        cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
        node = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=inner)
        graph = helper.make_graph([node], "outer", [x, cond], [y])
    else:
        graph = helper.make_graph(
            [helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], initializer=[weight]
        )
    model = helper.make_model(graph)
    path = folder / "onnx" / "encoder_model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("use_onnx", [True, False])
@pytest.mark.parametrize("in_subgraph", [False, True])
def test_external_data_leaving_the_bundle_is_refused(bundle, tmp_path, use_onnx, in_subgraph):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 8)
    model = _model_with_external(bundle, "../../secret.bin", in_subgraph=in_subgraph)
    copies = 2 if in_subgraph else 1  # the If node's two branches share the sub-graph
    assert external_refs(model, use_onnx=use_onnx) == [("w", "../../secret.bin")] * copies
    problems = check_external_data(model, bundle)
    assert (
        problems
        == [
            "encoder_model.onnx: tensor 'w' keeps its data in another file whose path goes up "
            "with '..' ('../../secret.bin'); refused"
        ]
        * copies
    )
    assert problems[0] in check_bundle(bundle)


@pytest.mark.parametrize("location", ["/etc/passwd", "C:\\Windows\\x.bin", "\\\\server\\share\\x"])
def test_absolute_external_data_is_refused(bundle, location):
    model = _model_with_external(bundle, location)
    (problem,) = check_external_data(model, bundle)
    assert "is an absolute path" in problem


def test_external_data_inside_the_bundle_is_allowed(bundle):
    model = _model_with_external(bundle, "weights.bin")
    assert check_external_data(model, bundle) == [
        "encoder_model.onnx: tensor 'w' keeps its data in another file that is missing "
        "('weights.bin')"
    ]
    (model.parent / "weights.bin").write_bytes(b"\0" * 8)
    assert check_external_data(model, bundle) == []


def test_external_data_through_a_symlinked_file_is_refused(bundle, tmp_path):
    (tmp_path / "outside.bin").write_bytes(b"\0" * 8)
    model = _model_with_external(bundle, "weights.bin")
    (model.parent / "weights.bin").symlink_to(tmp_path / "outside.bin")
    assert "outside the bundle folder" in check_external_data(model, bundle)[0]
    assert any("symbolic link" in p for p in check_bundle(bundle))


def test_the_builtin_reader_needs_no_onnx_package(bundle, tmp_path, monkeypatch):
    model = _model_with_external(bundle, "../x.bin")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    assert external_refs(model) == [("w", "../x.bin")]
    assert "goes up with '..'" in check_external_data(model, bundle)[0]


def test_both_readers_agree_on_every_place_a_tensor_can_hide(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    def ext(name: str) -> TensorProto:
        t = helper.make_tensor(name, TensorProto.FLOAT, [1], [0.0])
        t.ClearField("float_data")
        t.data_location = TensorProto.EXTERNAL
        entry = t.external_data.add()
        entry.key, entry.value = "location", f"{name}.bin"
        return t

    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    const = lambda name: helper.make_node("Constant", [], ["y"], value=ext(name))  # noqa: E731
    deepest = helper.make_graph([const("in_nested_branch")], "deep", [], [y])
    nested_if = helper.make_node("If", ["c"], ["y"], then_branch=deepest, else_branch=deepest)
    branch = helper.make_graph([nested_if], "branch", [], [y])
    sparse = helper.make_sparse_tensor(
        ext("sparse_values"), helper.make_tensor("idx", TensorProto.INT64, [1], [0]), [4]
    )
    graph = helper.make_graph(
        [
            helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch),
            helper.make_node("Identity", ["w"], ["z"]),
        ],
        "main",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [y],
        initializer=[ext("w")],
        sparse_initializer=[sparse],
    )
    func = helper.make_function(
        "custom", "F", [], ["y"], [const("in_function")], [helper.make_opsetid("", 17)]
    )
    model = helper.make_model(graph, functions=[func])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    builtin = sorted(external_refs(path))
    assert builtin == sorted(external_refs(path, use_onnx=True))
    assert {name for name, _ in builtin} == {
        "w",
        "sparse_values",
        "in_nested_branch",
        "in_function",
    }
