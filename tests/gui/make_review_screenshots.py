"""Screenshots of the Review page (issue 15) under X (Xvfb), as a person sees it.

    Xvfb :97 -screen 0 1600x1000x24 &
    DISPLAY=:97 python tests/gui/make_review_screenshots.py --appearance light

Writes ``assets/screenshots/review-{states,editor,quit}-1280x800-<appearance>.png``: the
workspace with images in several states, the editor with other captions to pick from, and the
question on quitting with approved captions not written. Not a test (pytest does not collect it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/gui/
from fixture_paths import IMAGES_DIR, TINY_BUNDLE  # noqa: E402
from make_screenshots import OUT, ROOT, pause, wait_for  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appearance", default="light", choices=("light", "dark"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nc-review-shots-"))
    os.environ["NANOCAPTION_DATA_DIR"] = str(work / "userdata")
    photos = work / "Trip photos"
    photos.mkdir()
    for n in range(3):
        for image in sorted(IMAGES_DIR.iterdir()):
            shutil.copy(image, photos / f"{image.stem}_{n}{image.suffix}")
    (photos / "broken.jpg").write_text("not an image")

    from nanocaption_desktop.gui.compat import protect_singletons

    protect_singletons()
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from nanocaption_desktop.gui import theme
    from nanocaption_desktop.gui.settings import Settings
    from nanocaption_desktop.gui.window import MainWindow
    from nanocaption_desktop.gui.worker import CaptionWorker

    app = QApplication([sys.argv[0]])
    theme.apply(app, args.appearance)
    suffix = f"1280x800-{args.appearance}"

    def shoot(win_id: int, state: str) -> None:
        pause(400)
        target = OUT / f"review-{state}-{suffix}.png"
        subprocess.run(["import", "-window", str(win_id), str(target)], check=True)
        print("wrote", target.relative_to(ROOT), flush=True)

    worker = CaptionWorker()
    worker.start()
    window = MainWindow(
        Settings(QSettings(str(work / "s.ini"), QSettings.Format.IniFormat)),
        worker,
        str(TINY_BUNDLE),
    )
    window.resize(1280, 800)
    window.move(0, 0)
    window.show()
    window.model.start()
    wait_for(window.model_state_changed, lambda s: s == "ready")
    window.batch_panel.set_folder(str(photos))
    window.batches.start()
    wait_for(window.batch_done)
    review, ctrl = window.review, window.review.controller
    window.tabs.setCurrentWidget(review.panel)
    pause(300)
    ctrl.select_row(0)
    ctrl.approve_and_next()
    ctrl.approve_and_next()
    ctrl.edit()
    review.panel.editor.setPlainText("A colourful mosaic of square blocks")
    ctrl.approve_and_next()
    ctrl.select_row(review.model.row_of(str((photos / "gradient_0.png").resolve())))
    review.panel.editor.setPlainText("Soft gradient from green to pink")
    ctrl.regenerate()
    wait_for(ctrl.changed)
    shoot(int(window.winId()), "states")
    ctrl.undo_stack.undo()  # the person's text back; the model's new caption an alternative
    review.panel.alternatives.setCurrentRow(0)
    review.panel.editor.setFocus()
    shoot(int(window.winId()), "editor")

    def answer_later() -> None:
        box = getattr(review, "quit_box", None)
        if box is None or not box.isVisible():
            QTimer.singleShot(100, answer_later)
            return
        shoot(int(box.winId()), "quit")
        next(b for b in box.buttons() if b.text() == "&Quit without writing").click()

    QTimer.singleShot(100, answer_later)
    window.close()
    worker.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
