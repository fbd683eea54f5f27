"""The window builds the same ``BatchSpec`` as the command line for the same choices, and its
history export writes spreadsheet cells exactly as a batch's CSV does (one writer module)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from nanocaption_desktop.cli_batch import add_parser, spec_from_args
from nanocaption_desktop.gui.history import HistoryEntry, format_history
from nanocaption_desktop.jobs.writers import csv_row, read_csv


def test_window_and_command_line_build_the_same_spec(qtbot, window, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    panel, options = window.batch_panel, window.caption_panel
    panel.set_folder(str(folder))
    panel.recursive.setChecked(True)
    panel.csv.setChecked(True)
    panel.jsonl.setChecked(False)
    panel.set_sidecar_policy("append")
    panel.resume.setChecked(False)
    options.mode.setCurrentIndex(2)  # beam search
    options.beams.setValue(3)
    options.max_tokens.setValue(20)

    parser = argparse.ArgumentParser(prog="nanocaption-desktop")
    add_parser(parser.add_subparsers(dest="command", required=True))
    argv = ["batch", str(folder), "--recursive", "--csv", str(folder / "captions.csv")]
    argv += ["--sidecars", "append", "--no-resume", "--beams", "3", "--max-tokens", "20"]
    from_cli = spec_from_args(parser.parse_args(argv))
    assert window.batches.spec() == from_cli

    panel.set_sidecar_policy("off")
    options.mode.setCurrentIndex(0)  # the model's own settings
    options.max_tokens.setValue(options.max_tokens.minimum())
    argv = ["batch", str(folder), "-r", "--csv", str(folder / "captions.csv"), "--no-resume"]
    assert window.batches.spec() == spec_from_args(parser.parse_args(argv))


TRICKY = ["=1+1", "'quoted", "-1.5", "+x", "@home", "\tindented", "plain words"]


def test_history_csv_cells_match_the_batch_csv_cells(qtbot, tmp_path: Path) -> None:
    entries = [HistoryEntry(i, f"{i}.jpg", f"/p/{i}.jpg", t, -0.5) for i, t in enumerate(TRICKY)]
    exported = list(csv.reader(format_history(entries, "csv").splitlines(keepends=True)))[1:]
    for entry, cells in zip(entries, exported, strict=True):
        row = {"path": entry.path, "caption": entry.text, "score": entry.score, "status": "ok"}
        batch_cells = next(csv.reader([csv_row(row).decode("utf-8")]))
        assert cells == batch_cells, entry.text
    assert [c[1] for c in exported[:3]] == ["'=1+1", "''quoted", "'-1.5"]
    # and what the batch's reader undoes, it undoes for the history export too
    out = tmp_path / "history.csv"
    out.write_text(format_history(entries, "csv"), encoding="utf-8", newline="")
    assert [r["caption"] for r in read_csv(out)] == TRICKY
