"""The hoisted decoder (engine/derive/): same tokens as the stock graphs, used
automatically when it can be, cached with a manifest, and a clean fallback when not."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nanocaption_desktop.engine import derive
from nanocaption_desktop.engine.bundle import Bundle
from nanocaption_desktop.engine.captioner import Captioner
from nanocaption_desktop.engine.decoder import HoistedDecoder, StockDecoder
from nanocaption_desktop.engine.derive import cache
from nanocaption_desktop.engine.errors import ModelError
from nanocaption_desktop.engine.own_step import library as engine_library

onnx = pytest.importorskip("onnx")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# reference in expected.json -> (quantized, decoder kind)
SETUPS = {
    "torch_fp32": (False, "decoder_with_past_model"),
    "optimum_int8": (True, "decoder_with_past_model"),
    "optimum_int8_merged": (True, "decoder_model_merged"),
}

#: the decoder pair, one caption on the step engine where it can run here (own_step.py)
PAIR = "hoisted pair, step engine" if engine_library() else "hoisted pair"


def load(path: Path, reference: str = "optimum_int8") -> Captioner:
    quantized, kind = SETUPS[reference]
    return Captioner(Bundle.open(path, quantized=quantized, decoder=kind), threads=1)


def all_tokens(c: Captioner, expected: dict[str, Any]) -> dict[tuple[str, str], tuple[int, ...]]:
    out = {}
    for image in expected["images"]:
        pixels = c.prepare(FIXTURES / "images" / image)
        for name, s in expected["settings"].items():
            cap = c.caption_pixels(
                pixels, beams=s["num_beams"], max_new_tokens=s.get("max_new_tokens")
            )
            out[image, name] = cap.token_ids
    return out


@pytest.mark.parametrize("reference", sorted(SETUPS))
def test_optimized_graphs_give_the_reference_tokens(bundle, expected, reference):
    c = load(bundle, reference)
    assert isinstance(c.decoder, HoistedDecoder)
    got = all_tokens(c, expected)
    want = {
        (im, s): tuple(v[reference][s]["token_ids"])
        for im, v in expected["images"].items()
        for s in expected["settings"]
    }
    assert got == want  # greedy, beam 3, beam 4, with and without a length limit


@pytest.mark.parametrize("reference", ["optimum_int8", "torch_fp32"])
def test_optimized_equals_stock_on_every_image(bundle, expected, reference, monkeypatch):
    hoisted = all_tokens(load(bundle, reference), expected)
    monkeypatch.setenv("NANOCAPTION_STOCK_DECODER", "1")
    stock_captioner = load(bundle, reference)
    assert isinstance(stock_captioner.decoder, StockDecoder)
    assert all_tokens(stock_captioner, expected) == hoisted


def test_split_is_found_by_dependency_analysis(bundle):
    from nanocaption_desktop.engine.derive.cross_graph import separate_cross_graph

    model = onnx.load(str(bundle / "onnx" / "decoder_with_past_model_quantized.onnx"))
    split = separate_cross_graph(model)
    onnx.checker.check_model(split.cross)
    onnx.checker.check_model(split.step)
    assert [i.name for i in split.cross.graph.input] == ["encoder_hidden_states"]
    step_inputs = [i.name for i in split.step.graph.input]
    assert "encoder_hidden_states" not in step_inputs
    assert set(split.boundary) <= set(step_inputs)

    # every weight lives in exactly one of the two graphs (small constants may be in both)
    def big(m: Any) -> set[str]:
        return {t.name for t in m.graph.initializer if len(t.raw_data) > 1024}

    assert big(split.cross) and big(split.step) and not big(split.cross) & big(split.step)


def test_beam_search_feeds_the_image_once_for_all_beams(bundle):
    c = load(bundle)
    found = derive.derived_decoder(c.bundle.decoder)
    assert found is not None and found.broadcast
    pixels = c.prepare(FIXTURES / "images" / "blocks.webp")
    values = c.decoder.image_for(c.encode(pixels), 4)
    assert all(v.shape()[0] == 1 for v in values if len(v.shape()) == 4)


def test_cached_copy_is_reused_and_touching_the_source_keeps_it(bundle, monkeypatch):
    source = Bundle.open(bundle).decoder
    first = derive.derived_decoder(source)
    assert first is not None and first.folder == bundle / "optimized" / source.stem
    manifest = json.loads((first.folder / "manifest.json").read_text())
    assert manifest["source"]["sha256"] == derive.sha256(source)
    assert manifest["versions"]["onnx"] == onnx.__version__

    def no_derive(*a: Any) -> None:
        raise AssertionError("derived again")

    monkeypatch.setattr(cache, "_derive", no_derive)
    assert derive.derived_decoder(source) == first
    st = source.stat()
    import os

    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same bytes
    assert derive.derived_decoder(source) == first
    manifest = json.loads((first.folder / "manifest.json").read_text())
    assert manifest["source"]["mtime_ns"] == source.stat().st_mtime_ns  # no hashing next time


def test_changed_source_is_derived_again(bundle, expected):
    source = Bundle.open(bundle).decoder
    first = derive.derived_decoder(source)
    assert first is not None
    old = json.loads((first.folder / "manifest.json").read_text())["source"]["sha256"]
    model = onnx.load(str(source))
    model.producer_version = "changed"
    onnx.save(model, str(source))
    again = derive.derived_decoder(source)
    assert again is not None
    new = json.loads((again.folder / "manifest.json").read_text())["source"]["sha256"]
    assert new != old and new == derive.sha256(source)


def test_without_onnx_the_stock_graph_is_used(bundle, expected, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    with caplog.at_level(logging.INFO, logger="nanocaption_desktop.engine.derive"):
        c = load(bundle)
    assert isinstance(c.decoder, StockDecoder)
    assert "onnx package is not installed" in caplog.text
    assert not (bundle / "optimized" / c.bundle.decoder.stem / "manifest.json").exists()
    pixels = c.prepare(FIXTURES / "images" / "gradient.png")
    want = expected["images"]["gradient.png"]["optimum_int8"]["beam3"]["token_ids"]
    assert list(c.caption_pixels(pixels, beams=3).token_ids) == want


def test_a_truncated_cache_is_derived_again(bundle, expected):
    source = Bundle.open(bundle).decoder
    first = derive.derived_decoder(source)
    assert first is not None
    first.step.write_bytes(first.step.read_bytes()[:1000])
    c = load(bundle)
    assert isinstance(c.decoder, HoistedDecoder)
    assert first.step.stat().st_size > 1000
    pixels = c.prepare(FIXTURES / "images" / "waves_gray.png")
    want = expected["images"]["waves_gray.png"]["optimum_int8"]["greedy"]["token_ids"]
    assert list(c.caption_pixels(pixels).token_ids) == want


def test_a_corrupt_cache_that_looks_intact_is_derived_again(bundle, expected, caplog):
    """Same size, same mtime: its SHA-256 (copycheck.py) tells, and a cache is derived again."""
    import os

    source = Bundle.open(bundle).decoder
    first = derive.derived_decoder(source)
    assert first is not None
    good = first.step.read_bytes()
    st = first.step.stat()
    first.step.write_bytes(b"\0garbage" * (st.st_size // 8) + b"\0" * (st.st_size % 8))
    os.utime(first.step, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime
    with caplog.at_level(logging.WARNING):
        c = load(bundle)
    assert isinstance(c.decoder, HoistedDecoder)
    assert "SHA-256 differs" in caplog.text
    assert first.step.read_bytes() == good
    pixels = c.prepare(FIXTURES / "images" / "waves_gray.png")
    want = expected["images"]["waves_gray.png"]["optimum_int8"]["greedy"]["token_ids"]
    assert list(c.caption_pixels(pixels).token_ids) == want


def test_read_only_bundle_caches_in_the_user_cache(bundle, tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setattr(cache, "_writable", lambda folder: folder.is_relative_to(data))
    source = Bundle.open(bundle).decoder
    found = derive.derived_decoder(source)
    assert found is not None
    assert found.folder.is_relative_to(tmp_path / "data" / "cache" / "optimized")
    assert derive.sha256(source)[:24] in found.folder.name
    assert not (bundle / "optimized").exists() or not any((bundle / "optimized").rglob("*.onnx"))
    assert derive.derived_decoder(source) == found  # found again without deriving


def test_a_graph_that_cannot_be_split_is_remembered(bundle, monkeypatch):
    from nanocaption_desktop.engine.derive import cross_graph, graph

    calls = []

    def refuse(model: Any) -> Any:
        calls.append(1)
        raise graph.UnsupportedGraph("nothing step-invariant for a cross graph")

    monkeypatch.setattr(cross_graph, "separate_cross_graph", refuse)
    source = Bundle.open(bundle).decoder
    assert derive.derived_decoder(source) is None
    assert derive.derived_decoder(source) is None
    assert calls == [1]
    doc = json.loads((bundle / "optimized" / source.stem / "manifest.json").read_text())
    assert doc["usable"] is False and "nothing" in doc["reason"]


def test_hoisted_run_matches_stock_logits_bit_for_bit(bundle):
    c = load(bundle)
    src = c.bundle.decoder
    from nanocaption_desktop.engine.sessions import make_session

    stock = StockDecoder(make_session(src, threads=1), str(src))
    hidden = c.encode(c.prepare(FIXTURES / "images" / "sun_and_grass.jpg"))
    a, b = stock.begin(hidden, 3), c.decoder.begin(hidden, 3)
    for ids in ([[0], [5], [9]], [[7], [7], [1]], [[2], [3], [4]]):
        x = np.array(ids, dtype=np.int64)
        assert np.array_equal(a.step(x), b.step(x))
        a.reorder(np.array([2, 0, 0]))
        b.reorder(np.array([2, 0, 0]))


def test_a_bundle_that_ships_only_the_pair_runs_it(bundle, expected, monkeypatch):
    """The executable's bundle (packaging/build.py): the pair and its manifest, no stock INT8
    decoder. It loads, runs the pair (even with NANOCAPTION_STOCK_DECODER=1: there is no stock
    graph to run) rather than the fp32 stock graph beside it, and gives the reference tokens."""
    source = bundle / "onnx" / "decoder_with_past_model_quantized.onnx"
    assert derive.derived_decoder(source) is not None
    merged = bundle / "onnx" / "decoder_model_merged_quantized.onnx"
    source.unlink()
    merged.unlink()
    # a stock graph merely gone is reported missing, even with a derived pair beside it ...
    assert Bundle.open(bundle).decoder.name == "decoder_with_past_model.onnx"  # (the fp32 one)
    derive.mark_shipped_alone(source)  # ... a bundle built to ship the pair alone loads it
    opened = Bundle.open(bundle)
    assert not opened.has_stock_decoder and opened.decoder == source
    want = {
        (im, s): tuple(v["optimum_int8"][s]["token_ids"])
        for im, v in expected["images"].items()
        for s in expected["settings"]
    }
    for stock_flag in ("0", "1"):
        monkeypatch.setenv("NANOCAPTION_STOCK_DECODER", stock_flag)
        c = Captioner.load(bundle, threads=1)
        # one caption on the step engine where it runs here (own_step.py): the same tokens
        assert c.decoder_graphs == PAIR
        assert all_tokens(c, expected) == want


def test_a_shipped_pair_that_does_not_match_its_manifest_is_refused(bundle):
    source = bundle / "onnx" / "decoder_with_past_model_quantized.onnx"
    found = derive.derived_decoder(source)
    derive.mark_shipped_alone(source)
    source.unlink()
    (bundle / "onnx" / "decoder_model_merged_quantized.onnx").unlink()
    manifest = found.folder / derive.MANIFEST
    doc = json.loads(manifest.read_text())
    doc["files"]["step.onnx"]["size"] += 1  # a pair that is not the one recorded
    manifest.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="decoder pair shipped instead is not usable"):
        Captioner.load(bundle, threads=1)
    doc["files"]["step.onnx"]["size"] -= 1
    manifest.write_text(json.dumps(doc))
    with open(found.step, "ab") as f:  # a damaged graph: the load-time check names it
        f.write(b"\0")
    with pytest.raises(ModelError, match="step.onnx"):
        Captioner.load(bundle, threads=1)
