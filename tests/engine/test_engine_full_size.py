"""Slow: the full-size random bundle (real shapes of nlpconnect/vit-gpt2-image-captioning) must
reproduce transformers' tokens. Make it with `python packaging/make_test_model.py --full`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FULL = Path(__file__).resolve().parents[2] / "models" / "random-full"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (FULL / "expected_full.json").exists(),
        reason="no full-size bundle: python packaging/make_test_model.py --full",
    ),
]


@pytest.mark.parametrize("setting,beams", [("greedy_max16", 1), ("beam4_max16", 4)])
def test_full_size_fp32_matches_transformers(setting, beams):
    from nanocaption_desktop.engine import Captioner

    ref = json.loads((FULL / "expected_full.json").read_text())
    captioner = Captioner.load(FULL, quantized=False)
    image = Path(__file__).resolve().parents[1] / "fixtures" / "images" / ref["image"]
    cap = captioner.caption(image, beams=beams, max_new_tokens=16)
    assert list(cap.token_ids) == ref[setting]
