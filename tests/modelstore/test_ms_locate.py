"""Where bundles are looked for (DESIGN.md order) and the paths module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE

from nanocaption_desktop.cli_models import cmd_path, cmd_verify
from nanocaption_desktop.engine.errors import ModelError
from nanocaption_desktop.ground import paths
from nanocaption_desktop.modelstore import candidate_dirs, find_bundle, locate


def make_bundle(folder: Path, *, under_onnx: bool = True, quantized: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    place = folder / "onnx" if under_onnx else folder
    place.mkdir(exist_ok=True)
    name = "encoder_model_quantized.onnx" if quantized else "encoder_model.onnx"
    (place / name).write_bytes(b"x")
    return folder


@pytest.fixture
def no_checkout(monkeypatch):
    monkeypatch.setattr(paths, "checkout_root", lambda: None)


def test_paths_follow_the_data_dir_override(isolated_env):
    assert paths.user_data_dir() == isolated_env
    assert paths.user_models_dir() == isolated_env / "models"
    assert paths.user_log_dir() == isolated_env / "logs"
    assert not isolated_env.exists()  # nothing is created just by asking


def test_paths_without_override_use_platformdirs(monkeypatch):
    monkeypatch.delenv("NANOCAPTION_DATA_DIR")
    assert "NanoCaption" in paths.user_data_dir().parts
    assert "NanoCaption" in str(paths.user_log_dir())


def test_resource_path_in_checkout_and_frozen(monkeypatch, tmp_path):
    root = Path(paths.__file__).resolve().parents[2]  # ground/paths.py in the checkout
    assert paths.resource_path("models", "x") == root / "models" / "x"
    assert paths.checkout_root() == root  # the tests run from a checkout
    assert not paths.is_frozen()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.is_frozen()
    assert paths.resource_path("assets", "icon.png") == tmp_path / "assets" / "icon.png"
    assert paths.checkout_root() is None


def test_candidate_order(monkeypatch, tmp_path, isolated_env):
    monkeypatch.setenv("NANOCAPTION_MODEL_DIR", str(tmp_path / "env"))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "meipass"), raising=False)
    monkeypatch.setattr(paths, "checkout_root", lambda: tmp_path / "checkout")  # frozen: none
    labels = candidate_dirs(tmp_path / "explicit")
    assert labels == [
        ("--model", tmp_path / "explicit"),
        ("NANOCAPTION_MODEL_DIR", tmp_path / "env"),
        ("bundled", tmp_path / "meipass" / "models" / "vit-gpt2"),
        ("checkout", tmp_path / "checkout" / "models" / "vit-gpt2"),
        ("user data", isolated_env / "models" / "vit-gpt2"),
    ]


def test_first_hit_wins(monkeypatch, tmp_path, isolated_env):
    monkeypatch.setattr(paths, "checkout_root", lambda: tmp_path / "checkout")
    user = make_bundle(isolated_env / "models" / "vit-gpt2", under_onnx=False)
    assert find_bundle() == user
    checkout = make_bundle(tmp_path / "checkout" / "models" / "vit-gpt2", quantized=False)
    assert find_bundle() == checkout
    env = make_bundle(tmp_path / "env")
    monkeypatch.setenv("NANOCAPTION_MODEL_DIR", str(env))
    assert find_bundle() == env
    explicit = make_bundle(tmp_path / "explicit")
    assert find_bundle(explicit) == explicit
    assert find_bundle(str(explicit)) == explicit


def test_nothing_found_is_none(no_checkout):
    assert find_bundle() is None
    code, text = cmd_path()
    assert code == 2 and "models fetch" in text and "user data" in text


def test_incomplete_folders_are_skipped(monkeypatch, tmp_path, isolated_env):
    monkeypatch.setattr(paths, "checkout_root", lambda: tmp_path / "checkout")
    (tmp_path / "checkout" / "models" / "vit-gpt2").mkdir(parents=True)  # empty: skipped
    user = make_bundle(isolated_env / "models" / "vit-gpt2")
    assert find_bundle() == user


def test_explicit_path_that_is_not_a_bundle_raises(tmp_path, isolated_env):
    make_bundle(isolated_env / "models" / "vit-gpt2")  # would be found otherwise
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text("{}")
    with pytest.raises(ModelError) as info:
        find_bundle(half)
    assert str(half) in str(info.value) and "encoder" in str(info.value)
    with pytest.raises(ModelError, match="does not exist"):
        find_bundle(tmp_path / "nope")


def test_env_path_that_is_not_a_bundle_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("NANOCAPTION_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="config.json is missing"):
        find_bundle()


def test_bundle_problems_names_what_is_missing(tmp_path):
    assert locate.bundle_problems(tmp_path) == [
        "config.json is missing",
        "no encoder model (encoder_model_quantized.onnx or encoder_model.onnx, "
        "at the top or under onnx/)",
    ]
    (tmp_path / "f").write_text("")
    assert locate.bundle_problems(tmp_path / "f") == ["not a folder"]


def test_cmd_path_and_verify_on_the_fixture_bundle(no_checkout):
    code, text = cmd_path(TINY_BUNDLE)
    assert code == 0 and text.splitlines()[0] == str(TINY_BUNDLE)
    code, text = cmd_verify(TINY_BUNDLE)
    assert code == 0, text
    assert "no manifest.json" in text


def test_cmd_path_explicit_error(tmp_path):
    code, text = cmd_path(tmp_path / "missing")
    assert code == 2 and str(tmp_path / "missing") in text
    code, text = cmd_verify(tmp_path / "missing")
    assert code == 2 and "does not exist" in text
