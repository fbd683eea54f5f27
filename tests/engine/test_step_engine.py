"""The step engine (engine/own_step.py, kernels/step.c, derive/engine.py; issue 18): one
caption's tokens in C, every step bit for bit the step graph's, derived and checked only where
it can run, and never used unchecked.

In CI (`CI` set) the engine must be usable: the runner is x86-64 with AVX512-VNNI and installs
with a C compiler, so a skip there would hide a broken build."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from fixture_paths import IMAGES_DIR
from onnx import numpy_helper

from nanocaption_desktop.engine import Captioner, kernels, own_step, own_weights
from nanocaption_desktop.engine.derive import derived_decoder, derived_engine
from nanocaption_desktop.engine.derive.checks import DeriveCheckFailed
from nanocaption_desktop.engine.derive.engine import check_engine, read_step_graph
from nanocaption_desktop.engine.derive.external import save_graph

LIBRARY = own_step.library()
if LIBRARY is None and os.environ.get("CI"):
    raise AssertionError("the step engine is not usable in CI: was the library built?")
needs_engine = pytest.mark.skipif(LIBRARY is None, reason="own library not built or no VNNI")

DECODER = Path("onnx") / "decoder_with_past_model_quantized.onnx"


def _pair(bundle: Path) -> tuple[Path, Path]:
    found = derived_decoder(bundle / DECODER)
    assert found is not None
    return found.cross, found.step


def _engine_files(step: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    facts, arrays = read_step_graph(step)
    own_weights.write_engine(dest, facts, arrays)
    return dest


def _with_random_biases(cross: Path, step: Path, dest: Path) -> Path:
    """A copy of the pair whose biases and layer-norm scales and biases are random (the tiny
    model's are zeros and ones, which would hide a bias added in the wrong order)."""
    dest.mkdir()
    shutil.copy(cross, dest / cross.name)
    shutil.copy(cross.with_name(cross.name + ".data"), dest / (cross.name + ".data"))
    model = onnx.load(str(step))
    g = model.graph
    made = {o: n for n in g.node for o in n.output}
    inits = {t.name: t for t in g.initializer}

    def constant(name: str) -> np.ndarray | None:
        if name in inits:
            return numpy_helper.to_array(inits[name])
        n = made.get(name)
        if n is not None and n.op_type == "Identity":
            return constant(n.input[0])
        if n is not None and n.op_type == "Constant":
            return numpy_helper.to_array(n.attribute[0].t)
        return None

    rng = np.random.default_rng(7)
    changed = 0
    for n in g.node:  # each norm's scale and bias and each product's bias: a random one
        inputs = (1, 2) if n.op_type == "LayerNormalization" else (0, 1)
        if n.op_type not in ("LayerNormalization", "Add"):
            continue
        for i in inputs:
            value = constant(n.input[i])
            if value is None or value.dtype != np.float32 or value.ndim != 1 or value.size < 2:
                continue
            own = f"random/{n.name}/{i}"
            values = rng.normal(0.0, 0.5, value.shape).astype(np.float32)
            g.initializer.append(numpy_helper.from_array(values, own))
            n.input[i] = own
            changed += 1
    assert changed == 7 * 2 + 13 - 1  # 7 norms; every product but the head has a bias
    save_graph(model, dest / step.name)
    return dest / step.name


@needs_engine
def test_the_engine_is_the_step_graph_bit_for_bit_and_its_check_can_fail(bundle, tmp_path):
    """On random biases and norms, two images, 1 and 2 threads (and 3: more threads than the
    tiny model has heads), 40 steps (the caches grow past their first 32 positions): logits and
    every key and value equal the step graph's. One bias changed by 0.5 fails it."""
    cross, step = _pair(bundle)
    step = _with_random_biases(cross, step, tmp_path / "pair")
    folder = _engine_files(step, tmp_path / "engine")
    check_engine(step, folder, steps=40, threads=(1, 2, 3))

    index = json.loads((folder / own_weights.INDEX).read_text())
    at = index["arrays"]["h1.fc.bias"]["offset"] + 4 * 5
    data = bytearray((folder / own_weights.BIN).read_bytes())
    value = np.frombuffer(bytes(data[at : at + 4]), dtype=np.float32) + np.float32(0.5)
    data[at : at + 4] = value.tobytes()
    (folder / own_weights.BIN).write_bytes(bytes(data))
    with pytest.raises(DeriveCheckFailed, match="logits differ at step 0"):
        check_engine(step, folder, steps=4)


@needs_engine
def test_a_caption_on_the_engine_is_the_step_graphs(bundle, monkeypatch):
    """The captioner takes the engine for one caption, derived on first open; greedy and beam
    captions (a beam opens the step graph) equal those without it, for every fixture image."""
    c = Captioner.load(bundle, threads=2)
    assert c.decoder_graphs == "hoisted pair, step engine"
    assert c.decoder._step is None  # the step graph is not opened for greedy captions
    monkeypatch.setenv(own_step.SWITCH, "0")
    plain = Captioner.load(bundle, threads=2)
    assert plain.decoder_graphs == "hoisted pair"
    images = sorted(IMAGES_DIR.iterdir())
    for image in images:
        px = c.prepare(image)
        for beams in (1, 3):
            a = c.caption_pixels(px, beams=beams, max_new_tokens=20)
            b = plain.caption_pixels(px, beams=beams, max_new_tokens=20)
            assert (a.token_ids, a.text, a.alternatives) == (b.token_ids, b.text, b.alternatives)
            assert a.score == b.score
    assert c.decoder._step is not None  # opened by the first beam search


@needs_engine
def test_runs_at_once_each_take_their_own_state(bundle):
    """Two images decoded step by step in turn, and four threads captioning at once, give what
    each gets alone; the states are kept for the next runs."""
    c = Captioner.load(bundle, threads=1)
    dec = c.decoder
    assert isinstance(dec, own_step.EngineDecoder)
    pixels = [c.prepare(p) for p in sorted(IMAGES_DIR.iterdir())][:4]
    alone = [c.caption_pixels(p, beams=1).token_ids for p in pixels]
    hidden = [c.encode(p) for p in pixels[:2]]
    runs = [dec.begin(h, 1) for h in hidden]
    ids = [np.array([[t[0]]], dtype=np.int64) for t in alone[:2]]
    for i in range(1, 8):
        for r, run in enumerate(runs):
            want = alone[r][i] if i < len(alone[r]) else None
            got = int(np.argmax(run.step(ids[r])[0]))
            if want is not None:
                assert got == want
            ids[r] = np.array([[got]], dtype=np.int64)
    del runs, run
    assert len(dec._free) == 2

    results: dict[int, tuple[int, ...]] = {}

    def caption(i: int) -> None:
        results[i] = c.caption_pixels(pixels[i], beams=1).token_ids

    threads = [threading.Thread(target=caption, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(4)] == alone


@needs_engine
def test_the_copy_is_derived_once_and_a_changed_one_again(bundle):
    """Derived beside the bundle with its manifest, stamped with the library; found again
    without deriving; a changed weight file fails its hash and is derived again."""
    _, step = _pair(bundle)
    folder = derived_engine(step)
    assert folder is not None and folder.name == "step-engine"
    doc = json.loads((folder / "manifest.json").read_text())
    assert doc["usable"] and doc["engine"]["checked_threads"] == [1, 2]
    assert doc["stamp"]["kernel_sha256"]
    assert derived_engine(step, derive=False) == folder
    data = bytearray((folder / own_weights.BIN).read_bytes())
    data[100] ^= 0xFF
    (folder / own_weights.BIN).write_bytes(bytes(data))
    os.utime(folder / own_weights.BIN, ns=(0, doc["files"][own_weights.BIN]["mtime_ns"]))
    assert derived_engine(step, derive=False) is None  # not the recorded file any more
    assert derived_engine(step) == folder  # derived again
    assert (folder / own_weights.BIN).read_bytes() != bytes(data)


def test_nothing_is_derived_where_the_engine_cannot_run(bundle, monkeypatch):
    """Without the own library (no compiler at install, no AVX512-VNNI, or turned off) there is
    no engine copy, and the captioner decodes on the step graph."""
    monkeypatch.setattr(kernels, "library", lambda: None)
    _, step = _pair(bundle)
    assert derived_engine(step) is None
    assert not (step.parent / "optimized" / "step-engine").exists()
    assert Captioner.load(bundle).decoder_graphs == "hoisted pair"


@needs_engine
def test_a_graph_the_engine_does_not_compute_is_refused(bundle, tmp_path):
    """A step graph of another shape (here: one layer norm fewer) is not read at all."""
    cross, step = _pair(bundle)
    model = onnx.load(str(step))
    norm = next(n for n in model.graph.node if n.op_type == "LayerNormalization")
    norm.op_type, norm.domain = "Identity", ""
    del norm.input[1:], norm.attribute[:]
    dest = tmp_path / "pair"
    dest.mkdir()
    save_graph(model, dest / step.name)
    with pytest.raises(DeriveCheckFailed, match="not a step graph the engine computes"):
        read_step_graph(dest / step.name)
