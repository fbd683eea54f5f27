"""A rotating log file in the platformdirs log folder, and an excepthook that points to it."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

LOG_NAME = "nanocaption.log"


def log_dir() -> Path:
    from ..ground.paths import user_log_dir

    return Path(user_log_dir())


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Log to ``<log dir>/nanocaption.log`` (1 MB x 3). Returns the file, or None if unwritable."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            return Path(handler.baseFilename)
    for handler in root.handlers:  # the console keeps showing what it showed before
        if handler.level == logging.NOTSET:
            handler.setLevel(root.level or logging.WARNING)
    root.setLevel(min(root.level or level, level))
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LOG_NAME
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError as exc:
        logging.basicConfig(level=level)
        log.warning("cannot write the log file: %s", exc)
        return None
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    return path


def install_excepthook(log_file: Path | None) -> None:
    """Unexpected exceptions get logged and shown in a dialog that names the log file.

    The dialog always opens on the GUI thread: an exception in another thread reaches it
    through a queued signal.
    """
    from PySide6.QtCore import QObject, Signal

    class _Relay(QObject):
        error = Signal(str)

    relay = _Relay()  # lives in the thread that installs the hook: the GUI thread
    relay.error.connect(lambda text: show_error_dialog(text, log_file))

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        logging.getLogger("nanocaption_desktop").critical(
            "unexpected error", exc_info=(kind, value, tb)
        )
        relay.error.emit("".join(traceback.format_exception_only(kind, value)).strip())

    hook.relay = relay  # type: ignore[attr-defined]  # keep it alive with the hook
    sys.excepthook = hook


def error_box(text: str, log_file: Path | None):  # type: ignore[no-untyped-def]
    """The dialog for an unexpected error: what happened, that the app goes on, the log file."""
    from PySide6.QtWidgets import QMessageBox

    where = f"The details are in the log file:\n{log_file}" if log_file else "No log file."
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        "NanoCaption: unexpected error",
        f"Something went wrong: {text}\n\nThe app keeps running. {where}",
    )
    box.setAccessibleName("Unexpected error")
    return box


def show_error_dialog(text: str, log_file: Path | None) -> None:
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        print(text, file=sys.stderr)
        return
    error_box(text, log_file).exec()
