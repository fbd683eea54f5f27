"""Review page benchmark (issue 15). Not collected by pytest (``bench_*.py``).

    QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_review.py [--items 10000] [--batch 200]

1. **Open**: a folder of N images whose workspace store holds a caption and a state for each
   is opened in the window (``ReviewPage.open_folder``: scan and store read off the GUI thread,
   then the table reset); the time until the rows are on the page, and the longest stall of a
   10 ms ``QTimer`` heartbeat on the GUI thread meanwhile.
2. **Editing during a batch**: a batch runs over M images (tiny model) while the table scrolls
   a page every 30 ms and a character is typed into the caption editor every 40 ms; the longest
   heartbeat gap (what a person feels as a freeze) and the 99th percentile.

Printed, never asserted (the machine is shared); the issue's bars are < 1 s and < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fixture_paths
from fixture_paths import IMAGES_DIR, TINY_BUNDLE  # noqa: E402


class Heartbeat:
    """A 10 ms timer on the GUI thread; the gaps between its ticks, in ms."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000)
        self._last = now

    def summary(self) -> str:
        gaps = sorted(self.gaps) or [0.0]
        p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
        return f"longest GUI stall {gaps[-1]:.0f} ms, p99 {p99:.0f} ms over {len(gaps)} ticks"


def spin_until(app, done, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        app.processEvents()
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(0.001)


def make_folder(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    source = IMAGES_DIR / "gradient.png"
    for i in range(n):
        os.link(source, folder / f"img_{i:05d}.png")  # one inode: a fast 10,000-file folder


def fill_store(folder: Path) -> None:
    """Every image captioned, a third approved: what a reviewed folder's store holds."""
    from nanocaption_desktop.review import approve, captioned, open_folder

    with open_folder(folder) as live:
        items = list(live.workspace.items.values())
        done = [captioned(i, f"a picture number {n}", -0.5, None) for n, i in enumerate(items)]
        done = [approve(i) if n % 3 == 0 else i for n, i in enumerate(done)]
        live.apply(*done)


def make_window():
    from PySide6.QtCore import QSettings

    from nanocaption_desktop.gui.settings import Settings
    from nanocaption_desktop.gui.window import MainWindow
    from nanocaption_desktop.gui.worker import CaptionWorker

    worker = CaptionWorker()
    worker.start()
    settings = Settings(
        QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    )
    window = MainWindow(settings, worker, str(TINY_BUNDLE))
    window.resize(1200, 800)
    window.show()
    window.review.ask_before_quitting = lambda: "quit"
    return window


def bench_open(app, window, beat: Heartbeat, root: Path, n: int) -> None:
    folder = root / "big"
    t = time.perf_counter()
    make_folder(folder, n)
    fill_store(folder)
    print(f"prepared {n} images and their store in {time.perf_counter() - t:.1f} s")
    beat.start()
    t = time.perf_counter()
    window.review.open_folder(str(folder))
    spin_until(app, lambda: window.review.model.rowCount() == n)
    opened = time.perf_counter() - t
    window.tabs.setCurrentWidget(window.review.panel)
    spin_until(app, lambda: True)
    beat.stop()
    print(f"open {n} images: on the page in {opened * 1000:.0f} ms; {beat.summary()}")


def bench_batch(app, window, beat: Heartbeat, root: Path, m: int) -> None:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest

    folder = root / "batch"
    folder.mkdir()
    sources = sorted(IMAGES_DIR.iterdir())
    for i in range(m):
        src = sources[i % len(sources)]
        shutil.copy(src, folder / f"p{i:04d}{src.suffix}")
    spin_until(app, lambda: window.model.state == "ready", 120)
    finished = []
    window.batch_done.connect(finished.append)
    window.batch_panel.set_folder(str(folder))
    window.batches.start()
    window.tabs.setCurrentWidget(window.review.panel)
    table, editor = window.review.panel.table, window.review.panel.editor
    scroll, typing = QTimer(), QTimer()
    steps = {"n": 0}

    def scroll_page() -> None:
        steps["n"] += 1
        QTest.keyClick(table, Qt.Key.Key_PageDown if steps["n"] % 20 < 10 else Qt.Key.Key_PageUp)

    scroll.timeout.connect(scroll_page)
    typing.timeout.connect(lambda: QTest.keyClick(editor, Qt.Key.Key_A))
    beat.start()
    scroll.start(30)
    typing.start(40)
    t = time.perf_counter()
    spin_until(app, lambda: bool(finished))
    scroll.stop()
    typing.stop()
    beat.stop()
    print(
        f"batch of {m} in {time.perf_counter() - t:.1f} s while scrolling and typing: "
        f"{beat.summary()}; {window.review.model.rowCount()} rows on the page"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-review-"))
    os.environ.setdefault("NANOCAPTION_DATA_DIR", str(root / "userdata"))
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    window = make_window()
    window.model.start()
    beat = Heartbeat()
    try:
        bench_open(app, window, beat, root, args.items)
        bench_batch(app, window, beat, root, args.batch)
    finally:
        window.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
