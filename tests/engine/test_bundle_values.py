"""Every number a bundle's JSON holds is checked at load: a ModelError naming the file and key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nanocaption_desktop.engine import Captioner, ModelError
from nanocaption_desktop.engine.decoding import GenerationSettings
from nanocaption_desktop.engine.limits import MAX_BEAMS, MAX_IMAGE_SIDE

IMAGE = Path(__file__).resolve().parents[1] / "fixtures" / "images" / "gradient.png"
PRE, GEN, CFG, TOK = (
    "preprocessor_config.json",
    "generation_config.json",
    "config.json",
    "tokenizer.json",
)


def _edit(bundle: Path, name: str, change: Any) -> None:
    path = bundle / name
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))  # NaN and Infinity are written as JSON's extensions


def _set(*keys: str, value: Any) -> Any:
    def change(doc: dict) -> None:
        for key in keys[:-1]:
            doc = doc[key]
        doc[keys[-1]] = value

    return change


CASES = [
    # F4: a 100000x100000 input grew to 23.8 GB; F13: a negative size gave a traceback
    (PRE, _set("size", value={"height": 100000, "width": 100000}), "size.height"),
    (PRE, _set("size", value={"height": 224, "width": -5}), "size.width"),
    (PRE, _set("size", value=MAX_IMAGE_SIDE + 1), "size"),
    (PRE, _set("size", value="224"), "size"),
    (PRE, _set("size", value=True), "size"),
    (PRE, _set("size", value=[224, 224]), "size"),
    (PRE, _set("size", "height", value=22.5), "size.height"),
    (PRE, _set("image_mean", value=[0.5, float("nan"), 0.5]), "image_mean[1]"),
    (PRE, _set("image_std", value=[0.5, 0, 0.5]), "image_std"),
    (PRE, _set("image_std", value="0.5"), "image_std"),
    (PRE, _set("rescale_factor", value=float("inf")), "rescale_factor"),
    (PRE, _set("rescale_factor", value=[1]), "rescale_factor"),
    (PRE, _set("do_normalize", value="false"), "do_normalize"),
    (PRE, _set("resample", value=1.5), "resample"),
    (GEN, _set("num_beams", value=0), "num_beams"),
    (GEN, _set("num_beams", value=MAX_BEAMS + 1), "num_beams"),
    (GEN, _set("num_beams", value="4"), "num_beams"),
    (GEN, _set("max_length", value=0), "max_length"),
    (GEN, _set("max_length", value=65), "max_length"),  # the tiny decoder has 64 positions
    (GEN, _set("max_new_tokens", value=10**6), "max_new_tokens"),
    (GEN, _set("decoder_start_token_id", value=320), "decoder_start_token_id"),  # vocab 320
    (GEN, _set("decoder_start_token_id", value=-1), "decoder_start_token_id"),
    (GEN, _set("eos_token_id", value=[0, 999]), "eos_token_id[1]"),
    (GEN, _set("eos_token_id", value=[]), "eos_token_id"),
    (GEN, _set("pad_token_id", value=5000), "pad_token_id"),
    (GEN, _set("bos_token_id", value=False), "bos_token_id"),
    (GEN, _set("length_penalty", value=float("nan")), "length_penalty"),
    (GEN, _set("early_stopping", value="sometimes"), "early_stopping"),
    (CFG, _set("decoder", "n_positions", value="64"), "decoder.n_positions"),
    (CFG, _set("decoder", "vocab_size", value=0), "decoder.vocab_size"),
    (TOK, lambda doc: doc["model"].update(vocab={}, merges=[]), "vocabulary is empty"),  # F18
]


@pytest.mark.parametrize("name, change, key", CASES, ids=[f"{c[0]}:{c[2]}" for c in CASES])
def test_a_bad_value_is_a_model_error_naming_file_and_key(bundle, name, change, key):
    _edit(bundle, name, change)
    with pytest.raises(ModelError) as err:
        Captioner.load(bundle)
    assert Path(err.value.path) == bundle / name
    assert key in err.value.reason


def test_a_vocabulary_size_other_than_the_decoders_is_refused(bundle):
    _edit(bundle, CFG, _set("decoder", "vocab_size", value=321))
    with pytest.raises(ModelError, match=r"tokenizer.json: its vocabulary has 320 tokens, but "):
        Captioner.load(bundle)


def test_the_real_vit_gpt2_configuration_passes():
    """The public export's values (config.json of nlpconnect/vit-gpt2-image-captioning, its
    decoder part as transformers writes it, and Xenova's generation_config.json)."""
    config = {
        "decoder": {
            "vocab_size": 50257,
            "n_positions": 1024,
            "bos_token_id": 50256,
            "eos_token_id": 50256,
            "decoder_start_token_id": None,
            "pad_token_id": None,
            "max_length": 20,
            "num_beams": 1,
            "length_penalty": 1.0,
            "early_stopping": False,
        },
        "decoder_start_token_id": 50256,
        "eos_token_id": 50256,
        "pad_token_id": 50256,
    }
    generation = {
        "bos_token_id": 50256,
        "decoder_start_token_id": 50256,
        "eos_token_id": 50256,
        "pad_token_id": 50256,
    }
    s = GenerationSettings.from_configs(generation, config)
    assert (s.decoder_start_token_id, s.eos_token_id, s.max_length, s.num_beams) == (
        50256,
        50256,
        20,
        1,
    )


def _cli(*args: str, data: Path) -> subprocess.CompletedProcess:
    env = {"NANOCAPTION_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "nanocaption_desktop", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize(
    "name, change",
    [
        (PRE, _set("size", value={"height": 100000, "width": 100000})),  # F4: OOM-killed
        (PRE, _set("size", value=-224)),  # F13: a traceback
        (GEN, _set("max_length", value=10**6)),  # F13: rc 1
        (GEN, _set("decoder_start_token_id", value=10**6)),  # F13
    ],
)
def test_the_command_line_says_it_in_one_line_with_exit_code_2(bundle, tmp_path, name, change):
    _edit(bundle, name, change)
    done = _cli("caption", str(IMAGE), "--model", str(bundle), data=tmp_path / "data")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bundle / name) in lines[0], done.stderr


@pytest.mark.parametrize("padding", ["deep", "large"])
def test_a_config_too_deep_or_too_large_is_a_model_error(bundle, padding):
    doc = json.loads((bundle / PRE).read_text())
    text = "[" * 100_000 if padding == "deep" else json.dumps(doc | {"x": "x" * (17 << 20)})
    (bundle / PRE).write_text(text)
    with pytest.raises(ModelError, match="preprocessor_config.json: "):
        Captioner.load(bundle)


def test_batch_names_the_bundle_file_instead_of_failing_every_image(bundle, tmp_path):
    """F4 in `batch`: every image failed with "needs more than 1536 MB", the model unnamed."""
    _edit(bundle, PRE, _set("size", value={"height": 100000, "width": 100000}))
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / IMAGE.name).write_bytes(IMAGE.read_bytes())
    done = _cli("batch", str(folder), "--model", str(bundle), data=tmp_path / "data")
    assert done.returncode == 2 and str(bundle / PRE) in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_request_beyond_the_decoders_positions_is_refused_and_one_within_them_works(bundle):
    """A sibling: `--max-tokens 200` on a 64-position decoder failed every image in the
    position embedding's Gather; an explicit request past the positions is now refused before
    any work (never clipped silently), and the longest one within them captions."""
    from nanocaption_desktop.engine.errors import RequestError

    c = Captioner.load(bundle)
    assert c.settings.max_positions == 64
    for beams in (1, 2):
        with pytest.raises(RequestError, match="64 positions leave room for 63 new tokens"):
            c.caption(IMAGE, max_new_tokens=200, beams=beams)
        cap = c.caption(IMAGE, max_new_tokens=63, beams=beams)
        assert cap.ok, cap.error
        assert len(cap.token_ids) <= 64
