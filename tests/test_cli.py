"""The command line as a user runs it: a subprocess, real files, exit codes, stderr naming files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fixture_paths import TINY_BUNDLE

FIXTURES = Path(__file__).parent / "fixtures"
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
    done = cli("caption", *map(str, IMAGES), str(bad), "--model", str(TINY_BUNDLE), "--json")
    assert done.returncode == 1
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == len(IMAGES) + 1
    assert all(r["status"] == "ok" and r["caption"] for r in rows[:-1])
    assert rows[-1]["status"] == "failed" and rows[-1]["path"] == str(bad)
    assert str(bad) in done.stderr and "Traceback" not in done.stderr


def test_caption_matches_the_engine(captioner):
    done = cli("caption", str(IMAGES[0]), "--model", str(TINY_BUNDLE), "--json", "--beams", "3")
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
    done = cli("--self-test", "--model", str(TINY_BUNDLE))
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
    done = cli("--model", str(TINY_BUNDLE), "models", "path")
    assert done.returncode == 0 and str(TINY_BUNDLE) in done.stdout


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
    shutil.copytree(TINY_BUNDLE, root, ignore=shutil.ignore_patterns("optimized"))
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


# -- F12: --beams and --max-tokens have upper bounds (engine/limits.py) ------------------------
def test_beams_and_max_tokens_are_bounded_in_caption_and_batch(tmp_path):
    for command in (["caption", str(IMAGES[0])], ["batch", str(FIXTURES / "images")]):
        for flag, value, limit in [
            ("--beams", "17", "at most 16 (MAX_BEAMS)"),
            ("--beams", "100000", "at most 16 (MAX_BEAMS)"),
            ("--max-tokens", "1025", "at most 1024 (MAX_NEW_TOKENS)"),
        ]:
            done = cli(*command, flag, value, "--model", str(TINY_BUNDLE))
            assert done.returncode == 2, (command, flag, done.stderr)
            assert limit in done.stderr and "Traceback" not in done.stderr
            assert done.stdout == ""


def test_max_tokens_past_the_models_positions_is_refused(tmp_path):
    """The tiny model has 64 positions: 63 new tokens at most; 100 made garbage before."""
    out = tmp_path / "out.csv"
    for args in (
        ["caption", str(IMAGES[0])],
        ["batch", str(FIXTURES / "images"), "--csv", str(out)],
    ):
        done = cli(*args, "--max-tokens", "100", "--model", str(TINY_BUNDLE))
        assert done.returncode == 2, done.stderr
        assert "room for 63 new tokens" in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


# -- F14: output that cannot be written is a one-line error and a non-zero code --------------
def cli_redirected(redirect: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI run by a shell with `redirect` (e.g. `>&-`, `>/dev/full`, `>&- 2>&-`)."""
    return subprocess.run(
        ["sh", "-c", f'"$@" {redirect}', "sh", sys.executable, "-m", "nanocaption_desktop", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


OUTPUT_COMMANDS = [
    ["caption", str(IMAGES[0]), "--model", str(TINY_BUNDLE)],
    ["caption", str(IMAGES[0]), "--json", "--model", str(TINY_BUNDLE)],
    ["batch", str(FIXTURES / "images"), "--model", str(TINY_BUNDLE), "--no-resume"],
    ["--version"],
    ["--self-test", "--model", str(TINY_BUNDLE)],
]


def test_closed_stdout_is_an_error_not_silence_or_a_traceback():
    for args in OUTPUT_COMMANDS:
        done = cli_redirected(">&-", *args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, (args, done.stderr)
        assert "cannot write the results to standard output: it is closed" in lines[0]


def test_full_disk_on_stdout_is_a_one_line_error():
    if not Path("/dev/full").exists():
        import pytest

        pytest.skip("no /dev/full here")
    for args in OUTPUT_COMMANDS:
        done = cli_redirected(">/dev/full", *args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Exception ignored" not in done.stderr, (args, done.stderr)
        assert "standard output: No space left on device" in lines[0]


def test_stdout_and_stderr_closed_gives_just_the_code():
    for args in OUTPUT_COMMANDS[:3]:
        assert cli_redirected(">&- 2>&-", *args).returncode == 2, args


def test_closed_stderr_keeps_errors_out_of_the_results(tmp_path):
    """With stderr closed, print(file=sys.stderr) would fall back to stdout: it must not."""
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    done = cli_redirected("2>&-", "caption", str(IMAGES[0]), str(bad), "--model", str(TINY_BUNDLE))
    assert done.returncode == 1
    assert done.stdout.count("\n") == 1 and str(bad) not in done.stdout


def test_a_reader_that_leaves_early_is_quiet():
    """`caption ... | head`: the pipe breaks; no traceback, no "Exception ignored" at exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanocaption_desktop", "caption", *map(str, IMAGES)]
        + ["--model", str(TINY_BUNDLE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first caption
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141  # 128 + SIGPIPE, as `batch` reports it
    assert err == ""


def test_the_window_does_not_need_a_stdout_reader(tmp_path):
    """Launched with stdout closed (a desktop launcher, pythonw), the window's smoke-test line
    used to raise inside Qt (an error dialog; here a hang) instead of being dropped."""
    import os

    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        NANOCAPTION_DATA_DIR=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        NANOCAPTION_QUIT_AFTER_READY="1",
    )
    done = subprocess.run(
        ["sh", "-c", '"$@" >&-', "sh", sys.executable, "-m", "nanocaption_desktop"]
        + ["gui", "--model", str(TINY_BUNDLE)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "standard output" not in done.stderr


def test_paths_without_a_command_open_the_window(tmp_path, monkeypatch):
    """`nanocaption-desktop photo.jpg folder/` (a desktop entry's %F) is the window with them;
    a command name wins over a file of that name; a typo is still a usage error."""
    from nanocaption_desktop.cli import _command_names, build_parser, main, window_argv

    commands, valued = _command_names(build_parser())
    assert {"gui", "caption", "batch", "models"} <= commands and "--model" in valued
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(b"x")
    (tmp_path / "caption").write_bytes(b"x")
    assert window_argv(["photo.jpg", "."], commands, valued) == ["gui", "photo.jpg", "."]
    assert window_argv(["--model", "m", "photo.jpg"], commands, valued) == [
        "--model", "m", "gui", "photo.jpg"
    ]  # fmt: skip
    assert window_argv(["caption", "photo.jpg"], commands, valued)[0] == "caption"
    assert window_argv(["./caption"], commands, valued) == ["gui", "./caption"]
    assert window_argv(["captoin"], commands, valued) == ["captoin"]  # argparse names it
    assert window_argv(["--", "caption"], commands, valued) == ["gui", "--", "caption"]
    got: dict = {}

    def fake_run(argv, **kw):  # where the window would open: what it was given
        got.update(argv=argv, **kw)
        return 0

    monkeypatch.setattr("nanocaption_desktop.gui.app.run", fake_run)
    assert main(["--appearance", "dark", "--quit-after-ready", "photo.jpg"]) == 0
    assert got["argv"][1:] == [str(tmp_path / "photo.jpg")]
    assert got["appearance"] == "dark" and got["quit_after"] == "1"
    assert main(["captoin"]) == 2
