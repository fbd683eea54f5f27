"""The ``batch`` command's one-line progress bar on a terminal (standard error)."""

from __future__ import annotations

import shutil
from typing import TextIO

from .jobs import BatchProgress


class Bar:
    """A one-line progress bar on a terminal (stderr); silent otherwise."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.shown = False

    def update(self, p: BatchProgress) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((80, 20)).columns
        rate = f"{p.rate:.1f} img/s" if p.rate else "-- img/s"
        eta = f"ETA {clock(p.eta)}" if p.eta is not None else "ETA --"
        tail = f" {rate}  {eta}  {p.failed} failed"
        if p.total:
            count = f"{p.finished}/{p.total}"
            room = max(10, min(30, width - len(count) - len(tail) - 6))
            fill = int(room * min(1.0, p.finished / p.total))
            line = f"{count} [{'#' * fill}{'.' * (room - fill)}]{tail}"
        else:
            line = f"{p.finished} images{tail}"
        self.stream.write("\r" + line[: width - 1].ljust(width - 1))
        self.stream.flush()
        self.shown = True

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.shown:
            width = shutil.get_terminal_size((80, 20)).columns
            self.stream.write("\r" + " " * (width - 1) + "\r")
            self.shown = False


def clock(seconds: float | None) -> str:
    s = int(round(seconds or 0))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"
