"""The ``batch`` command line builds a ``BatchSpec``; ``--prefetch``, and ``--batch-size`` as
its deprecated alias (same effect, a one-line note on stderr)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from fixture_paths import IMAGES_DIR, TINY_BUNDLE

from nanocaption_desktop.cli_batch import add_parser, spec_from_args
from nanocaption_desktop.jobs import BatchSpec, SidecarPolicy


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nanocaption-desktop")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["batch", *argv])


def test_the_command_line_builds_the_spec(tmp_path: Path) -> None:
    args = parse(
        str(tmp_path),
        "-r",
        "--csv",
        "o.csv",
        "--sidecars",
        "skip",
        "--no-resume",
        "--beams",
        "3",
        "--max-tokens",
        "20",
        "--prefetch",
        "2",
        "--model",
        "m",
    )
    assert spec_from_args(args) == BatchSpec(
        str(tmp_path), recursive=True, csv=Path("o.csv"), sidecars=SidecarPolicy.SKIP,
        resume=False, beams=3, max_new_tokens=20, prefetch=2, isolate=True, model=Path("m"),
    )  # fmt: skip
    assert spec_from_args(parse(str(tmp_path))).prefetch == 4


def test_batch_size_is_prefetch_with_a_deprecation_note(tmp_path: Path, capsys) -> None:
    old = spec_from_args(parse(str(tmp_path), "--batch-size", "7"))
    said = capsys.readouterr().err
    assert old == spec_from_args(parse(str(tmp_path), "--prefetch", "7"))
    assert old.prefetch == 7
    assert said.count("\n") == 1 and "--batch-size is deprecated" in said and "--prefetch" in said
    assert capsys.readouterr().err == ""  # --prefetch says nothing


def test_help_names_prefetch() -> None:
    parser = argparse.ArgumentParser(prog="nanocaption-desktop")
    sub = add_parser(parser.add_subparsers(dest="command"))
    text = sub.format_help()
    assert "--prefetch N" in text and "--prefetch is how many images" in text


def test_batch_size_still_runs_a_batch(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    done = subprocess.run(
        [sys.executable, "-m", "nanocaption_desktop", "batch", str(IMAGES_DIR),
         "--model", str(TINY_BUNDLE), "--batch-size", "2", "--csv", str(out),
         "--no-isolate"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--batch-size is deprecated" in done.stderr
    assert out.exists() and "caption" in out.read_text(encoding="utf-8").splitlines()[0]
