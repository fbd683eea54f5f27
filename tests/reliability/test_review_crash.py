"""Issue 15's crash test: a real app process edits captions on the Review page (scripted through
``NANOCAPTION_REVIEW_SCRIPT``, the same editor and table a person uses), is killed with SIGKILL,
and every edit made more than a second before the kill is there after a restart."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixture_paths import IMAGES_DIR, TINY_BUNDLE

pytest.importorskip("PySide6")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

READY = "NanoCaption ready"


def _launch(tmp_path: Path, script: Path) -> subprocess.Popen[str]:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        NANOCAPTION_DATA_DIR=str(tmp_path / "userdata"),
        NANOCAPTION_REVIEW_SCRIPT=str(script),
    )
    env.pop("NANOCAPTION_QUIT_AFTER_READY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanocaption_desktop", "--model", str(TINY_BUNDLE)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks until the app says it is on screen
        if line.startswith(READY):
            return proc
    raise AssertionError(f"the app exited ({proc.wait()}) before it was ready")


def _acks(script: Path) -> int:
    try:
        return len(Path(str(script) + ".done").read_text().split())
    except FileNotFoundError:
        return 0


def _send(script: Path, proc: subprocess.Popen[str], command: dict) -> float:
    """Append a command and return the moment the app acknowledged it (the app polls the file
    every 50 ms; there is no other channel into a separate process to wait on)."""
    before = _acks(script)
    with script.open("a", encoding="utf-8") as f:
        f.write(json.dumps(command) + "\n")
    deadline = time.monotonic() + 60
    while _acks(script) == before:
        assert proc.poll() is None, "the app died"
        assert time.monotonic() < deadline, f"no answer to {command}"
        time.sleep(0.02)
    return time.monotonic()


@pytest.mark.slow
def test_edits_older_than_a_second_survive_sigkill(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    names = sorted(p.name for p in IMAGES_DIR.iterdir())
    for name in names:
        shutil.copy(IMAGES_DIR / name, folder / name)
    script = tmp_path / "script.jsonl"
    script.touch()
    proc = _launch(tmp_path, script)
    try:
        _send(script, proc, {"open": str(folder)})
        edits = {}
        for n, name in enumerate(names[:4]):
            text = f"Edit number {n} of {name}"
            edits[str(folder / name)] = text
            _send(script, proc, {"edit": str(folder / name), "text": text})
        _send(script, proc, {"approve": str(folder / names[0])})
        last = _send(script, proc, {"edit": str(folder / names[1]), "text": "Changed again"})
        edits[str(folder / names[1])] = "Changed again"
        # the requirement: what was done more than a second ago survives the kill
        time.sleep(max(0.0, 1.05 - (time.monotonic() - last)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.communicate()  # closes its pipe
    assert proc.returncode == -signal.SIGKILL
    # restart the app on the same folder: the Review page shows what was typed
    script2 = tmp_path / "script2.jsonl"
    script2.touch()
    dump = tmp_path / "dump.json"
    proc = _launch(tmp_path, script2)
    try:
        _send(script2, proc, {"open": str(folder)})
        _send(script2, proc, {"dump": str(dump)})
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    shown = json.loads(dump.read_text())
    for path, text in edits.items():
        state, got = shown[os.path.realpath(path)]
        assert got == text
    assert shown[os.path.realpath(folder / names[0])][0] == "approved"
    assert shown[os.path.realpath(folder / names[1])][0] == "edited"
