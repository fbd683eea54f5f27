"""`models import`: each kind of folder a user brings, refused ones, a killed import, and the
round trip (an fp32 import gives transformers' tokens; a quantized one the recorded tokens)."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fixture_paths import FIXTURES
from make_import_fixtures import RECORD, caption_tokens, make

from nanocaption_desktop.cli import main
from nanocaption_desktop.engine.importer import has_exporter, import_model
from nanocaption_desktop.ground.errors import ModelError
from nanocaption_desktop.modelstore.installed import list_models
from nanocaption_desktop.modelstore.manifest import verify


@pytest.fixture
def models(isolated_env: Path) -> Path:
    return isolated_env / "models"


def installed(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


@pytest.mark.parametrize("kind", ["fp32-split-root", "fp32-split-onnx"])
@pytest.mark.parametrize("quantize", [True, False])
def test_an_fp32_export_imports(tmp_path: Path, models: Path, kind: str, quantize: bool) -> None:
    src = make(kind, tmp_path / "export")
    r = import_model(src, name="mine", quantize=quantize)
    assert r.path == models / "mine" and installed(models) == ["mine"]
    assert r.quantization == ("INT8" if quantize else "fp32") and r.quantized_here == quantize
    graphs = sorted(p.name for p in (r.path / "onnx").iterdir())
    sfx = "_quantized" if quantize else ""
    assert graphs == [f"decoder_with_past_model{sfx}.onnx", f"encoder_model{sfx}.onnx"]
    assert f"decoder_with_past_model{sfx}.onnx" in r.derived
    assert verify(r.path) == []  # the manifest matches every installed file
    (m,) = list_models()
    assert (m.name, m.quantization) == ("mine", r.quantization)
    assert m.source == f"imported from {src.resolve()}"


def test_a_transformersjs_folder_with_a_merged_int8_decoder(tmp_path: Path, models: Path) -> None:
    src = make("transformersjs-merged", tmp_path / "tjs")
    r = import_model(src)  # named after the folder; INT8 files are copied, not quantized again
    assert r.name == "tjs" and r.quantization == "INT8" and not r.quantized_here
    assert (r.path / "onnx" / "decoder_model_merged_quantized.onnx").is_file()
    assert (src / "onnx" / "decoder_model_merged_quantized.onnx").read_bytes() == (
        r.path / "onnx" / "decoder_model_merged_quantized.onnx"
    ).read_bytes()


def test_a_bert_decoder_is_refused_in_one_sentence(tmp_path: Path, models: Path) -> None:
    src = make("bert-decoder", tmp_path / "bert")
    with pytest.raises(ModelError) as e:
        import_model(src)
    assert str(e.value) == (
        f"{src / 'config.json'}: a vit encoder with a bert decoder is not supported: NanoCaption "
        "runs ViT-family encoders (vit, deit, beit, swin) with GPT-2-family decoders "
        "(gpt2, distilgpt2)"
    )
    assert installed(models) == []


def test_a_truncated_graph_is_refused_and_nothing_is_installed(
    tmp_path: Path, models: Path
) -> None:
    src = make("truncated", tmp_path / "broken")
    with pytest.raises(ModelError, match="decoder_with_past_model") as e:
        import_model(src, quantize=False)
    assert str(src) in str(e.value) and "importing" not in str(e.value)
    assert installed(models) == []


def test_a_name_in_use_and_an_empty_folder_are_refused(tmp_path: Path, models: Path) -> None:
    src = make("fp32-split-onnx", tmp_path / "export")
    import_model(src, name="a", quantize=False)
    with pytest.raises(ModelError, match="already installed; remove it first"):
        import_model(src, name="a")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text((src / "config.json").read_text())
    with pytest.raises(ModelError, match="no ONNX export"):
        import_model(tmp_path / "empty")
    assert installed(models) == ["a"]


KILLER = textwrap.dedent(
    """
    import os, shutil, signal, sys
    from pathlib import Path
    from nanocaption_desktop.engine import importer
    from nanocaption_desktop.modelstore import importing

    left = int(sys.argv[2])
    def counted(real):
        def call(*a, **k):
            global left
            left -= 1
            if left < 0:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*a, **k)
        return call
    importing.shutil.copyfile = counted(shutil.copyfile)
    importer.quantize_graph = counted(importer.quantize_graph)
    importer.probe_sessions = counted(importer.probe_sessions)
    importer.derived_copy = counted(importer.derived_copy)
    importing.write_manifest = counted(importing.write_manifest)
    importing.rename = counted(importing.rename)
    importer.import_model(sys.argv[1], name="killed")
    """
)


@pytest.mark.slow
def test_an_import_killed_anywhere_installs_nothing(tmp_path: Path, models: Path) -> None:
    src = make("fp32-split-onnx", tmp_path / "export")
    points = random.Random(17).sample(range(14), 5)  # copies, quantize, probe, derive, rename
    for point in points:
        done = subprocess.run(
            [sys.executable, "-c", KILLER, str(src), str(point)], env=os.environ.copy()
        )
        assert done.returncode == -signal.SIGKILL, point
        assert "killed" not in installed(models), point
        assert list_models() == []
    assert any(p.name.startswith(".killed.importing-") for p in models.iterdir())
    r = import_model(src, name="killed")  # the next import cleans the leftovers
    assert installed(models) == ["killed"] and r.path.is_dir()


def test_an_fp32_import_gives_transformers_tokens(tmp_path: Path, models: Path) -> None:
    expected = json.loads((FIXTURES / "expected.json").read_text())
    r = import_model(make("fp32-split-onnx", tmp_path / "e"), name="fp32", quantize=False)
    got = caption_tokens(r.path)
    checked = 0
    for image, by_setting in got.items():
        for setting, tokens in by_setting.items():
            assert tokens == expected["images"][image]["torch_fp32"][setting]["token_ids"]
            checked += 1
    assert checked >= 30


def test_a_quantized_import_gives_the_recorded_tokens(tmp_path: Path, models: Path) -> None:
    recorded = json.loads(RECORD.read_text())["tokens"]
    r = import_model(make("fp32-split-onnx", tmp_path / "e"), name="int8")
    assert caption_tokens(r.path) == recorded
    assert any(len(t) > 3 for per in recorded.values() for t in per.values())


def test_the_cli_imports_lists_uses_and_removes(
    tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make("fp32-split-onnx", tmp_path / "export")
    assert main(["models", "import", str(src), "--name", "cli", "--no-quantize"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"cli installed in {models / 'cli'}\n  fp32; ")
    assert "optimized graphs derived: decoder_with_past_model.onnx" in out
    assert main(["models", "use", "cli"]) == 0
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert any(r.startswith("* cli ") and "fp32" in r and "imported from" in r for r in rows)
    assert main(["models", "remove", "cli"]) == 0
    assert installed(models) == []
    assert main(["models", "remove", "cli"]) == 2
    assert "no installed model of that name" in capsys.readouterr().err


@pytest.mark.skipif(
    not has_exporter() or importlib.util.find_spec("torch") is None,
    reason="the export extra (torch, optimum) is not installed",
)
@pytest.mark.slow
def test_a_checkpoint_is_exported_then_imported(tmp_path: Path, models: Path) -> None:
    src = make("checkpoint", tmp_path / "ckpt")
    r = import_model(src, name="ckpt")
    assert r.source_kind == "checkpoint" and r.quantization == "INT8"
    assert caption_tokens(r.path)  # it captions


def test_a_checkpoint_without_the_export_extra_is_refused(
    tmp_path: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanocaption_desktop.engine import importer

    src = tmp_path / "ckpt"
    make("fp32-split-root", src)
    for graph in src.glob("*.onnx"):
        graph.unlink()
    (src / "model.safetensors").write_bytes(b"weights")
    monkeypatch.setattr(importer, "has_exporter", lambda: False)
    with pytest.raises(ModelError, match=r"needs the export extra .*optimum-cli export onnx"):
        import_model(src)
    assert installed(models) == []


def test_the_python_api(tmp_path: Path, models: Path) -> None:
    import nanocaption_desktop as nc

    r = nc.import_model(make("fp32-split-root", tmp_path / "e"), name="api", quantize=False)
    assert [m.name for m in nc.list_models()] == ["api"]
    assert nc.Captioner.load("api").bundle.path == r.path
