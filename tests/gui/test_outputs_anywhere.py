"""Outputs anywhere: results of a read-only photo folder go to the user's documents (said on
screen), the journal to the user data folder; History export takes the typed extension and
offers relative paths."""

from __future__ import annotations

import json
from pathlib import Path

from gui_helpers import PHOTO, image_folder
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox

from nanocaption_desktop.gui.history import EXPORT_KINDS, export_choice
from nanocaption_desktop.jobs import places
from nanocaption_desktop.jobs.settings import default_journal
from nanocaption_desktop.jobs.spec import BatchSpec


def test_the_typed_extension_wins_over_the_filter():
    csv_filter, jsonl_filter = EXPORT_KINDS["csv"], EXPORT_KINDS["jsonl"]
    assert export_choice("/x/hist.jsonl", csv_filter) == ("/x/hist.jsonl", "jsonl")
    assert export_choice("/x/hist.TXT", csv_filter) == ("/x/hist.TXT", "txt")
    assert export_choice("/x/hist", jsonl_filter) == ("/x/hist.jsonl", "jsonl")
    assert export_choice("/x/hist.data", jsonl_filter) == ("/x/hist.data", "jsonl")


def test_export_dialog_offers_relative_paths(qtbot, window, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photos / "sun.jpg"
    photo.write_bytes(PHOTO.read_bytes())
    with qtbot.waitSignal(window.caption_shown, timeout=60_000):
        window.open_paths([str(photo)])
    panel = window.history_panel
    dialog = panel.export_dialog()
    qtbot.addWidget(dialog)
    box = dialog.findChild(QCheckBox, "relativePaths")
    assert box is not None and box.isVisibleTo(dialog) and not box.isChecked()
    box.setChecked(True)
    target = tmp_path / "hist.jsonl"
    dialog.selectNameFilter(EXPORT_KINDS["csv"])  # the filter says CSV; the name says JSONL
    dialog.selectFile(str(target))
    with qtbot.waitSignal(panel.message, timeout=10_000):
        QTimer.singleShot(0, dialog.accept)
        dialog.exec()
        panel.export_chosen(dialog)
    row = json.loads(target.read_text().splitlines()[0])
    assert row["path"] == "photos/sun.jpg" and row["caption"]


def test_a_read_only_photo_folder_saves_results_in_documents(qtbot, window, tmp_path, monkeypatch):
    """Read-only is faked at the one place that asks (tests run as root, to whom chmod means
    nothing); the rest is the real batch."""
    folder = image_folder(tmp_path / "sdcard", with_junk=False)
    real = places.folder_writable
    monkeypatch.setattr(places, "folder_writable", lambda f: real(f) and Path(f) != folder)
    panel = window.batch_panel
    panel.csv.setChecked(True)
    window.tabs.setCurrentWidget(panel)
    panel.set_folder(str(folder))
    qtbot.waitUntil(lambda: panel.knows_output_of(str(folder)), timeout=10_000)
    assert panel.output_note.isVisibleTo(panel)
    expected = places.fallback_output_folder(folder)
    assert str(expected) in panel.output_note.text()
    assert "Documents" in str(expected)  # NANOCAPTION_DATA_DIR/Documents in tests
    with qtbot.waitSignal(window.batch_done, timeout=60_000) as done:
        window.batches.start()
    assert done.args[0].done > 0 and not done.args[0].error
    assert (expected / "captions.csv").is_file()
    assert not (folder / "captions.csv").exists()
    assert not list(folder.glob("*.journal.jsonl"))


def test_the_journal_of_a_read_only_folder_lives_in_the_user_data_folder(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    out = tmp_path / "out" / "captions.csv"
    spec = BatchSpec(str(folder), csv=out)
    assert default_journal(spec) == out.with_name("captions.csv.journal.jsonl")
    monkeypatch.setattr(places, "folder_writable", lambda f: False)
    journal = default_journal(spec)
    assert journal is not None and journal.parent == tmp_path / "userdata" / "batches"
    assert default_journal(spec) == journal  # the same every run: resume finds it
    assert default_journal(BatchSpec(str(folder), csv=tmp_path / "b.csv")) != journal


def test_a_chosen_results_folder_takes_the_outputs(qtbot, window, tmp_path):
    folder = image_folder(tmp_path / "photos", with_junk=False)
    elsewhere = tmp_path / "results"
    panel = window.batch_panel
    panel.csv.setChecked(True)
    panel.jsonl.setChecked(True)
    panel.set_folder(str(folder))
    panel.output.setText(str(elsewhere))
    spec = window.batches.spec()
    assert spec.csv == elsewhere / "captions.csv" and spec.jsonl == elsewhere / "captions.jsonl"
    assert not panel.output_note.isVisibleTo(panel)
    with qtbot.waitSignal(window.batch_done, timeout=60_000) as done:
        window.batches.start()
    assert done.args[0].done > 0 and (elsewhere / "captions.csv").is_file()
    assert not (folder / "captions.csv").exists()
