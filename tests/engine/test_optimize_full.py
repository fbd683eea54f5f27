"""The hoisted graphs on the full-size random bundle (slow; skipped when it is absent): fp32 gives
transformers' tokens, INT8 gives the stock INT8 graphs' tokens, greedy and beam 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanocaption_desktop.engine.bundle import Bundle
from nanocaption_desktop.engine.captioner import Captioner
from nanocaption_desktop.engine.decoder import HoistedDecoder, StockDecoder
from nanocaption_desktop.engine.sessions import make_session

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "models" / "random-full"
IMAGE = ROOT / "tests" / "fixtures" / "images" / "sun_and_grass.jpg"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (FULL / "expected_full.json").is_file(),
        reason="no models/random-full (python packaging/make_test_model.py --full)",
    ),
]


@pytest.mark.parametrize("quantized", [False, True])
def test_full_bundle_tokens(quantized):
    pytest.importorskip("onnx")
    ref = json.loads((FULL / "expected_full.json").read_text())
    c = Captioner(Bundle.open(FULL, quantized=quantized, decoder="decoder_with_past_model"))
    assert isinstance(c.decoder, HoistedDecoder)
    pixels = c.prepare(IMAGE)
    greedy = c.caption_pixels(pixels, max_new_tokens=16).token_ids
    beam4 = c.caption_pixels(pixels, max_new_tokens=16, beams=4).token_ids
    if not quantized:
        assert list(greedy) == ref["greedy_max16"]
        assert list(beam4) == ref["beam4_max16"]
    c.decoder = StockDecoder(make_session(c.bundle.decoder), str(c.bundle.decoder))
    assert c.caption_pixels(pixels, max_new_tokens=16).token_ids == greedy
    assert c.caption_pixels(pixels, max_new_tokens=16, beams=4).token_ids == beam4
