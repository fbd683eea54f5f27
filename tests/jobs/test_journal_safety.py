"""The journal against hostile or failing files: one batch at a time (lock), no FIFO, folder or
symlink at its path, wrong values in records, a full disk while appending or closing."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from batch_helpers import FakeCaptioner, make_images

from nanocaption_desktop.jobs import OutputError, caption_folder, read_csv
from nanocaption_desktop.jobs.journal import Journal
from nanocaption_desktop.jobs.lock import JournalLock, lock_path
from nanocaption_desktop.jobs.records import problem_of

HEADER = {"root": "/photos", "recursive": False, "model": "m", "beams": None}
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file kinds and flock")


def rec(key: str, **kw: object) -> dict:
    return {"key": key, "size": 1, "mtime_ns": 2, "status": "ok", "caption": "c", **kw}


# -- F5: one batch at a time ---------------------------------------------------------------


def test_second_open_is_refused_naming_the_journal_and_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = Journal.open(path, HEADER)
    with pytest.raises(OutputError) as info:
        Journal.open(path, HEADER)
    assert info.value.path == str(path)
    assert f"in use by process {os.getpid()}" in str(info.value)
    before = path.read_bytes()
    with pytest.raises(OutputError, match="in use by process"):  # would start anew: may not
        Journal.open(path, {**HEADER, "beams": 9}, resume=False)
    assert path.read_bytes() == before
    first.append(rec("a.png"))  # the refused opens changed nothing
    first.close()
    again = Journal.open(path, HEADER)  # released by close
    assert again.keys() == ["a.png"]
    again.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.jsonl"]  # lock file gone


@posix_only
def test_lock_held_by_another_process_names_its_pid(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    code = (
        "import sys; from pathlib import Path;"
        "from nanocaption_desktop.jobs.lock import JournalLock;"
        "lock = JournalLock.acquire(Path(sys.argv[1])); print('locked', flush=True);"
        "sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            with pytest.raises(OutputError, match=f"in use by process {holder.pid}"):
                Journal.open(path, HEADER)
        finally:
            holder.kill()  # killed, not released: the OS frees the lock
            holder.wait(timeout=30)
    Journal.open(path, HEADER).close()


def test_lock_is_kept_while_the_journal_is_replaced_or_compacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanocaption_desktop.jobs import journal as journal_module

    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    for k in range(6):
        j.append(rec("a.png", caption=str(k)))
    j.close()
    monkeypatch.setattr(journal_module, "COMPACT_AFTER", 2)
    j = Journal.open(path, HEADER)  # compacted on open: the file was renamed over
    assert path.read_bytes().count(b"\n") == 2
    with pytest.raises(OutputError, match="in use by process"):
        Journal.open(path, HEADER)
    j.close()
    j = Journal.open(path, {**HEADER, "beams": 3})  # another batch: replaced by a new file
    assert len(j) == 0
    with pytest.raises(OutputError, match="in use by process"):
        JournalLock.acquire(path)
    j.close()


@posix_only
def test_a_deleted_lock_file_is_not_a_lock(tmp_path: Path) -> None:
    """A waiter that opened the lock file just before its holder deleted it must not count
    the lock on the deleted file as the journal's lock."""
    path = tmp_path / "j.jsonl"
    held = JournalLock.acquire(path)
    stale_fd = os.open(lock_path(path), os.O_RDWR)  # opened before the holder lets go
    held.release()
    assert not lock_path(path).exists()
    from nanocaption_desktop.jobs import lock as lock_module

    assert not lock_module._still_at(stale_fd, lock_path(path))
    os.close(stale_fd)
    with JournalLock.acquire(path) as fresh:
        assert fresh.held and lock_path(path).read_text().strip() == str(os.getpid())


@posix_only
@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_lock_file_that_is_no_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "j.jsonl"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    lock = lock_path(path)
    {"symlink": lambda: lock.symlink_to(victim), "fifo": lambda: os.mkfifo(lock),
     "folder": lock.mkdir}[kind]()  # fmt: skip
    with pytest.raises(OutputError) as info:
        Journal.open(path, HEADER)
    assert info.value.path == str(path) and "cannot lock it" in str(info.value)
    assert victim.read_text() == "keep me" and not path.exists()


@posix_only
def test_release_never_deletes_another_holders_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = JournalLock.acquire(path)
    lock_path(path).unlink()  # someone removed it by hand; a new batch makes its own
    second = JournalLock.acquire(path)
    first.release()
    assert lock_path(path).exists()
    with pytest.raises(OutputError, match="in use by process"):
        JournalLock.acquire(path)
    second.release()
    assert not lock_path(path).exists()


def test_lock_in_a_folder_where_nothing_can_be_created(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "j.jsonl"
    with pytest.raises(OutputError) as info:
        Journal.open(missing, HEADER)
    assert info.value.path == str(missing) and "cannot lock it" in str(info.value)


def test_read_only_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j.jsonl"
    Journal.open(path, HEADER).close()
    real_open = os.open

    def read_only(p, flags, *a):  # root writes into a chmod 555 folder: simulate EACCES
        if os.fspath(p).endswith(".lock") or flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(p))
        return real_open(p, flags, *a)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(OutputError) as info:
        Journal.open(path, HEADER)
    assert info.value.path == str(path)
    assert "cannot lock it: cannot create j.jsonl.lock (cannot write here" in str(info.value)


# -- F8: the journal is a regular file -------------------------------------------------------


@posix_only
def test_fifo_at_the_journal_path_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    os.mkfifo(path)
    code = (
        "import sys; from nanocaption_desktop.jobs.journal import Journal;"
        "from nanocaption_desktop.jobs import OutputError\n"
        "try: Journal.open(sys.argv[1], {})\n"
        "except OutputError as e: print(e); sys.exit(2)"
    )  # a child process, so that a regression fails on the timeout instead of hanging
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.strip() == f"{path}: is a named pipe (FIFO), not a regular file; " + (
        "remove it or move it"
    )
    assert stat.S_ISFIFO(os.lstat(path).st_mode)  # left as it was


@pytest.mark.parametrize("resume", [True, False])
def test_folder_at_the_journal_path_is_refused(tmp_path: Path, resume: bool) -> None:
    path = tmp_path / "j.jsonl"
    path.mkdir()
    with pytest.raises(OutputError, match="is a folder, not a regular file"):
        Journal.open(path, HEADER, resume=resume)
    assert path.is_dir() and not lock_path(path).exists()


@posix_only
def test_symlink_at_the_journal_path_is_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    path = tmp_path / "j.jsonl"
    path.symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):
        Journal.open(path, HEADER, resume=False)
    assert victim.read_text() == "keep me" and path.is_symlink()


@posix_only
def test_fifo_swapped_in_after_the_check_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanocaption_desktop.jobs import journal as journal_module

    path = tmp_path / "j.jsonl"
    Journal.open(path, HEADER).close()
    real = journal_module.check_regular_or_absent

    def then_swap(p: Path) -> bool:
        exists = real(p)
        p.unlink()
        os.mkfifo(p)
        return exists

    monkeypatch.setattr(journal_module, "check_regular_or_absent", then_swap)
    with pytest.raises(OutputError, match="named pipe"):
        Journal.open(path, HEADER)
    assert not lock_path(path).exists()  # the lock was released


@posix_only
def test_unreadable_journal_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    Journal.open(path, HEADER).close()
    real_open = os.open

    def denied(p, flags, *a):  # root reads chmod 000 files: simulate EACCES
        if os.fspath(p) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(p))
        return real_open(p, flags, *a)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(OutputError) as info:
        Journal.open(path, HEADER)
    assert str(info.value) == f"{path}: cannot read it (permission denied)"
    monkeypatch.undo()
    Journal.open(path, HEADER).close()  # the lock was released


# -- F9: valid JSON, wrong values --------------------------------------------------------------

BAD_RECORDS = [
    rec("a.png", status="bogus"),
    rec("a.png", score="abc"),
    rec("a.png", score=True),
    rec("a.png", size="12"),
    rec("a.png", size=1.5),
    rec("a.png", mtime_ns=None),
    rec("a.png", caption=["x"]),
    rec("a.png", error={"x": 1}),
    rec("a.png", sidecars="sometimes"),
    rec("a.png", kind="header"),
    {**rec("a.png"), "key": 7},
    {**rec("a.png"), "key": "/etc/passwd"},
    {**rec("a.png"), "key": "../outside.png"},
    ["a list"],
]


@pytest.mark.parametrize("bad", BAD_RECORDS, ids=lambda b: json.dumps(b)[:40])
def test_wrong_values_make_a_record_invalid(bad: object) -> None:
    assert problem_of(bad)


def test_valid_records_pass() -> None:
    assert problem_of(rec("sub/a.png", score=-0.25, error=None, sidecars="skip")) == ""
    assert problem_of(rec("dir", kind="folder", size=-1, mtime_ns=-1, status="failed")) == ""


def test_wrong_values_in_a_journal_are_ignored_and_the_images_redone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "in"
    make_images(folder, 4)
    out = tmp_path / "out.csv"
    fake = FakeCaptioner()
    first = list(caption_folder(folder, captioner=fake, csv=out))
    journal = tmp_path / "out.csv.journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    damaged = [json.loads(x) for x in lines[1:]]
    damaged[0]["status"] = "bogus"
    damaged[1]["score"] = "abc"
    damaged[2]["size"] = str(damaged[2]["size"])
    journal.write_bytes(lines[0] + b"".join(json.dumps(d).encode() + b"\n" for d in damaged))
    second = list(caption_folder(folder, captioner=fake, csv=out))
    assert [r.resumed for r in second] == [False, False, False, True]  # 3 redone, 1 kept
    assert [r.caption for r in second] == [r.caption for r in first]
    assert "status is not one of" in caplog.text and "score is not a number" in caplog.text
    rows = read_csv(out)
    assert sorted(r["path"] for r in rows) == sorted(r.relpath for r in first)  # once each
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.csv", journal.name]


def test_a_record_damaged_after_loading_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    j.append(rec("a.png"))
    j.close()
    j = Journal.open(path, HEADER)
    data = path.read_bytes().replace(b'"status":"ok"', b'"status":"no"')
    with open(path, "r+b") as f:  # same length, same offsets: only the value is wrong
        f.write(data)
    assert j.get("a.png") is None and list(j.records()) == []
    j.close()


# -- F10: a full disk --------------------------------------------------------------------------


def _enospc(*_a: object, **_k: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_while_appending_names_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    j.append(rec("a.png"))
    size = path.stat().st_size
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(OutputError) as info:
        j.append(rec("b.png"))
    assert info.value.path == str(path) and "the disk is full" in str(info.value)
    assert path.stat().st_size == size  # the half-written line was cut off again
    monkeypatch.undo()
    j.close()  # nothing pending: no second error
    j = Journal.open(path, HEADER)
    assert j.keys() == ["a.png"]
    j.close()


class _FullFile:
    """A journal file whose every write and close fails like a full disk."""

    def __init__(self, real) -> None:
        self.real = real

    def seek(self, *a):
        return self.real.seek(*a)

    def fileno(self):
        return self.real.fileno()

    def write(self, data):
        _enospc()

    def close(self):
        self.real.close()
        _enospc()


def test_full_disk_on_close_is_an_output_error_and_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    j._file = _FullFile(j._file)
    with pytest.raises(OutputError, match="the disk is full"):
        j.append(rec("a.png"))
    with pytest.raises(OutputError) as info:
        j.close()
    assert info.value.path == str(path) and "the disk is full" in str(info.value)
    j.close()  # closed once: a second close is a no-op
    Journal.open(path, HEADER).close()  # the lock went with the failed close


def test_full_disk_in_a_batch_is_one_output_error_naming_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanocaption_desktop.jobs import journal as journal_module

    folder = tmp_path / "in"
    make_images(folder, 3)
    out = tmp_path / "out.csv"
    real_open = journal_module.open_regular

    def full_appender(path, flags, mode, buffering=-1):
        f = real_open(path, flags, mode, buffering=buffering)
        return _FullFile(f) if "a" in mode else f

    monkeypatch.setattr(journal_module, "open_regular", full_appender)
    with pytest.raises(OutputError) as info:
        list(caption_folder(folder, captioner=FakeCaptioner(), csv=out))
    journal = tmp_path / "out.csv.journal.jsonl"
    assert info.value.path == str(journal) and "the disk is full" in str(info.value)
    monkeypatch.undo()
    Journal.open(journal, {}).close()  # not left locked
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".nctmp")]


def test_an_output_shared_by_batches_with_other_journals_is_locked_too(tmp_path: Path) -> None:
    """Batch A writes x.csv and y.jsonl (journal x.csv.journal.jsonl); batch B names only
    y.jsonl (journal y.jsonl.journal.jsonl): the journals differ, the JSONL does not."""
    folder = tmp_path / "in"
    make_images(folder, 4)
    x, y = tmp_path / "x.csv", tmp_path / "y.jsonl"
    first = caption_folder(folder, captioner=FakeCaptioner(), csv=x, jsonl=y)
    next(first)  # A runs, holding its locks
    with pytest.raises(OutputError) as info:
        next(caption_folder(folder, captioner=FakeCaptioner(), jsonl=y))
    assert info.value.path == str(y)
    assert f"in use by process {os.getpid()}" in info.value.reason
    assert len(list(first)) == 3  # A finishes its own batch
    assert not list(tmp_path.glob("*.lock"))  # every lock released
    assert len(list(caption_folder(folder, captioner=FakeCaptioner(), jsonl=y))) == 4


def test_a_lock_file_name_always_fits_and_is_stable(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "c.csv").name == "c.csv.lock"
    long = tmp_path / ("c" * 252 + ".csv")  # a legal name; + ".lock" would not be
    path = lock_path(long)
    assert len(os.fsencode(path.name)) <= 255 and path == lock_path(long)
    assert path != lock_path(tmp_path / ("c" * 251 + "d.csv"))
    with JournalLock.acquire(long):  # really made on disk
        assert path.exists()


@posix_only
def test_a_holder_that_has_only_just_locked_is_named_once_it_writes_its_pid(
    tmp_path: Path,
) -> None:
    """The race CI met: the second batch read the lock file between the first's flock and its
    pid write, and said "another process"."""
    import fcntl
    import threading

    journal = tmp_path / "c.csv.journal.jsonl"
    fd = os.open(lock_path(journal), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, no pid yet
    writer = threading.Timer(0.1, lambda: os.write(fd, b"4242\n"))
    writer.start()
    try:
        with pytest.raises(OutputError, match="in use by process 4242 "):
            JournalLock.acquire(journal)
    finally:
        writer.join()
        os.close(fd)
