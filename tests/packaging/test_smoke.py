"""Smoke test of the single-file executable, run like a release: build it, then use it.

Builds with ``packaging/build.py --model tests/fixtures/tiny-vit-gpt2`` into a temporary folder
(about 1-2 minutes on two cores), then runs the binary: ``--version``, ``--self-test``,
``caption --json`` (same caption and tokens as the engine in this process), ``batch`` on the
fixture images (decoded in spawned worker processes, frozen), and the window offscreen until its
ready line. Any ``ModuleNotFoundError``, missing Qt plugin or traceback in any output fails.

Skipped unless PyInstaller is installed (``pip install -e '.[build]'``);
``NANOCAPTION_REQUIRE_PACKAGING=1`` turns the skip into a failure (CI).
``NANOCAPTION_EXE=path`` tests an executable built before instead of building one.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE

pytestmark = [pytest.mark.packaging, pytest.mark.slow]  # the build takes about 50 s

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "fixtures" / "images"
BUILD_TIMEOUT = 900
RUN_TIMEOUT = 180

# What must never appear in the executable's output.
BAD_OUTPUT = re.compile(
    r"Traceback \(most recent call last\)|ModuleNotFoundError|No module named|ImportError"
    r"|Could not (find|load) the Qt platform plugin|Cannot load library|QFactoryLoader"
    r"|Failed to execute script|\[PYI-\d+:ERROR\]|unhandled exception"
)


def _pyinstaller_available() -> bool:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("NANOCAPTION_EXE", "").strip()
    if given:
        path = Path(given).resolve()
        assert path.is_file(), f"NANOCAPTION_EXE={given} is not a file"
        return path
    if not _pyinstaller_available():
        if os.environ.get("NANOCAPTION_REQUIRE_PACKAGING", "") not in ("", "0"):
            pytest.fail("PyInstaller is not installed and NANOCAPTION_REQUIRE_PACKAGING is set")
        pytest.skip("PyInstaller is not installed (pip install -e '.[build]')")
    out = tmp_path_factory.mktemp("build")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging" / "build.py"),
            "--model",
            str(TINY_BUNDLE),
            "--dist",
            str(out / "dist"),
            "--work",
            str(out / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, f"build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    assert "== size report" in proc.stdout
    path = (
        out
        / "dist"
        / ("nanocaption-desktop.exe" if sys.platform == "win32" else "nanocaption-desktop")
    )
    assert path.is_file()
    staged = out / "work" / "model" / "vit-gpt2"
    assert (staged / "optimized" / "decoder_with_past_model_quantized" / "step.onnx").is_file()
    assert not (staged / "onnx" / "decoder_with_past_model_quantized.onnx").exists()  # pair only
    assert (staged / "optimized" / "encoder_model_quantized" / "encoder.onnx").is_file()
    assert not (staged / "onnx" / "encoder_model_quantized.onnx").exists()  # derived copy only
    # each derived graph's weights ship beside it (memory-mapped at run time), in the manifest
    listed = json.loads((staged / "manifest.json").read_text())["files"]
    for graph in (
        "decoder_with_past_model_quantized/step.onnx",
        "encoder_model_quantized/encoder.onnx",
    ):
        data = staged / "optimized" / f"{graph}.data"
        assert data.stat().st_size > 0 and f"optimized/{graph}.data" in listed, listed
    # and the rows graph that folder batches decode several images per step on (no `onnx`
    # inside to derive it there)
    rows = "optimized/decoder_with_past_model_quantized/optimized/step/rows.onnx"
    assert {rows, f"{rows}.data"} <= set(listed), listed
    return path


@pytest.fixture
def run(exe: Path, tmp_path: Path):
    """Run the executable in a clean environment; checks that its output is clean."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANOCAPTION_")}
    env.update(
        NANOCAPTION_DATA_DIR=str(tmp_path / "userdata"),
        QT_QPA_PLATFORM="offscreen",
        PYTHONUNBUFFERED="1",
    )
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):  # nothing of this checkout's Python
        env.pop(var, None)
    env.pop("ORT_DISABLE_TELEMETRY", None)  # set by importing the package here: the exe must

    def _run(
        *args: str, extra_env: dict[str, str] | None = None, expect: int = 0
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(exe), *args],
            cwd=tmp_path,
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=RUN_TIMEOUT,
            check=False,
        )
        output = proc.stdout + proc.stderr
        assert not BAD_OUTPUT.search(output), f"{args}: bad output:\n{output[-6000:]}"
        assert proc.returncode == expect, f"{args}: exit code {proc.returncode}:\n{output[-6000:]}"
        return proc

    return _run


def test_version(run) -> None:
    from nanocaption_desktop import __version__

    out = run("--version").stdout
    assert out.splitlines()[0] == f"nanocaption-desktop {__version__}"
    for part in ("onnxruntime", "numpy", "PIL", "tokenizers", "PySide6"):
        assert re.search(rf"^{part} \d", out, re.M), out
    assert "not available" not in out


def test_self_test_uses_the_bundled_model(run) -> None:
    proc = run("--self-test", "-v")
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("NanoCaption self-test OK: model vit-gpt2 at "), proc.stdout
    assert re.search(r"[\\/]models[\\/]vit-gpt2\b", line), line
    # the optimized graphs shipped inside are used as they are (no `onnx` needed in the exe)
    assert "stock decoder graph" not in proc.stderr, proc.stderr
    assert "decoder: hoisted pair; encoder: patches as a matrix product" in proc.stderr, proc.stderr


def test_models_verify_inside(run) -> None:
    assert "OK" in run("models", "verify").stdout


def test_caption_json_matches_the_engine_in_process(run) -> None:
    from nanocaption_desktop.engine import Captioner

    images = [IMAGES / "sun_and_grass.jpg", IMAGES / "blocks.webp"]
    out = run("caption", *map(str, images), "--json").stdout
    got = [json.loads(line) for line in out.splitlines()]
    captioner = Captioner.load(TINY_BUNDLE)
    assert len(got) == len(images)
    for image, row in zip(images, got, strict=True):
        want = captioner.caption(image)
        assert row["status"] == "ok", row
        assert row["model"] == "vit-gpt2"
        assert (row["caption"], row["token_ids"]) == (want.text, list(want.token_ids)), image


def test_batch_on_the_fixture_folder(run, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in IMAGES.iterdir():
        (folder / image.name).write_bytes(image.read_bytes())
    out_csv = tmp_path / "captions.csv"
    proc = run("-v", "batch", str(folder), "--csv", str(out_csv))  # frozen decode workers
    # several images per weight pass, on the rows graph shipped inside
    assert "decoder: hoisted pair, rows graph" in proc.stderr, proc.stderr[-3000:]
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(Path(r["path"]).name for r in rows) == sorted(p.name for p in IMAGES.iterdir())
    assert all(r["status"] == "ok" and r["caption"] for r in rows), rows


def test_window_offscreen_until_ready(run) -> None:
    proc = run(extra_env={"NANOCAPTION_QUIT_AFTER_READY": "model"})
    lines = proc.stdout.splitlines()
    assert "NanoCaption ready: window shown" in lines, proc.stdout
    assert "NanoCaption model: ready vit-gpt2" in lines, proc.stdout


def test_heic_and_a_camera_size_jpeg_caption_inside(run, tmp_path: Path) -> None:
    """pi-heif's libheif + libde265 are collected (and no x265); a large JPEG decodes at a
    reduced scale in the frozen decode worker."""
    from PIL import Image

    big = tmp_path / "camera.jpg"
    Image.new("RGB", (11648, 8736), (40, 90, 160)).save(big, quality=20)
    heic = ROOT / "tests" / "fixtures" / "heic" / "photo.heic"
    out = run("caption", str(heic), str(big), "--json").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in rows] == ["ok", "ok"], rows


def test_licences_of_the_bundled_lgpl_libraries_are_inside(run) -> None:
    out = run("--licenses").stdout
    for name in ("Qt 6", "PySide6", "libheif", "libde265", "LGPL-3.0"):
        assert name in out, out
    assert "x265 (GPL-2.0)" in out  # said to be absent, and why
    listed = out.rsplit("Full texts in ", 1)[1]
    folder, files = listed.split(": ", 1)
    assert "_MEI" in folder or "nanocaption" in folder.lower(), folder  # the unpacked archive
    for name in ("LGPL-3.0.txt", "GPL-3.0.txt", "NOTICE.txt", "pi-heif/LICENSES_bundled.txt"):
        assert name in files, files


def test_no_telemetry_files_from_the_executable(run, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    run("caption", str(IMAGES / "sun_and_grass.jpg"), extra_env=env)
    assert not (home / ".cache" / "Microsoft").exists()
