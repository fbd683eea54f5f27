"""The command line as a user runs it: a subprocess, real files, exit codes, stderr naming files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
BUNDLE = FIXTURES / "tiny-vit-gpt2"
IMAGES = sorted((FIXTURES / "images").iterdir())


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nanocaption_desktop", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_caption_json_one_object_per_image_and_a_bad_file(tmp_path):
    bad = tmp_path / "readme.jpg"
    bad.write_text("hello")
    done = cli("caption", *map(str, IMAGES), str(bad), "--model", str(BUNDLE), "--json")
    assert done.returncode == 1
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == len(IMAGES) + 1
    assert all(r["status"] == "ok" and r["caption"] for r in rows[:-1])
    assert rows[-1]["status"] == "failed" and rows[-1]["path"] == str(bad)
    assert str(bad) in done.stderr and "Traceback" not in done.stderr


def test_caption_matches_the_engine(captioner):
    done = cli("caption", str(IMAGES[0]), "--model", str(BUNDLE), "--json", "--beams", "3")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["token_ids"] == list(captioner.caption(IMAGES[0], beams=3).token_ids)


def test_usage_and_model_errors_exit_2(tmp_path):
    assert cli("caption").returncode == 2
    assert cli("caption", str(IMAGES[0]), "--beams", "0").returncode == 2
    done = cli("caption", str(IMAGES[0]), "--model", str(tmp_path))
    assert done.returncode == 2 and str(tmp_path) in done.stderr


def test_version_and_self_test():
    done = cli("--version")
    assert done.returncode == 0 and "nanocaption-desktop" in done.stdout
    done = cli("--self-test", "--model", str(BUNDLE))
    assert done.returncode == 0 and "self-test OK" in done.stdout


def test_models_fetch_offline_fails_fast_and_leaves_nothing(tmp_path):
    import os

    env = dict(
        os.environ,
        NANOCAPTION_DATA_DIR=str(tmp_path / "data"),
        NANOCAPTION_HUB_URL="http://127.0.0.1:9",
    )  # discard port: nothing listens
    done = cli("models", "fetch", env=env)
    assert done.returncode == 2
    assert "could not reach" in done.stderr and "--model" in done.stderr
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.onnx*"))


def test_models_path_names_the_bundle():
    done = cli("--model", str(BUNDLE), "models", "path")
    assert done.returncode == 0 and str(BUNDLE) in done.stdout


def test_models_fetch_installs_verifies_optimizes_and_captions(tmp_path):
    """A local server plays the hub (127.0.0.1 only), serving the tiny bundle in the hub's URL
    layout: fetch installs it, verify passes, the optimized pair is derived at install time,
    and the installed model captions like the fixture."""
    import functools
    import http.server
    import os
    import shutil
    import threading

    root = tmp_path / "hub" / "Xenova" / "vit-gpt2-image-captioning" / "resolve" / "main"
    shutil.copytree(BUNDLE, root, ignore=shutil.ignore_patterns("optimized"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path / "hub")
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(
        os.environ,
        NANOCAPTION_DATA_DIR=str(tmp_path / "data"),
        NANOCAPTION_HUB_URL=f"http://127.0.0.1:{server.server_address[1]}",
    )
    env.pop("NANOCAPTION_MODEL_DIR", None)
    try:
        done = cli("models", "fetch", env=env)
        assert done.returncode == 0, done.stderr
        installed = tmp_path / "data" / "models" / "vit-gpt2"
        assert (installed / "manifest.json").is_file()
        assert list((installed / "optimized").rglob("*.onnx")), "optimized at install time"
        assert cli("models", "verify", env=env).returncode == 0
        row = json.loads(cli("caption", str(IMAGES[0]), "--json", env=env).stdout)
    finally:
        server.shutdown()
        server.server_close()
    expected = json.loads((FIXTURES / "expected.json").read_text())
    assert (
        row["token_ids"]
        == expected["images"][IMAGES[0].name]["optimum_int8"]["greedy"]["token_ids"]
    )
