"""F5/F8: two batches on the same outputs (real processes, the tiny model), a FIFO where the
journal goes, SIGTERM to a running batch and to one loading its model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE
from PIL import Image

from nanocaption_desktop.jobs import read_csv
from nanocaption_desktop.jobs.lock import JournalLock

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "nanocaption_desktop", "batch"]
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and FIFOs")


def make_folder(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (18 + i % 7, 14), ((i * 37) % 256, (i * 11) % 256, 90)).save(
            folder / f"img{i:03d}.png"
        )
    return sorted(p.name for p in folder.iterdir())


def batch(folder: Path, out: Path, *extra: str) -> list[str]:
    return [
        *CLI,
        str(folder),
        "--csv",
        str(out),
        "--model",
        str(TINY_BUNDLE),
        "--no-isolate",
        *extra,
    ]


def wait_for_records(proc: subprocess.Popen, journal: Path, n: int) -> None:
    """Until ``proc`` has journaled ``n`` images (it holds the lock by then) or has ended."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if journal.exists() and len(journal.read_bytes().splitlines()) > n:
            return
        try:
            proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass


def rows_once(out: Path) -> Counter:
    return Counter(r["path"] for r in read_csv(out))


@posix_only
def test_second_batch_on_the_same_outputs_is_refused_naming_the_holder(tmp_path: Path) -> None:
    names = make_folder(tmp_path / "photos", 24)
    out = tmp_path / "out" / "c.csv"
    out.parent.mkdir()
    journal = out.with_name("c.csv.journal.jsonl")
    first = subprocess.Popen(
        batch(tmp_path / "photos", out, "--beams", "3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_records(first, journal, 1)
        first.send_signal(signal.SIGSTOP)  # holds the lock, mid-batch, for as long as we like
        second = subprocess.run(
            batch(tmp_path / "photos", out), capture_output=True, text=True, timeout=120
        )
    finally:
        first.send_signal(signal.SIGCONT)
    _out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    assert second.stderr.strip() == (
        f"nanocaption-desktop batch: {out}: in use by process {first.pid} (another batch "
        "is writing these outputs); wait for it to finish or stop it"
    )
    assert rows_once(out) == Counter(names)  # every image exactly once
    third = subprocess.run(batch(tmp_path / "photos", out), capture_output=True, timeout=120)
    assert third.returncode == 0 and rows_once(out) == Counter(names)
    assert sorted(p.name for p in out.parent.iterdir()) == ["c.csv", journal.name]


def test_two_batches_started_together_write_every_image_once(tmp_path: Path) -> None:
    names = make_folder(tmp_path / "photos", 40)
    out = tmp_path / "c.csv"
    procs = [
        subprocess.Popen(
            batch(tmp_path / "photos", out),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    errs = [p.communicate(timeout=180)[1] for p in procs]
    codes = [p.returncode for p in procs]
    assert 0 in codes and set(codes) <= {0, 2}, errs
    for proc, code, err in zip(procs, codes, errs, strict=True):
        if code == 2:  # refused: named the other one, wrote nothing
            other = next(p for p in procs if p is not proc)
            assert f"in use by process {other.pid}" in err
    assert rows_once(out) == Counter(names)


def test_batch_refused_while_another_holds_the_journal(tmp_path: Path) -> None:
    make_folder(tmp_path / "photos", 2)
    out = tmp_path / "c.csv"
    with JournalLock.acquire(tmp_path / "c.csv.journal.jsonl"):
        done = subprocess.run(
            batch(tmp_path / "photos", out), capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 2 and f"in use by process {os.getpid()}" in done.stderr
    assert not out.exists()


@posix_only
def test_fifo_where_the_journal_goes_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    make_folder(tmp_path / "photos", 2)
    out = tmp_path / "c.csv"
    fifo = tmp_path / "c.csv.journal.jsonl"
    os.mkfifo(fifo)
    done = subprocess.run(
        batch(tmp_path / "photos", out), capture_output=True, text=True, timeout=120
    )  # the timeout turns a regression (a hang in open) into a failure
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"nanocaption-desktop batch: {fifo}: the journal is a named pipe (FIFO), "
        "not a regular file; remove it or move it"
    )


@posix_only
def test_sigterm_stops_a_running_batch_and_writes_what_finished(tmp_path: Path) -> None:
    make_folder(tmp_path / "photos", 120)
    out = tmp_path / "c.csv"
    journal = tmp_path / "c.csv.journal.jsonl"
    proc = subprocess.Popen(
        batch(tmp_path / "photos", out, "--beams", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_records(proc, journal, 5)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "cancelled" in err
    done = len(journal.read_bytes().splitlines()) - 1
    assert 0 < len(read_csv(out)) == done < 120


_BLOCKED_LOAD = """
import os, sys
from nanocaption_desktop import cli_batch

def load(model, max_megapixels=None):
    r, _w = os.pipe()
    print("loading", flush=True)
    os.read(r, 1)  # blocks in a system call that Python restarts after a handler returns

cli_batch._load_captioner = load
sys.exit(cli_batch.main(sys.argv[1:]))
"""


@posix_only
def test_sigterm_while_the_model_loads_stops_at_once(tmp_path: Path) -> None:
    make_folder(tmp_path / "photos", 1)
    with subprocess.Popen(
        [sys.executable, "-c", _BLOCKED_LOAD, str(tmp_path / "photos"), "--csv", "c.csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "loading\n"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip() == "nanocaption-desktop batch: stopped by SIGTERM"
