"""Issue 18: a derived graph keeps its weights in `<graph>.data` beside it (onnxruntime
memory-maps them), and that file is checked exactly as the graph file is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from derived_helpers import encoder_shipped_alone

from nanocaption_desktop.cli_models import cmd_verify
from nanocaption_desktop.engine import Captioner, ModelError, derive
from nanocaption_desktop.engine.bundle import Bundle
from nanocaption_desktop.engine.derive import external, recipes
from nanocaption_desktop.engine.derive.copycheck import content_problems
from nanocaption_desktop.modelstore.onnxrefs import external_refs

onnx = pytest.importorskip("onnx")

IMAGE = Path(__file__).resolve().parents[1] / "fixtures" / "images" / "gradient.png"


def _folders(bundle: Path) -> dict[str, Path]:
    """Every derived copy of the tiny bundle (encoder, decoder, rows), derived now."""
    c = Captioner.load(bundle, rows_graph=True)
    assert c.caption(IMAGE).ok
    b = Bundle.open(bundle)
    dec = derive.derived_decoder(b.decoder)
    enc = derive.derived_encoder(b.encoder)
    assert dec is not None and enc is not None
    rows = derive.derived_rows(dec.step)
    assert rows is not None
    return {"encoder": enc.parent, "decoder": dec.folder, "rows": rows.step.parent}


def test_every_derived_graph_keeps_its_weights_in_its_own_data_file(bundle):
    for what, folder in _folders(bundle).items():
        doc = json.loads((folder / "manifest.json").read_text())
        graphs = [n for n in doc["files"] if n.endswith(".onnx")]
        assert graphs, what
        for graph in graphs:
            data = folder / external.data_file(graph)
            assert data.name in doc["files"], (what, data)
            assert data.stat().st_size == doc["files"][data.name]["size"] > 0, (what, data)
            assert data.stat().st_mode & 0o777 == (folder / graph).stat().st_mode & 0o777
            refs = external_refs(folder / graph)
            assert refs and {loc for _t, loc in refs} == {data.name}, (what, graph)
            # onnx.load reads the weights back from the data file beside the graph
            model = onnx.load(str(folder / graph))
            assert all(t.data_location == onnx.TensorProto.DEFAULT for t in model.graph.initializer)
    # the graphs a session opens (the trust check's list) leave the data files out
    assert all(p.suffix == ".onnx" for p in derive.derived_files(Bundle.open(bundle).decoder))


def _other_bytes(path: Path) -> None:
    """One byte changed, size and mtime kept (what a careless tool or a bad disk does)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


@pytest.mark.parametrize("damage", [Path.unlink, _truncated, _other_bytes])
@pytest.mark.parametrize("what", ["encoder", "decoder", "rows"])
def test_a_damaged_data_file_is_derived_again(bundle, what, damage):
    folder = _folders(bundle)[what]
    name = {"encoder": "encoder.onnx", "decoder": "step.onnx", "rows": "rows.onnx"}[what]
    data = folder / external.data_file(name)
    good = data.read_bytes()
    damage(data)
    assert not data.is_file() or data.read_bytes() != good
    b = Bundle.open(bundle)
    source = {
        "encoder": b.encoder,
        "decoder": b.decoder,
        "rows": folder.parent.parent / "step.onnx",
    }
    assert derive.derived_copy(source[what]) == folder
    assert data.read_bytes() == good  # derived again, the same bytes
    assert Captioner.load(bundle, rows_graph=True).caption(IMAGE).ok


def test_a_changed_data_file_of_a_copy_shipped_alone_is_refused(bundle):
    copy = encoder_shipped_alone(bundle)
    data = copy.with_name(external.data_file(copy.name))
    _other_bytes(data)
    with pytest.raises(ModelError, match="refusing the optimized encoder shipped") as err:
        Captioner.load(bundle)
    assert f"{data}: SHA-256 differs" in str(err.value)
    code, text = cmd_verify(bundle)
    assert code == 2 and f"{data}: SHA-256 differs" in text and "refused at load" in text
    data.unlink()
    with pytest.raises(ModelError, match="encoder.onnx.data"):
        Captioner.load(bundle)


def test_a_graph_pointing_at_another_data_file_is_refused(bundle):
    folder = _folders(bundle)["encoder"]
    graph = folder / "encoder.onnx"
    model = onnx.load(str(graph))
    external.save_graph(model, folder / "other.onnx")  # other.onnx.data
    model = onnx.load(str(folder / "other.onnx"), load_external_data=False)
    onnx.save(model, str(graph))  # the graph now reads other.onnx.data
    doc = json.loads((folder / "manifest.json").read_text())
    doc["files"]["encoder.onnx"] |= {
        "size": graph.stat().st_size,
        "sha256": derive.sha256(graph),
    }
    problems = content_problems(folder, doc, recipes.ENCODER_RECIPE.files, force=True)
    assert len(problems) == 1 and problems[0].startswith(f"{graph}: tensor ")
    assert "keeps its data in 'other.onnx.data', not in 'encoder.onnx.data'" in problems[0]


def test_save_graph_writes_one_data_file_even_when_saved_twice(tmp_path):
    """The decoder recipe saves again into the same folder when folding fails its check: onnx
    appends to a data file that exists, so the second save must start afresh."""
    import numpy as np
    from onnx import helper, numpy_helper

    big = numpy_helper.from_array(np.arange(512, dtype=np.float32), "big")  # 2 KB
    small = numpy_helper.from_array(np.arange(4, dtype=np.float32), "small")
    graph = helper.make_graph(
        [helper.make_node("Add", ["big", "big"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [512])],
        [big, small],
    )
    path = tmp_path / "g.onnx"
    for _ in range(2):
        external.save_graph(helper.make_model(graph), path)
    assert (tmp_path / "g.onnx.data").stat().st_size == 2048  # `big` once; `small` inline
    loaded = onnx.load(str(path))
    assert np.array_equal(numpy_helper.to_array(loaded.graph.initializer[0]), np.arange(512))
    external.save_graph(helper.make_model(graph), path, threshold=1 << 20)
    assert (tmp_path / "g.onnx.data").read_bytes() == b""  # always there, empty: nothing large


def test_models_verify_checks_the_rows_copy_too(bundle):
    rows = _folders(bundle)["rows"]
    code, text = cmd_verify(bundle)
    assert code == 0, text
    data = rows / external.data_file(recipes.ROWS)
    _other_bytes(data)
    code, text = cmd_verify(bundle)
    assert code == 2 and f"{data}: SHA-256 differs" in text, text
    assert "the next load derives it again" in text
