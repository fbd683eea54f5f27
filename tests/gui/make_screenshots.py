"""Screenshots of the real window under X (Xvfb), as a person sees it.

    Xvfb :97 -screen 0 1600x1000x24 &
    DISPLAY=:97 python tests/gui/make_screenshots.py --size 1280x800 --appearance light

Drives the window through its states (empty, a captioned photo, a running batch, the
missing-model panel) and captures each with ImageMagick's ``import`` from the X server into
``assets/screenshots/<state>-<size>-<appearance>.png``. Not a test (pytest does not collect it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fixture_paths
from fixture_paths import TINY_BUNDLE  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "assets" / "screenshots"
IMAGES = ROOT / "tests" / "fixtures" / "images"


def make_photo(path: Path) -> Path:
    """A photo-like picture (sky, sun, hills) so the preview shows what a real drop looks like."""
    from PIL import Image, ImageDraw, ImageFilter

    img = Image.new("RGB", (1200, 800))
    draw = ImageDraw.Draw(img)
    for y in range(800):
        t = y / 800
        draw.line(
            [(0, y), (1200, y)], fill=(int(90 + 120 * t), int(150 + 70 * t), int(230 - 40 * t))
        )
    draw.ellipse((820, 120, 960, 260), fill=(255, 214, 90))
    draw.polygon(
        [(0, 560), (260, 380), (520, 540), (760, 330), (1200, 600), (1200, 800), (0, 800)],
        fill=(58, 122, 74),
    )
    draw.polygon(
        [(0, 680), (400, 560), (900, 690), (1200, 620), (1200, 800), (0, 800)], fill=(86, 160, 84)
    )
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    img.save(path, quality=90)
    return path


def wait_for(signal, predicate=lambda *_: True, timeout_ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    """Run the event loop until ``signal`` fires with arguments ``predicate`` accepts."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()

    def check(*args) -> None:  # type: ignore[no-untyped-def]
        if predicate(*args):
            loop.quit()

    signal.connect(check)
    QTimer.singleShot(timeout_ms, lambda: loop.exit(1))
    failed = loop.exec()
    signal.disconnect(check)
    if failed:
        raise SystemExit(f"timed out waiting for {signal}")


def pause(ms: int) -> None:
    """Let the window paint and settle (timers, previews) for ``ms``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--appearance", default="light", choices=("light", "dark"))
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="nanocaption-shots-"))
    os.environ["NANOCAPTION_DATA_DIR"] = str(work / "data")
    os.environ.pop("NANOCAPTION_MODEL_DIR", None)
    photos = work / "holiday"
    photos.mkdir()
    for n in range(400):
        for image in IMAGES.iterdir():
            if image.suffix in (".jpg", ".png"):
                shutil.copy(image, photos / f"IMG_{n:04d}_{image.stem}{image.suffix}")
    photo = make_photo(work / "hills.jpg")

    from nanocaption_desktop.gui.compat import protect_singletons

    protect_singletons()
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from nanocaption_desktop.gui import theme
    from nanocaption_desktop.gui.app import icon_path
    from nanocaption_desktop.gui.drop_area import Dropped
    from nanocaption_desktop.gui.imaging import close_preview_pool
    from nanocaption_desktop.gui.settings import Settings
    from nanocaption_desktop.gui.window import MainWindow
    from nanocaption_desktop.gui.worker import CaptionWorker

    app = QApplication([sys.argv[0]])
    app.setWindowIcon(QIcon(str(icon_path())))
    theme.apply(app, args.appearance)
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = f"{args.size}-{args.appearance}"

    def open_window(name: str, model: str | None) -> MainWindow:
        store = QSettings(str(work / f"{name}.ini"), QSettings.Format.IniFormat)
        settings = Settings(store)
        settings.set_batch_write_csv(True)
        worker = CaptionWorker()
        worker.start()
        window = MainWindow(settings, worker, model)
        window.resize(width, height)
        window.move(0, 0)
        window.show()
        return window

    def shoot(window: MainWindow, state: str) -> None:
        pause(400)
        target = OUT / f"{state}-{suffix}.png"
        subprocess.run(["import", "-window", str(int(window.winId())), str(target)], check=True)
        print("wrote", target.relative_to(ROOT), flush=True)

    window = open_window("main", str(TINY_BUNDLE))
    window.model.start()
    wait_for(window.model_state_changed, lambda s: s == "ready")
    shoot(window, "empty")

    window.inputs.handle_dropped(Dropped(paths=[str(photo)]))
    wait_for(window.caption_shown)
    shoot(window, "captioned")

    window.batch_panel.set_folder(str(photos))
    window.batches.start()
    wait_for(window.batch_progressed, lambda p: p.progress.finished >= 120)
    shoot(window, "batch")
    window.batches.cancel()
    wait_for(window.batch_done)
    window.close()
    window.worker.shutdown()

    # First launch without a model: a fresh window, nothing captioned, nothing in the history.
    first = open_window("first-launch", None)
    first.model.start()
    wait_for(first.model_state_changed, lambda s: s == "missing")
    shoot(first, "missing-model")
    first.close()
    first.worker.shutdown()
    close_preview_pool()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
