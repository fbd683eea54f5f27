"""The Captioner facade: results, errors, cancel, batch company, bundles that are broken."""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from nanocaption_desktop import Caption, Captioner, ImageError, ModelError
from nanocaption_desktop.engine import Cancelled
from nanocaption_desktop.engine.bundle import Bundle


def test_caption_fields(captioner, fixture_images):
    cap = captioner.caption(fixture_images[0])
    assert isinstance(cap, Caption) and cap.ok
    assert cap.text and cap.token_ids[0] == captioner.settings.decoder_start_token_id
    assert cap.seconds > 0 and cap.source == str(fixture_images[0])
    assert -50 < cap.score < 0


def test_sources_path_bytes_file_and_pil_agree(captioner, fixture_images):
    path = fixture_images[1]
    data = path.read_bytes()
    variants = [str(path), path, data, io.BytesIO(data), Image.open(path)]
    tokens = {captioner.caption(v).token_ids for v in variants}
    assert len(tokens) == 1


def test_bad_image_raises_image_error_naming_the_file(captioner, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    with pytest.raises(ImageError) as err:
        captioner.caption(bad)
    assert str(bad) in str(err.value)


def test_caption_many_keeps_going_after_a_bad_file(captioner, fixture_images, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    items = [fixture_images[0], bad, fixture_images[1]]
    results = list(captioner.caption_many(items))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].source == str(bad) and results[1].error
    assert math.isnan(results[1].score)


def test_caption_does_not_depend_on_company(captioner, fixture_images):
    alone = {p.name: captioner.caption(p).token_ids for p in fixture_images}
    forward = {r.source: r.token_ids for r in captioner.caption_many(fixture_images)}
    backward = {r.source: r.token_ids for r in captioner.caption_many(fixture_images[::-1])}
    for p in fixture_images:
        assert forward[str(p)] == backward[str(p)] == alone[p.name]


def test_overrides_change_decoding(captioner, fixture_images, expected):
    name = "gradient.png"
    path = next(p for p in fixture_images if p.name == name)
    short = captioner.caption(path, max_new_tokens=3)
    assert len(short.token_ids) == 4
    beam = captioner.caption(path, beams=3)
    assert list(beam.token_ids) == expected["images"][name]["optimum_int8"]["beam3"]["token_ids"]
    with pytest.raises(ValueError):
        captioner.caption(path, beams=0)


def test_beam_search_offers_its_other_finished_beams(captioner, fixture_images, expected):
    """The best beam is the pinned one; the others come with it, ranked, as decoded texts."""
    for path in fixture_images:
        beam = captioner.caption(path, beams=3)
        pinned = expected["images"][path.name]["optimum_int8"]["beam3"]["token_ids"]
        assert list(beam.token_ids) == pinned
        assert 1 <= len(beam.alternatives) <= 2
        for text, score in beam.alternatives:
            assert isinstance(text, str) and score <= 0.0
        assert captioner.caption(path).alternatives == ()


def test_cancel_between_steps(captioner, fixture_images):
    flag = threading.Event()
    flag.set()
    with pytest.raises(Cancelled):
        captioner.caption(fixture_images[0], cancel=flag)
    assert list(captioner.caption_many(fixture_images, cancel=flag)) == []


class _CancelAfter:
    """A cancel flag that turns on after n checks: proves the decoder loop checks it per step."""

    def __init__(self, n: int) -> None:
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0


def test_cancel_stops_mid_decode(captioner, fixture_images):
    with pytest.raises(Cancelled):
        captioner.caption(fixture_images[0], max_new_tokens=20, cancel=_CancelAfter(4))


def test_prepare_then_caption_pixels_equals_caption(captioner, fixture_images):
    pixels = captioner.prepare(fixture_images[2])
    assert pixels.shape == (1, 3, 224, 224) and pixels.dtype == np.float32
    assert (
        captioner.caption_pixels(pixels).token_ids == captioner.caption(fixture_images[2]).token_ids
    )


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json", "preprocessor_config.json"])
def test_missing_file_names_it(tiny_bundle, tmp_path, missing):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    (copy / missing).unlink()
    with pytest.raises(ModelError) as err:
        Captioner.load(copy)
    assert missing in str(err.value)


def test_missing_encoder_and_decoder_name_them(tiny_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    for f in (copy / "onnx").glob("decoder*"):
        f.unlink()
    with pytest.raises(ModelError, match="decoder_with_past_model"):
        Bundle.open(copy)
    for f in (copy / "onnx").glob("encoder*"):
        f.unlink()
    with pytest.raises(ModelError, match="encoder_model"):
        Bundle.open(copy)


def test_broken_json_and_broken_onnx_are_model_errors(tiny_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    (copy / "generation_config.json").write_text("{ nope")
    with pytest.raises(ModelError, match="generation_config.json"):
        Captioner.load(copy)
    shutil.copy2(tiny_bundle / "generation_config.json", copy / "generation_config.json")
    enc = copy / "onnx" / "encoder_model_quantized.onnx"
    enc.write_bytes(enc.read_bytes()[:5000])
    with pytest.raises(ModelError, match="encoder_model_quantized.onnx"):
        Captioner.load(copy)


def test_files_at_the_top_of_the_bundle(tiny_bundle, tmp_path):
    flat = tmp_path / "flat"
    shutil.copytree(tiny_bundle, flat)
    for f in (flat / "onnx").iterdir():
        f.rename(flat / f.name)
    (flat / "onnx").rmdir()
    b = Bundle.open(flat)
    assert b.encoder.parent == flat and b.decoder.name == "decoder_with_past_model_quantized.onnx"


def test_generation_settings_from_bundle(captioner, tiny_bundle):
    gen = json.loads((tiny_bundle / "generation_config.json").read_text())
    assert captioner.settings.max_length == gen["max_length"]
    assert captioner.settings.eos_token_id == gen["eos_token_id"]


#: Imports every module below gui/ (the lazy package __init__s alone load only a few), then
#: lists what came in from Qt or torch; run in a fresh interpreter so nothing is loaded already.
_IMPORT_ALL_BELOW_GUI = """
import importlib, pkgutil, sys
import nanocaption_desktop as pkg
above = ("nanocaption_desktop.gui", "nanocaption_desktop.cli", "nanocaption_desktop.__main__")
# engine/kernels/_products is the own kernel's onnxruntime custom-op library, not a Python module
library = ("nanocaption_desktop.engine.kernels._products",)
names = [m.name for m in pkgutil.walk_packages(pkg.__path__, "nanocaption_desktop.")
         if not m.name.startswith(above) and m.name not in library]
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "torch"))
print(" ".join(names))
print(" ".join(bad))
"""


def test_importing_the_engine_leaves_qt_out():
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL_BELOW_GUI], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    imported, bad = (done.stdout.splitlines() + ["", ""])[:2]
    # every layer below gui was really imported, the lazy imports' targets included
    assert {
        "nanocaption_desktop.engine.captioner",
        "nanocaption_desktop.engine.isolation",
        "nanocaption_desktop.jobs.batch",
        "nanocaption_desktop.modelstore.trust",
        "nanocaption_desktop.ground.paths",
    } <= set(imported.split())
    assert not any(name.startswith("nanocaption_desktop.gui") for name in imported.split())
    assert bad == "", f"imported below gui/: {bad}"


def test_public_api():
    import nanocaption_desktop as nc

    assert {"Captioner", "Caption", "ImageError", "ModelError"} <= set(nc.__all__)
    assert nc.Captioner is Captioner and nc.ImageError is ImageError


def test_load_without_model_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NANOCAPTION_MODEL_DIR", raising=False)
    import nanocaption_desktop.modelstore.locate as locate

    monkeypatch.setattr(locate, "candidate_dirs", lambda explicit=None: [])
    with pytest.raises(ModelError, match="models fetch"):
        Captioner.load()


def test_encoder_threads_apart_from_the_decoders(tiny_bundle, monkeypatch, captioner):
    """The window's setting: a compute-bound encoder on every core, memory-bound decoders on
    half of them; the lanes follow the decoders, and the tokens do not change."""
    from nanocaption_desktop.engine import pipeline

    monkeypatch.setattr(pipeline, "physical_cores", lambda: 2)
    mixed = Captioner.load(tiny_bundle, threads=1, encoder_threads=2)
    assert mixed.encoder.get_session_options().intra_op_num_threads == 2
    assert mixed.decoder.step.get_session_options().intra_op_num_threads == 1
    assert mixed.threads == 1 and pipeline.lanes_for(mixed) == 2
    assert pipeline.lanes_for(Captioner.load(tiny_bundle, threads=2)) == 1
    image = sorted((tiny_bundle.parent / "images").iterdir())[0]
    assert mixed.caption(image).token_ids == captioner.caption(image).token_ids
