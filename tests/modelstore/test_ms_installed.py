"""Models by name: `resolve_model`, the `models use` default, `list_models`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE

from nanocaption_desktop.ground.errors import ModelError
from nanocaption_desktop.modelstore import installed
from nanocaption_desktop.modelstore.installed import (
    default_model,
    list_models,
    resolve_model,
    set_default_model,
)
from nanocaption_desktop.modelstore.locate import candidate_dirs, find_bundle


@pytest.fixture
def models_dir(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """User models only (the checkout's models/ folder is left out of the search)."""
    monkeypatch.setattr(installed.paths, "checkout_root", lambda: None)
    folder = isolated_env / "models"
    folder.mkdir(parents=True)
    return folder


def install(models_dir: Path, name: str) -> Path:
    dest = models_dir / name
    shutil.copytree(TINY_BUNDLE, dest)
    return dest


def test_a_name_resolves_to_the_installed_folder(models_dir: Path) -> None:
    dest = install(models_dir, "mine")
    assert resolve_model("mine") == dest
    assert find_bundle("mine") == dest


def test_a_folder_is_taken_as_given(models_dir: Path, tmp_path: Path) -> None:
    assert resolve_model(str(TINY_BUNDLE)) == TINY_BUNDLE
    assert resolve_model("./relative/dir") == Path("relative/dir")


def test_an_unknown_name_lists_the_installed_ones(models_dir: Path) -> None:
    install(models_dir, "mine")
    with pytest.raises(ModelError, match=r"^nope: .*installed: mine;"):
        resolve_model("nope")
    with pytest.raises(ModelError, match="installed: mine"):
        find_bundle("nope")


def test_models_use_sets_the_default_for_the_locator(models_dir: Path) -> None:
    install(models_dir, "a")
    b = install(models_dir, "b")
    assert default_model() is None
    set_default_model("b")
    assert default_model() == "b"
    assert json.loads(installed.config_path().read_text()) == {"model": "b"}
    assert find_bundle() == b
    assert candidate_dirs()[0] == ("models use", b)
    assert [m.name for m in list_models() if m.default] == ["b"]
    set_default_model(None)
    assert default_model() is None


def test_models_use_refuses_an_unknown_name(models_dir: Path) -> None:
    with pytest.raises(ModelError, match="no installed model"):
        set_default_model("ghost")
    assert not installed.config_path().exists()


def test_a_default_removed_by_hand_is_an_error_naming_it(models_dir: Path) -> None:
    dest = install(models_dir, "gone")
    set_default_model("gone")
    shutil.rmtree(dest)
    with pytest.raises(ModelError, match=r"gone: not a model bundle \(models use\)"):
        find_bundle()


def test_list_models_describes_each(models_dir: Path) -> None:
    install(models_dir, "tiny")
    (models_dir / "not-a-model").mkdir()
    (found,) = list_models()
    assert found.name == "tiny" and found.removable and not found.default
    assert found.quantization == "INT8 + fp32"
    assert found.source == "installed by hand"
    assert found.size == sum(p.stat().st_size for p in TINY_BUNDLE.rglob("*") if p.is_file())


def test_a_broken_config_is_ignored(models_dir: Path) -> None:
    installed.config_path().write_text("{not json")
    assert default_model() is None
