"""Several images per weight pass (issue 18): the rows graph's derive check on the tiny model,
a broken rows graph caught by it, and folder captions at rows 1 to 8 equal to each alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixture_paths import IMAGES_DIR

from nanocaption_desktop.engine import Captioner
from nanocaption_desktop.engine.decoder import EXACT, HoistedDecoder, open_hoisted
from nanocaption_desktop.engine.derive import derived_decoder, derived_rows
from nanocaption_desktop.engine.derive.checks import DeriveCheckFailed
from nanocaption_desktop.engine.derive.rows_copy import check_rows
from nanocaption_desktop.engine.pipeline import caption_stream
from nanocaption_desktop.engine.sessions import make_session


def test_the_rows_check_passes_on_the_tiny_model_and_catches_a_shared_scale(bundle: Path) -> None:
    dec = derived_decoder(bundle / "onnx" / "decoder_with_past_model_quantized.onnx")
    assert dec is not None
    rows = derived_rows(dec.step)
    assert rows is not None and rows.per_image  # made, and checked for N = 1..MAX_ROWS rows
    one = open_hoisted(dec.cross, dec.step, threads=1)
    good = HoistedDecoder(
        one.cross, make_session(rows.step, threads=1, disabled_optimizers=EXACT), one.path
    )
    check_rows(one, good, rows.per_image, 32)  # the check itself, again: no difference
    # the one-row step graph over several rows (one scale per tensor) must fail the check
    with pytest.raises(DeriveCheckFailed, match="2 rows"):
        check_rows(one, HoistedDecoder(one.cross, one.step, one.path), rows.per_image, 32)


def test_folder_captions_at_1_to_8_rows_equal_each_alone(bundle: Path) -> None:
    cap = Captioner.load(bundle, threads=1)
    assert cap.rows_decoder() is not None
    rng = np.random.default_rng(3)
    pixels = [cap.prepare(p) for p in sorted(IMAGES_DIR.iterdir())[:4]]
    pixels += [rng.uniform(-1, 1, pixels[0].shape).astype(np.float32) for _ in range(5)]
    items = [(k, p, f"img{k}") for k, p in enumerate(pixels)]
    items.insert(3, (99, None, "failed"))  # a failed image passes through in its place
    alone = [cap.caption_pixels(p, beams=1, max_new_tokens=12).token_ids for p in pixels]
    lengths = {len(t) for t in alone}
    assert len(lengths) > 1, "the rows should end at different steps"
    for rows in (1, 2, 3, 4, 8):
        out = list(caption_stream(cap, items, beams=1, max_new_tokens=12, rows=rows, lanes=2))
        assert [t for t, _ in out] == [t for t, _, _ in items]
        got = [c.token_ids for _, c in out if c is not None]
        assert got == alone, rows
        assert [c.source for _, c in out if c is not None] == [
            s for _, p, s in items if p is not None
        ]
