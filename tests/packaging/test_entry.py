"""The frozen entry script's helpers (packaging/entry.py), without building anything."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packaging"))

import entry  # noqa: E402


@pytest.fixture
def frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    meipass, app = tmp_path / "_MEI123", tmp_path / "app"
    meipass.mkdir()
    app.mkdir()
    monkeypatch.setattr(sys, "_MEIPASS", str(meipass), raising=False)
    monkeypatch.setattr(sys, "executable", str(app / "nanocaption-desktop"))
    return meipass, app


def _bundle(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_a_model_beside_the_executable_is_found(frozen: tuple[Path, Path]) -> None:
    _meipass, app = frozen
    assert entry._model_beside_executable() is None
    beside = _bundle(app / "models" / "vit-gpt2")
    assert entry._model_beside_executable() == beside.resolve()


def test_a_model_inside_wins_over_one_beside(frozen: tuple[Path, Path]) -> None:
    meipass, app = frozen
    _bundle(app / "models" / "vit-gpt2")
    _bundle(meipass / "models" / "vit-gpt2")
    assert entry._model_beside_executable() is None


def test_not_frozen_looks_nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    assert entry._model_beside_executable() is None


def test_recorded_mtimes_are_put_back_inside_the_bundle_only(frozen: tuple[Path, Path]) -> None:
    meipass, _app = frozen
    root = _bundle(meipass / "models" / "vit-gpt2")
    (root / "onnx").mkdir()
    model = root / "onnx" / "decoder.onnx"
    model.write_bytes(b"x")
    outside = meipass / "outside.txt"
    outside.write_text("y")
    before = outside.stat().st_mtime_ns
    (root / entry.MTIMES).write_text(
        json.dumps(
            {"onnx/decoder.onnx": 1_600_000_000_123_456_789, "../../outside.txt": 1, "gone.json": 5}
        )
    )
    entry._restore_mtimes()
    assert model.stat().st_mtime_ns == 1_600_000_000_123_456_789
    assert outside.stat().st_mtime_ns == before


def test_no_mtimes_file_is_fine(frozen: tuple[Path, Path]) -> None:
    entry._restore_mtimes()
    assert not os.listdir(frozen[0])
