"""The rows graph in the step graph's place (a folder of greedy captions, issue 18): one
decoder session holds the weights, greedy captions are those of the step graph, and a beam
search opens the step graph for itself and gets its usual captions."""

from __future__ import annotations

from pathlib import Path

from fixture_paths import IMAGES_DIR

from nanocaption_desktop.engine import Captioner, own_step
from nanocaption_desktop.engine.derive.rows_copy import ROWS


def test_the_rows_graph_replaces_the_step_graph_and_every_caption_stays(bundle: Path) -> None:
    plain = Captioner.load(bundle, threads=1)
    rows = Captioner.load(bundle, threads=1, rows_graph=True)
    # (", own kernel" where the own kernel runs: its own graph in the rows graph's place)
    assert rows.decoder_graphs.startswith("hoisted pair, rows graph")
    found = rows.rows_decoder()
    assert found is not None
    assert rows.decoder.step is found.rows.step  # one session: the weights are held once
    step_inputs = [i.name for i in rows.decoder.step.get_inputs()]
    assert step_inputs == [i.name for i in plain.decoder.step.get_inputs()]
    assert rows._beam_decoder is None  # no step graph opened for greedy captions
    pixels = [rows.prepare(p) for p in sorted(IMAGES_DIR.iterdir())]
    for p in pixels:
        want = plain.caption_pixels(p, beams=1, max_new_tokens=12)
        got = rows.caption_pixels(p, beams=1, max_new_tokens=12)
        assert got.token_ids == want.token_ids and got.score == want.score
    assert rows._beam_decoder is None
    together = rows.caption_rows(pixels[:3], sources=["a", "b", "c"], max_new_tokens=12)
    assert [c.token_ids for c in together] == [
        plain.caption_pixels(p, beams=1, max_new_tokens=12).token_ids for p in pixels[:3]
    ]
    # beams share one quantization scale in the step graph: a beam search opens it
    beam = rows.caption_pixels(pixels[0], beams=3, max_new_tokens=12)
    assert rows._beam_decoder is not None
    assert Path(rows._beam_decoder.path).name == "step.onnx"
    assert beam.token_ids == plain.caption_pixels(pixels[0], beams=3, max_new_tokens=12).token_ids


def test_without_a_rows_copy_the_step_graph_is_opened(bundle: Path, monkeypatch) -> None:
    import nanocaption_desktop.engine.captioner as captioner_module

    monkeypatch.setattr(captioner_module, "derived_rows", lambda step: None)
    c = Captioner.load(bundle, threads=1, rows_graph=True)
    # (one image at a time then, its tokens on the step engine where it runs: own_step.py)
    assert c.decoder_graphs in ("hoisted pair", "hoisted pair, step engine")
    assert c.decoder_graphs.endswith("engine") == (own_step.library() is not None)
    assert not any(Path(bundle).rglob(ROWS))
