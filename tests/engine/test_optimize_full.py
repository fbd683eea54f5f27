"""The full-size random bundle (real shapes of nlpconnect/vit-gpt2-image-captioning; slow, skipped
when absent: `python packaging/make_test_model.py --full`), loaded as the app loads it: fp32 gives
transformers' tokens, and the hoisted graphs give the stock graphs' tokens (fp32 and INT8),
greedy and beam 4. (test_engine_full_size.py, which checked the fp32 tokens alone, is merged
here.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanocaption_desktop.engine.captioner import Captioner
from nanocaption_desktop.engine.decoder import HoistedDecoder, StockDecoder
from nanocaption_desktop.engine.sessions import make_session

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "models" / "random-full"
IMAGES = ROOT / "tests" / "fixtures" / "images"

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
    c = Captioner.load(FULL, quantized=quantized)  # the app's entry point
    assert c.bundle.decoder_kind == "decoder_with_past_model"
    assert isinstance(c.decoder, HoistedDecoder)
    pixels = c.prepare(IMAGES / ref["image"])
    greedy = c.caption_pixels(pixels, max_new_tokens=16).token_ids
    beam4 = c.caption_pixels(pixels, max_new_tokens=16, beams=4).token_ids
    if not quantized:
        assert list(greedy) == ref["greedy_max16"]
        assert list(beam4) == ref["beam4_max16"]
    c.decoder = StockDecoder(make_session(c.bundle.decoder), str(c.bundle.decoder))
    assert c.caption_pixels(pixels, max_new_tokens=16).token_ids == greedy
    assert c.caption_pixels(pixels, max_new_tokens=16, beams=4).token_ids == beam4
