"""Hostile model bundles: every one gives a clear ModelError naming the file, never a crash.

Prints a table: bundles tried, refused by reason, crashes (0).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fixture_paths import TINY_BUNDLE

from nanocaption_desktop.engine import Captioner, ModelError
from nanocaption_desktop.modelstore import write_manifest

ENCODER = "onnx/encoder_model_quantized.onnx"
TALLY: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="module", autouse=True)
def _report(figures):
    yield
    rows = "\n".join(f"{reason:<34} {n}" for reason, n in sorted(TALLY.items()))
    figures(
        "hostile model bundles",
        f"{sum(TALLY.values())} tried, all refused with a "
        f"ModelError naming the file; crashes 0\n{rows}",
    )


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, dst)
    return dst


def _external_data_model(path: Path, location: str) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = k, v
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [w],
    )
    onnx.save(helper.make_model(graph), str(path))


def _refused(bundle: Path, reason: str, *expect: str) -> ModelError:
    with pytest.raises(ModelError) as err:
        Captioner.load(bundle)
    for text in expect:
        assert text in str(err.value), str(err.value)
    TALLY[reason] += 1
    return err.value


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../x.bin"])
def test_external_data_leaving_the_folder(tmp_path, location):
    b = _copy(tmp_path)
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    _external_data_model(b / ENCODER, location)
    _refused(b, "external data outside the bundle", "encoder_model_quantized.onnx", "refused")


def test_symlinked_model_file(tmp_path):
    b = _copy(tmp_path)
    target = tmp_path / "real.onnx"
    (b / ENCODER).rename(target)
    (b / ENCODER).symlink_to(target)
    _refused(b, "symbolic link", "symbolic link")


def test_hard_linked_external_data(tmp_path):
    b = _copy(tmp_path)
    (tmp_path / "private.bin").write_bytes(b"\0" * 16)
    os.link(tmp_path / "private.bin", b / "onnx" / "data.bin")
    _external_data_model(b / ENCODER, "data.bin")
    _refused(b, "hard-linked external data", f"{b}: ", "onnx/data.bin: is hard-linked")


def test_a_hard_link_elsewhere_does_not_blame_the_victim(tmp_path):
    """Another folder hard-linking our untouched file: the graph is read as what it is (and
    with a manifest, its SHA-256 pins it), so the bundle loads."""
    b = _copy(tmp_path)
    os.link(b / ENCODER, tmp_path / "twin.onnx")
    assert Captioner.load(b).caption(TINY_BUNDLE.parent / "images" / "gradient.png").ok
    (tmp_path / "twin.onnx").unlink()
    write_manifest(b)
    os.link(b / ENCODER, tmp_path / "twin.onnx")
    assert Captioner.load(b).caption(TINY_BUNDLE.parent / "images" / "gradient.png").ok


@pytest.mark.parametrize("kind", ["truncated", "empty", "random"])
def test_damaged_model_file(tmp_path, kind):
    b = _copy(tmp_path)
    f = b / ENCODER
    data = f.read_bytes()
    f.write_bytes(
        {
            "truncated": data[: len(data) // 3],
            "empty": b"",
            "random": np.random.default_rng(0).bytes(len(data)),
        }[kind]
    )
    _refused(b, f"{kind} model file", "encoder_model_quantized.onnx")


def test_wrong_model_in_the_decoder_slot(tmp_path):
    b = _copy(tmp_path)
    shutil.copy2(b / ENCODER, b / "onnx" / "decoder_with_past_model_quantized.onnx")
    _refused(b, "wrong model", "decoder_with_past_model_quantized.onnx")


def test_hash_mismatch_against_the_manifest(tmp_path):
    b = _copy(tmp_path)
    write_manifest(b)
    f = b / "tokenizer.json"
    f.write_text(f.read_text().replace("<|endoftext|>", "<|endoftexx|>"))
    _refused(b, "hash mismatch", "tokenizer.json")


def test_a_sound_copy_still_loads(tmp_path):
    b = _copy(tmp_path)
    write_manifest(b)
    assert Captioner.load(b).caption(TINY_BUNDLE.parent / "images" / "gradient.png").ok
