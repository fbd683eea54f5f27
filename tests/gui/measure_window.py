"""Time from process start to the window on screen, over fresh launches (README figure).

    python tests/gui/measure_window.py [--runs 5] [--display :96]

Each run starts the app with the tiny fixture model and ``NANOCAPTION_QUIT_AFTER_READY=model``:
``--entry script`` (default) through the ``nanocaption-desktop`` console script installed next to
this Python (the command line's ``main``, what people launch), ``--entry window`` straight
through ``nanocaption_desktop.gui.run`` (the window's own share). It records when
``NanoCaption ready: window shown`` and ``NanoCaption model: ready`` appear on stdout, measured
from just before the process is spawned. Offscreen unless ``--display`` names an X server.
Not a test (pytest does not collect it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))
from measure_startup import one_run  # noqa: E402  the same timing loop as for the executable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fixture_paths
from fixture_paths import TINY_BUNDLE  # noqa: E402

LAUNCH = "import sys; from nanocaption_desktop.gui import run; sys.exit(run())"


def command(entry: str) -> list[str]:
    if entry == "window":
        return [sys.executable, "-c", LAUNCH, "--model", str(TINY_BUNDLE)]
    script = Path(sys.executable).with_name("nanocaption-desktop")
    return [sys.executable, str(script), "--model", str(TINY_BUNDLE)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--display", default=None, help="an X display (default: offscreen)")
    parser.add_argument("--entry", choices=("script", "window"), default="script")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NANOCAPTION_DATA_DIR": tmp, "NANOCAPTION_QUIT_AFTER_READY": "model"}
        env.pop("NANOCAPTION_MODEL_DIR", None)
        if args.display:
            env["DISPLAY"] = args.display
            env["QT_QPA_PLATFORM"] = "xcb"
        else:
            env["QT_QPA_PLATFORM"] = "offscreen"
        launch = command(args.entry)
        one_run(launch, env)  # warm the page cache: every measured launch is a fresh process
        runs = [one_run(launch, env) for _ in range(args.runs)]
    print(f"entry: {args.entry}, {'X ' + args.display if args.display else 'offscreen'}")
    for key in ("window", "model", "exit"):
        values = sorted(r[key] * 1000 for r in runs)
        print(
            f"{key:7} median {statistics.median(values):6.0f} ms  "
            f"(min {values[0]:.0f}, max {values[-1]:.0f}, {len(values)} fresh launches)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
