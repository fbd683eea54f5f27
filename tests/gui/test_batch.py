"""Folder batches in the window: drop a folder, cancel, close mid-batch, stay responsive."""

from __future__ import annotations

import time

from fixture_paths import TINY_BUNDLE
from gui_helpers import FIXTURE_IMAGES, drop_urls, image_folder, make_window
from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from nanocaption_desktop.gui.messages import BatchRow


def test_drop_folder_runs_a_batch_fills_the_table_and_the_csv(qtbot, window, tmp_path):
    from nanocaption_desktop.jobs import read_csv

    folder = image_folder(tmp_path / "photos")
    images = len(list(FIXTURE_IMAGES.iterdir()))
    window.batch_panel.csv.setChecked(True)
    with qtbot.waitSignal(window.batch_done, timeout=60_000) as done:
        drop_urls(window.drop_area, [folder])
    summary = done.args[0]
    assert not summary.cancelled and summary.done == images + 1 and summary.failed == 1
    model = window.results_model
    assert model.rowCount() == images + 1
    assert window.tabs.currentWidget() is window.batch_panel
    rows = {r.path.rsplit("/", 1)[-1]: r for r in model.rows()}
    assert rows["notes.jpg"].status == "failed" and rows["notes.jpg"].error
    assert all(r.caption for name, r in rows.items() if name != "notes.jpg")
    index = model.index(list(rows).index("notes.jpg"), 3)
    assert model.data(index) == rows["notes.jpg"].error  # the reason, next to the file
    written = list(read_csv(folder / "captions.csv"))
    assert len(written) == images + 1
    assert window.batch_panel.open_output.isEnabled()
    qtbot.waitUntil(
        lambda: model.data(model.index(0, 0), Qt.ItemDataRole.DecorationRole) is not None
    )
    assert "Finished" in window.batch_panel.counts.text()


def test_current_file_is_the_image_being_captioned_not_the_last_finished(qtbot, window, tmp_path):
    folder = image_folder(tmp_path / "photos", copies=3, with_junk=False)
    panel = window.batch_panel
    seen: list[tuple[str, set[str]]] = []  # (shown as current, files finished at that moment)
    show_current = panel.show_current

    def spy(relpath: str) -> None:
        finished = {r.path.rsplit("/", 1)[-1] for r in window.results_model.rows()}
        seen.append((relpath, finished))
        show_current(relpath)

    panel.show_current = spy
    window.batch_panel.set_folder(str(folder))
    with qtbot.waitSignal(window.batch_done, timeout=60_000):
        window.batches.start()
    names = {p.name for p in folder.iterdir()}
    assert seen and all(relpath in names for relpath, _ in seen)
    assert all(relpath not in finished for relpath, finished in seen)  # not done yet
    assert seen[0][1] == set() or len(seen) > 1
    assert panel.current.full_text() == ""  # cleared when the batch ends


def test_resume_skips_images_done_before(qtbot, window, tmp_path):
    folder = image_folder(tmp_path / "photos", with_junk=False)
    window.batch_panel.set_folder(str(folder))
    window.batch_panel.resume.setChecked(True)
    window.batch_panel.csv.setChecked(True)
    with qtbot.waitSignal(window.batch_done, timeout=60_000):
        qtbot.mouseClick(window.batch_panel.start, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.batch_done, timeout=60_000) as again:
        qtbot.mouseClick(window.batch_panel.start, Qt.MouseButton.LeftButton)
    assert again.args[0].skipped == again.args[0].done > 0
    assert "already done" in window.batch_panel.counts.text()


def test_cancel_mid_batch_stops_within_two_seconds(qtbot, window, tmp_path):
    folder = image_folder(tmp_path / "many", copies=40, with_junk=False)
    window.batch_panel.set_folder(str(folder))
    qtbot.mouseClick(window.batch_panel.start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.results_model.rowCount() >= 20, timeout=60_000)
    assert window.batch_panel.cancel.isEnabled()
    start = time.monotonic()
    with qtbot.waitSignal(window.batch_done, timeout=10_000) as done:
        qtbot.mouseClick(window.batch_panel.cancel, Qt.MouseButton.LeftButton)
    took = time.monotonic() - start
    summary = done.args[0]
    print(f"\ncancel took {took * 1000:.0f} ms after {summary.done} of 240 images")
    assert summary.cancelled and summary.done < 240
    assert took < 2.0
    assert window.results_model.rowCount() == summary.done
    assert window.batch_panel.start.isEnabled() and not window.batch_panel.cancel.isEnabled()
    bar = window.batch_panel.progress
    assert bar.value() == summary.done and bar.maximum() == 240  # not a full bar
    assert window.batch_panel.counts.accessibleName().startswith("Batch counts: Cancelled")


def test_closing_during_a_batch_exits_cleanly(qtbot, settings, tmp_path):
    win = make_window(qtbot, settings, str(TINY_BUNDLE))
    with qtbot.waitSignal(
        win.model_state_changed, timeout=60_000, check_params_cb=lambda s: s == "ready"
    ):
        win.model.start()
    folder = image_folder(tmp_path / "many", copies=40, with_junk=False)
    win.batch_panel.set_folder(str(folder))
    with qtbot.waitSignal(win.batch_progressed, timeout=60_000):
        win.batches.start()
    start = time.monotonic()
    assert win.close()
    took = time.monotonic() - start
    print(f"\nclosing during a batch took {took * 1000:.0f} ms")
    assert win.worker.thread().isFinished()
    assert took < 5.0
    assert settings.batch_last_folder() == str(folder)


def test_gui_thread_is_never_blocked_long_during_a_batch(qtbot, window, tmp_path):
    folder = image_folder(tmp_path / "many", copies=25, with_junk=True)
    window.batch_panel.set_folder(str(folder))
    window.batch_panel.csv.setChecked(True)
    clock = QElapsedTimer()
    gaps: list[int] = []

    def tick() -> None:
        gaps.append(clock.restart())

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(tick)
    clock.start()
    probe.start()
    with qtbot.waitSignal(window.batch_done, timeout=120_000) as done:
        window.batches.start()
        window.tabs.setCurrentWidget(window.batch_panel)
    probe.stop()
    worst = max(gaps)  # the first tick includes start_batch() itself: it counts too
    at = sum(gaps[: gaps.index(worst)])
    print(
        f"\nGUI thread: {len(gaps)} ticks, largest gap {worst} ms (at {at} ms) over "
        f"{done.args[0].done} images; gaps > 50 ms: {sorted(g for g in gaps if g > 50)}"
    )
    assert done.args[0].done == 6 * 25 + 1
    assert worst < 250


def test_results_model_stays_fast_with_10000_rows(qtbot, window):
    model = window.results_model
    model.reset("/photos")
    rows = [
        BatchRow(f"/photos/img_{n:05d}.jpg", f"caption number {n}", -0.5) for n in range(10_000)
    ]
    window.tabs.setCurrentWidget(window.batch_panel)
    clock = QElapsedTimer()
    clock.start()
    for chunk in range(0, 10_000, 100):  # as the worker sends them: a chunk per 100 ms
        model.append(rows[chunk : chunk + 100])
    window.batch_panel.table.scrollToBottom()
    window.batch_panel.table.viewport().repaint()
    took = clock.elapsed()
    print(f"\n10,000 rows appended and painted in {took} ms")
    assert model.rowCount() == 10_000
    assert took < 1500
    assert model.data(model.index(9_999, 1)) == "img_09999.jpg"
    print(f"thumbnails asked for: {window.thumbs.requested} of 10,000 rows")
    assert window.thumbs.requested < 200  # only rows that were on screen


def test_batch_captions_two_images_at_once_each_as_alone(
    qtbot, settings, tmp_path, monkeypatch, reference_captioner
):
    """On two cores the window loads single-thread sessions, and a folder batch captions two
    images at once (one per core), each caption the one the image gets alone."""
    import threading

    from nanocaption_desktop.engine import pipeline, sessions
    from nanocaption_desktop.engine.captioner import Captioner
    from nanocaption_desktop.jobs import read_csv

    monkeypatch.setattr(sessions, "physical_cores", lambda: 2)
    monkeypatch.setattr(pipeline, "physical_cores", lambda: 2)
    lock = threading.Lock()
    state = {"now": 0, "most": 0, "threads": set()}
    depth: dict[str, int] = {}

    def spying(real):
        def spy(self, *args, **kwargs):
            me = threading.current_thread().name
            with lock:
                depth[me] = depth.get(me, 0) + 1  # a group may caption an image alone inside
                state["most"] = max(state["most"], sum(d > 0 for d in depth.values()))
                state["threads"].add(me)
            try:
                time.sleep(0.02)  # long enough for the other lane to start meanwhile
                return real(self, *args, **kwargs)
            finally:
                with lock:
                    depth[me] -= 1

        return spy

    # one image per lane, or groups of rows (BatchSpec.rows, engine/rows.py): encoders on both
    # workers beside one decoding group (engine/groups.py)
    for name in ("caption_pixels", "caption_rows", "encode_rows", "decode_rows"):
        monkeypatch.setattr(Captioner, name, spying(getattr(Captioner, name)))
    win = make_window(qtbot, settings, str(TINY_BUNDLE))
    with qtbot.waitSignal(
        win.model_state_changed, timeout=60_000, check_params_cb=lambda s: s == "ready"
    ):
        win.model.start()
    folder = image_folder(tmp_path / "photos", copies=2, with_junk=False)
    images = len(list(folder.iterdir()))
    win.batch_panel.csv.setChecked(True)
    win.batch_panel.set_folder(str(folder))
    with qtbot.waitSignal(win.batch_done, timeout=60_000) as done:
        win.batches.start()
    assert done.args[0].done == images and done.args[0].failed == 0
    assert state["most"] == 2
    assert all(name.startswith("nanocaption-lane") for name in state["threads"])
    for row in read_csv(folder / "captions.csv"):
        alone = reference_captioner.caption(folder / row["path"]).text
        assert row["caption"] == alone
    win.close()


def test_batch_refused_while_another_batch_writes_its_outputs(qtbot, window, tmp_path):
    """F5: the window's batch takes the same journal lock as the command line."""
    import os

    from nanocaption_desktop.jobs.lock import JournalLock

    folder = image_folder(tmp_path / "photos", with_junk=False)
    window.batch_panel.set_folder(str(folder))
    window.batch_panel.csv.setChecked(True)
    journal = folder / "captions.csv.journal.jsonl"
    with JournalLock.acquire(journal):  # as another process's batch would
        with qtbot.waitSignal(window.batch_done, timeout=60_000) as done:
            window.batches.start()
    summary = done.args[0]
    message = f"{journal}: in use by process {os.getpid()} (another batch is writing"
    assert summary.done == 0 and summary.error.startswith(message)
    assert window.batch_panel.counts.text().startswith("Stopped: 0 images")
    assert window.batch_panel.progress.text() == ""  # an empty bar, not "0 / 1"
    assert message in window.batch_panel.counts.text()
    assert not (folder / "captions.csv").exists()
    with qtbot.waitSignal(window.batch_done, timeout=60_000) as again:  # free again: it runs
        window.batches.start()
    assert again.args[0].error == "" and again.args[0].done > 0
