"""Issue 15 from outside the app, under a real X server: a real XDND drop of a folder
(``/work/shared/tools/xdnd_source.py``), xdotool keys, ExifTool and xclip. Not a test (pytest
does not collect it); prints each step and exits 1 on the first that fails.

    Xvfb :97 -screen 0 1600x1000x24 &  DISPLAY=:97 openbox &
    DISPLAY=:97 python tests/gui/review_under_x.py [--tools /work/shared/tools]

1. drop a folder; 2. F2, type a caption, Ctrl+Enter, Ctrl+S; 3. the photo's alt text holds the
typed text (exiftool); 4. Ctrl+Q, relaunch, drop the same folder; 5. Ctrl+Shift+C gives the typed
text (xclip), not a new model caption.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fixture_paths
from fixture_paths import IMAGES_DIR, TINY_BUNDLE  # noqa: E402

TYPED = "A person typed this caption"


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def wait(what: str, done, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"FAILED: {what}")
        time.sleep(0.2)
    print("ok:", what, flush=True)


def launch(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanocaption_desktop", "--model", str(TINY_BUNDLE)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("NanoCaption ready"):
            break
    window = ""

    def found() -> bool:
        nonlocal window
        try:
            window = sh("xdotool", "search", "--onlyvisible", "--name", "^NanoCaption")
        except subprocess.CalledProcessError:
            return False
        return bool(window)

    wait("the window is on screen", found)
    wid = window.split()[0]
    sh("xdotool", "windowmove", wid, "400", "50")
    sh("xdotool", "windowsize", wid, "1100", "800")
    sh("xdotool", "windowactivate", "--sync", wid)
    return proc


def drop(tools: Path, folder: Path, env: dict[str, str]) -> None:
    source = subprocess.Popen([sys.executable, str(tools / "xdnd_source.py"), str(folder)], env=env)
    time.sleep(1.5)  # its window maps at 0,0 (no signal to wait on from another process)
    for x, y in ((80, 60), (200, 200), (600, 300), (900, 450), (950, 460)):
        sh("xdotool", "mousemove", str(x), str(y))
        if (x, y) == (80, 60):
            sh("xdotool", "mousedown", "1")
        time.sleep(0.15)
    sh("xdotool", "mouseup", "1")
    time.sleep(0.5)
    source.terminate()
    source.wait()


def captioned(folder: Path) -> bool:
    store = folder / ".nanocaption-workspace.jsonl"
    text = store.read_text(encoding="utf-8") if store.exists() else ""
    return text.count('"state": "captioned"') + text.count('"state":"captioned"') >= 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tools", default="/work/shared/tools")
    args = parser.parse_args()
    tools = Path(args.tools)
    work = Path(tempfile.mkdtemp(prefix="nc-review-x-"))
    folder = work / "photos"
    folder.mkdir()
    shutil.copy(IMAGES_DIR / "sun_and_grass.jpg", folder / "a_sun.jpg")
    shutil.copy(IMAGES_DIR / "gradient.png", folder / "b_gradient.png")
    env = dict(os.environ, NANOCAPTION_DATA_DIR=str(work / "userdata"))
    env.pop("QT_QPA_PLATFORM", None)
    photo = folder / "a_sun.jpg"

    app = launch(env)
    drop(tools, folder, env)
    wait("the dropped folder was captioned (its workspace store)", lambda: captioned(folder))
    time.sleep(1)  # the batch's last rows reach the page
    for keys in (["F2"], ["ctrl+a"]):
        sh("xdotool", "key", *keys)
    sh("xdotool", "type", "--delay", "20", TYPED)
    sh("xdotool", "key", "ctrl+Return")
    sh("xdotool", "key", "ctrl+s")

    def alt_text() -> str:
        return sh("exiftool", "-s3", "-XMP-iptcCore:AltTextAccessibility", str(photo))

    wait("exiftool reads the typed text as the photo's alt text", lambda: alt_text() == TYPED)
    sh("xdotool", "key", "ctrl+q")
    wait("Ctrl+Q quit the app", lambda: app.poll() is not None)
    app.communicate()

    app = launch(env)
    drop(tools, folder, env)
    time.sleep(3)  # the workspace opens and the batch resumes (nothing to wait on outside)
    sh("xdotool", "key", "ctrl+shift+c")

    def clipboard() -> str:
        try:
            return sh("xclip", "-o", "-selection", "clipboard")
        except subprocess.CalledProcessError:
            return ""

    wait("Ctrl+Shift+C after the relaunch gives the typed text", lambda: clipboard() == TYPED)
    sh("xdotool", "key", "ctrl+q")
    wait("quit again", lambda: app.poll() is not None)
    app.communicate()
    shutil.rmtree(work, ignore_errors=True)
    print("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
