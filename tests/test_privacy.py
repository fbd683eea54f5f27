"""Private, for real (issue 16): a caption, a batch and the window, each in a real process with a
fresh HOME (and every XDG folder inside it), create nothing outside the app's own folders (no
``~/.cache/Microsoft/DeveloperTools/.onnxruntime``) and open no network socket.

Sockets are seen by ``strace -f`` (every process and thread, native code included: onnxruntime's
telemetry would be C++, which a Python audit hook cannot see); a connect, bind or send on an
AF_INET/AF_INET6 socket fails the test. AF_UNIX (the single-instance server, D-Bus) is fine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_paths import IMAGES_DIR, TINY_BUNDLE

STRACE = shutil.which("strace")
INET = re.compile(r"^.*\b(connect|bind|sendto|sendmsg)\(.*sa_family=AF_INET6?\b.*$", re.M)
APP_FOLDER = re.compile(r"nanocaption", re.IGNORECASE)

USES = {
    "caption": ["caption", "--model", "{bundle}", "{photos}/gradient.png"],
    "batch": ["batch", "{photos}", "--model", "{bundle}", "--csv", "{out}/captions.csv"],
    "window": ["gui", "--model", "{bundle}", "{photos}/sun_and_grass.jpg"],
}


def _ptrace_works() -> bool:
    if STRACE is None:
        return False
    done = subprocess.run([STRACE, "-qq", "-e", "trace=none", "true"], capture_output=True)
    return done.returncode == 0


TRACED = _ptrace_works()


@pytest.fixture
def fresh_home(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    runtime = home / "run"
    runtime.mkdir(parents=True, mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "NANOCAPTION_"))}
    env.pop("ORT_DISABLE_TELEMETRY", None)  # the app must set it itself
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_RUNTIME_DIR=str(runtime),
        QT_QPA_PLATFORM="offscreen",
        NANOCAPTION_QUIT_AFTER_READY="model",  # the window loads the model, then quits
    )
    return env


@pytest.mark.parametrize("use", sorted(USES))
def test_nothing_is_written_outside_the_apps_folders_and_no_socket_opens(
    tmp_path: Path, fresh_home: dict[str, str], use: str
):
    bundle = tmp_path / "bundle"  # installed by hand: the probe process runs too
    shutil.copytree(TINY_BUNDLE, bundle)
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    out.mkdir()
    for name in ("gradient.png", "sun_and_grass.jpg"):
        shutil.copy(IMAGES_DIR / name, photos / name)
    args = [a.format(bundle=bundle, photos=photos, out=out) for a in USES[use]]
    argv = [sys.executable, "-m", "nanocaption_desktop", *args]
    trace = tmp_path / "trace.txt"
    if TRACED:
        calls = "trace=connect,bind,sendto,sendmsg"
        argv = [STRACE, "-f", "-qq", "-e", calls, "-e", "signal=none", "-o", str(trace), *argv]
    done = subprocess.run(
        argv, env=fresh_home, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    home = Path(fresh_home["HOME"])
    made = sorted(
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p.is_file() and not APP_FOLDER.search(str(p.relative_to(home)))
    )
    assert made == [], f"{use} wrote outside the app's folders: {made}"
    assert not (home / ".cache" / "Microsoft").exists()
    if not TRACED:
        pytest.skip("strace cannot trace here: files checked, sockets not")
    inet = [m.group(0) for m in INET.finditer(trace.read_text(errors="replace"))]
    assert inet == [], f"{use} used the network: {inet[:5]}"
    if use == "window":
        assert "model: ready" in done.stdout + done.stderr


def test_the_socket_pattern_catches_inet_and_lets_unix_pass():
    """The detector itself, on lines in strace's own format."""
    trace = "\n".join(
        [
            '7 connect(3, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("1.2.3.4")}'
            ", 16) = -1 ENETUNREACH",
            '7 sendto(5, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(53)}, 28) = 1',
            '8 bind(4, {sa_family=AF_UNIX, sun_path=@"nanocaption"}, 6) = 0',
            '8 connect(4, {sa_family=AF_UNIX, sun_path="/run/dbus/system_bus_socket"}, 30) = 0',
        ]
    )
    found = [m.group(1) for m in INET.finditer(trace)]
    assert found == ["connect", "sendto"]
