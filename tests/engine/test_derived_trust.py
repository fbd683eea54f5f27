"""F2: a derived copy is verified as strongly as the stock files it comes from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from derived_helpers import encoder_shipped_alone

import nanocaption_desktop.modelstore.manifest as manifest
from nanocaption_desktop.cli_models import cmd_verify
from nanocaption_desktop.engine import Captioner, ModelError, derive
from nanocaption_desktop.engine.bundle import Bundle
from nanocaption_desktop.engine.derive import cache
from nanocaption_desktop.engine.own_step import library as engine_library

IMAGE = Path(__file__).resolve().parents[1] / "fixtures" / "images" / "gradient.png"

#: the decoder pair, one caption on the step engine where it can run here (own_step.py)
PAIR = "hoisted pair, step engine" if engine_library() else "hoisted pair"


def _replace_and_cover(copy: Path, replacement: Path) -> None:
    """What the issue did: put another graph in place, then fix its manifest's size and mtime."""
    copy.write_bytes(replacement.read_bytes())
    doc_path = copy.parent / "manifest.json"
    doc = json.loads(doc_path.read_text())
    st = copy.stat()
    doc["files"][copy.name] |= {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    doc_path.write_text(json.dumps(doc))


def _hashes(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = manifest.file_sha256
    monkeypatch.setattr(manifest, "file_sha256", lambda p: calls.append(Path(p)) or real(p))
    return calls


def test_a_replaced_derived_encoder_is_derived_again_and_verify_reports_it(bundle):
    source = Bundle.open(bundle).encoder
    copy = derive.derived_encoder(source)
    assert copy is not None
    good = copy.read_bytes()
    _replace_and_cover(copy, bundle / "onnx" / "encoder_model.onnx")  # a valid, other graph
    code, text = cmd_verify(bundle)
    assert code == 2 and f"{copy}: SHA-256 differs" in text and "derives it again" in text
    c = Captioner.load(bundle)
    assert c.encoder_file == copy and copy.read_bytes() == good  # derived again, not run
    assert c.caption(IMAGE).ok
    assert cmd_verify(bundle)[0] == 0


def test_a_tampered_copy_shipped_alone_is_refused(bundle):
    copy = encoder_shipped_alone(bundle)
    _replace_and_cover(copy, bundle / "onnx" / "encoder_model.onnx")
    with pytest.raises(ModelError, match="refusing the optimized encoder shipped") as err:
        Captioner.load(bundle)
    assert "encoder.onnx: SHA-256 differs" in str(err.value)
    code, text = cmd_verify(bundle)
    assert code == 2 and "refused at load" in text


def test_a_remembered_copy_is_not_hashed_and_an_in_place_rewrite_is(bundle, monkeypatch):
    """Start-up hashes no derived file once a copy is remembered (at derive time); a rewrite
    keeping size and mtime moves the ctime, so it is hashed and derived again."""
    Captioner.load(bundle)  # derives both copies and remembers them
    calls = _hashes(monkeypatch)
    Captioner.load(bundle)
    assert calls == []
    step = bundle / "optimized" / "decoder_with_past_model_quantized" / "step.onnx"
    st = step.stat()
    data = bytearray(step.read_bytes())
    data[-100] ^= 0xFF
    step.write_bytes(bytes(data))
    os.utime(step, ns=(st.st_atime_ns, st.st_mtime_ns))
    c = Captioner.load(bundle)
    assert step in calls and step.read_bytes() != bytes(data)
    assert c.decoder_graphs == PAIR


def test_a_copy_in_the_user_cache_is_checked_too(bundle, tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setattr(cache, "_writable", lambda folder: folder.is_relative_to(data))
    source = Bundle.open(bundle).encoder
    copy = derive.derived_encoder(source)
    assert copy is not None and copy.is_relative_to(data)
    _replace_and_cover(copy, bundle / "onnx" / "encoder_model.onnx")
    code, text = cmd_verify(bundle)
    assert code == 2 and str(copy) in text
    assert derive.derived_encoder(source, derive=False) is None  # not used as it is
