"""Start the window: ``run(argv)`` is what ``nanocaption-desktop`` with no command calls.

Prints ``NanoCaption ready: window shown`` on stdout once the window is on screen (smoke tests
wait for it). With ``--quit-after-ready`` or ``NANOCAPTION_QUIT_AFTER_READY=1`` the app then
quits cleanly; with the value ``model`` it first waits for the model to load (or be missing) and
prints ``NanoCaption model: <state> <name>``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

READY_LINE = "NanoCaption ready: window shown"
QUIT_ENV = "NANOCAPTION_QUIT_AFTER_READY"
SINGLE_ENV = "NANOCAPTION_SINGLE_INSTANCE"  # 0: every launch opens its own window
APPEARANCE_ENV = "NANOCAPTION_APPEARANCE"  # system | light | dark (overrides the setting)

log = logging.getLogger(__name__)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="nanocaption-desktop", add_help=False)
    parser.add_argument("--model", dest="model_dir", default=None)
    parser.add_argument("--quit-after-ready", nargs="?", const="1", default=None)
    parser.add_argument("--appearance", choices=("system", "light", "dark"), default=None)
    parser.add_argument("files", nargs="*")
    return parser.parse_known_args(argv)


def icon_path() -> Path:
    try:
        from ..paths import resource_path

        path = resource_path("assets", "nanocaption.png")
        if path.is_file():
            return path
    except ImportError:
        pass
    return Path(__file__).resolve().parents[2] / "assets" / "nanocaption.png"


def _say(line: str) -> None:
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (OSError, AttributeError, ValueError):  # no reader (closed, or None under pythonw):
        pass  # the line is for smoke tests; the window must not fail for want of it


def _application(program: str, qt_args: list[str], log_file: Any) -> Any:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from .logsetup import install_excepthook
    from .settings import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication([program, *qt_args])
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("NanoCaption")
    app.setDesktopFileName("nanocaption-desktop")
    icon = icon_path()
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    install_excepthook(log_file)
    return app


def _appearance(app: Any, settings: Any, chosen: str | None) -> None:
    """The start option wins over NANOCAPTION_APPEARANCE, which wins over the setting."""
    from . import theme

    theme.apply(app, chosen or os.environ.get(APPEARANCE_ENV) or settings.appearance())
    theme.follow_system(app, lambda: chosen or settings.appearance())


def _serve(window: Any) -> None:
    """Listen for later launches: their paths open here and the window comes forward."""
    from .single_instance import InstanceServer

    server = InstanceServer(window)
    if server.listen():
        server.paths_received.connect(window.open_paths)
        window.single_instance = server


def run(
    argv: list[str] | None = None,
    *,
    model_dir: str | None = None,
    appearance: str | None = None,
    quit_after: str | None = None,
) -> int:
    """Open the window and run the event loop; returns the exit code.

    ``argv`` is a whole command line, program name first, like ``sys.argv`` (the default):
    ``[prog, "--model", DIR, "--quit-after-ready", "photo.jpg", ...]``; Qt's own options pass
    through to ``QApplication``. The keywords override their options.

    When a window of this user profile runs already, the files go to it and this returns 0
    at once (``single_instance.py``); a smoke test (``quit_after``) always gets its own window.
    """
    argv = list(sys.argv if argv is None else argv)
    program = argv[0] if argv else "nanocaption-desktop"
    args, qt_args = parse_args(argv[1:])
    model_dir = model_dir or args.model_dir
    appearance = appearance or args.appearance
    quit_after = quit_after or args.quit_after_ready or os.environ.get(QUIT_ENV, "").strip()
    if not quit_after or quit_after in ("0", "false", "no"):
        quit_after = None
    files = [os.path.abspath(f) for f in args.files]

    from .compat import protect_singletons

    protect_singletons()  # before any Qt call: PySide6 6.12 on Python 3.11 (see compat.py)
    single = quit_after is None and os.environ.get(SINGLE_ENV, "1").strip() not in ("0", "no")
    if single:
        from .single_instance import hand_over

        if hand_over(files):
            log.info("handed %d path(s) to the running window", len(files))
            return 0
    from PySide6.QtCore import QTimer

    from .logsetup import setup_logging
    from .settings import Settings
    from .window import MainWindow
    from .worker import CaptionWorker

    log_file = setup_logging()
    app = _application(program, qt_args, log_file)
    settings = Settings()
    _appearance(app, settings, appearance)

    worker = CaptionWorker()
    worker.start()
    window = MainWindow(settings, worker, model_dir)
    window.show()
    log.info("window shown; log file %s", log_file)

    def ready() -> None:
        _say(READY_LINE)
        window.model.start()  # after the window is on screen
        if quit_after and quit_after != "model":
            QTimer.singleShot(0, window.close)

    def model_state(state: str) -> None:
        if state == "loading":
            return
        name = window.model.info.name if window.model.info else ""
        _say(f"NanoCaption model: {state} {name}".rstrip())
        if quit_after == "model":
            QTimer.singleShot(0, window.close)

    window.model_state_changed.connect(model_state)
    if single:
        _serve(window)
    if files:
        window.open_paths(files)
    QTimer.singleShot(0, ready)
    code = app.exec()
    _finish(worker)
    return int(code)


def _finish(worker: Any) -> None:
    from .imaging import close_preview_pool
    from .tasks import wait_for_tasks

    worker.shutdown()
    wait_for_tasks()
    close_preview_pool()
