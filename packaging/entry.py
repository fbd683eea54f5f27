"""Entry script of the frozen executable: PyInstaller runs this file as ``__main__``.

The executable is the same program as the ``nanocaption-desktop`` command (``cli.main``). Order
matters here:

0. ``ORT_DISABLE_TELEMETRY=1`` (unless set), before anything loads onnxruntime.
1. ``multiprocessing.freeze_support()`` first: the image decoders run in spawned worker processes
   (engine/isolation.py), which start this same executable; a worker must stop here, before it
   pays for onnxruntime or Qt.
2. ``onnxruntime`` before anything that loads Qt: on Windows, Qt and onnxruntime ship different
   copies of some DLLs and the first one loaded wins (a known onnxruntime + PySide6 problem).
3. The bundled model's files get back their modification times (``mtimes.json``, written by
   build.py): PyInstaller unpacks them with new ones, and engine/derive/cache.py compares a decoder
   pair with its source by size and time (the executable ships the pair alone, checked by size;
   a build with the stock graph inside, when no pair could be derived, needs the times).
4. A model kept beside the executable (``build.py --model-beside``): when the archive carries no
   model and ``models/vit-gpt2`` sits next to the executable, point the app at it, unless the user
   already chose one (``NANOCAPTION_MODEL_DIR``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from pathlib import Path

BUNDLE = ("models", "vit-gpt2")
MODEL_DIR_ENV = "NANOCAPTION_MODEL_DIR"  # modelstore.locate.MODEL_DIR_ENV
MTIMES = "mtimes.json"


def _restore_mtimes() -> None:
    """Put back the recorded modification times of the unpacked model files (cheap: ~20 files)."""
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass is None:
        return
    root = Path(meipass, *BUNDLE)
    try:
        recorded = json.loads((root / MTIMES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for rel, mtime_ns in recorded.items():
        path = root / rel
        if ".." in Path(rel).parts or not isinstance(mtime_ns, int):
            continue
        try:
            os.utime(path, ns=(mtime_ns, mtime_ns))
        except OSError:
            pass


def _model_beside_executable() -> Path | None:
    """``<folder of the executable>/models/vit-gpt2`` when the archive has no model inside."""
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass is None or Path(meipass, *BUNDLE).is_dir():
        return None
    here = Path(sys.executable).resolve().parent
    # a macOS .app keeps data in Contents/Resources, the executable in Contents/MacOS
    for folder in (here / Path(*BUNDLE), here.parent / "Resources" / Path(*BUNDLE)):
        if (folder / "config.json").is_file():
            return folder
    return None


def main() -> int:
    # onnxruntime's telemetry off before it loads, unless the user chose (ground/privacy.py)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    multiprocessing.freeze_support()  # a spawned decode worker runs its job and exits in here
    import onnxruntime  # noqa: F401  before Qt (DLL load order on Windows)

    _restore_mtimes()

    if not os.environ.get(MODEL_DIR_ENV, "").strip():
        beside = _model_beside_executable()
        if beside is not None:
            os.environ[MODEL_DIR_ENV] = str(beside)

    from nanocaption_desktop.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
