"""Time from launching the executable to its window's ready line, cold and warm (README figures).

    python packaging/measure_startup.py dist/nanocaption-desktop [other builds...] [--runs 5]

Each run starts the executable with no arguments (the window, offscreen) and
``NANOCAPTION_QUIT_AFTER_READY=model``, and records when ``NanoCaption ready: window shown`` and
``NanoCaption model: ready`` appear on stdout and when the process has exited (a one-file
executable deletes its unpacked files on exit). "Cold" runs first drop the executable (and a model
kept beside it, ``models/`` next to the executable) from the page cache with
``posix_fadvise(DONTNEED)`` (Linux; other systems: warm only), which is what a first launch after a
reboot or a fresh download sees.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY = "NanoCaption ready: window shown"
MODEL = "NanoCaption model: "


def evict(paths: list[Path]) -> None:
    """Drop these files from the page cache (clean pages only; needs no privileges)."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in paths:
        for f in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
            fd = os.open(f, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def one_run(
    command: Path | list[str], env: dict[str, str], timeout: float = 300
) -> dict[str, float]:
    """Seconds from spawning `command` (an executable, or a whole command line) to the window's
    ready line ("window"), the model's line ("model") and the process's exit ("exit")."""
    argv = [str(command)] if isinstance(command, Path) else list(command)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    got: dict[str, float] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - t0
        if line.startswith(READY):
            got["window"] = now
        elif line.startswith(MODEL):
            got["model"] = now
            if "ready" not in line:
                got["model_state"] = line.strip()  # type: ignore[assignment]
        if now > timeout:
            proc.kill()
            break
    proc.wait(timeout)
    got["exit"] = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0 or "window" not in got:
        raise SystemExit(f"run failed (exit {proc.returncode}): {got}\n{err[-3000:]}")
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "exe",
        type=Path,
        nargs="+",
        help="executables, measured in turn (fairer on a busy machine than one after the other)",
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    args = ap.parse_args()
    exes = [e.resolve() for e in args.exe]
    results: dict[Path, dict[str, list[dict[str, float]]]] = {
        e: {"cold": [], "warm": []} for e in exes
    }
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "NANOCAPTION_DATA_DIR": tmp,
            "NANOCAPTION_QUIT_AFTER_READY": "model",
        }
        env.pop("NANOCAPTION_MODEL_DIR", None)
        for _ in range(args.runs):
            for exe in exes:  # a model kept beside the executable is dropped from the cache too
                evict([exe] + ([exe.parent / "models"] if (exe.parent / "models").is_dir() else []))
                results[exe]["cold"].append(one_run(exe, env))
        for exe in exes:
            one_run(exe, env)  # warm-up
        for _ in range(args.runs):
            for exe in exes:
                results[exe]["warm"].append(one_run(exe, env))
    print(f"{args.runs} runs each, median seconds from launch to: window shown, model ready, exit")
    for exe, kinds in results.items():
        size = exe.stat().st_size / 1e6
        print(f"{exe} ({size:.0f} MB)")
        for kind, runs in kinds.items():
            med = {k: statistics.median(r[k] for r in runs) for k in ("window", "model", "exit")}
            print(f"  {kind:6}{med['window']:8.2f}{med['model']:8.2f}{med['exit']:8.2f}")
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
