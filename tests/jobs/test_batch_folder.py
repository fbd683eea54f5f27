"""caption_folder with a fast stand-in captioner: outputs, resume, retry, cancel, faults."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest
from batch_helpers import TRICKY, FakeCaptioner, make_images

from nanocaption_desktop.jobs import (
    OutputError,
    ResultStatus,
    caption_folder,
    read_csv,
    read_jsonl,
)


def run(folder: Path, fake: FakeCaptioner, **kw) -> list:
    return list(caption_folder(folder, captioner=fake, **kw))


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix != ".txt"
    }


def test_outputs_round_trip(tmp_path: Path, fake: FakeCaptioner) -> None:
    folder = tmp_path / "in"
    make_images(folder, 30)
    (folder / "broken.png").write_text("not a png")
    before = fingerprint(folder)
    csv_out, jsonl_out = tmp_path / "out.csv", tmp_path / "out.jsonl"
    results = run(folder, fake, csv=csv_out, jsonl=jsonl_out, sidecars="skip")
    assert len(results) == 31
    assert {r.caption for r in results if r.ok} <= set(TRICKY)
    by_path = {r.relpath: r for r in results}
    rows = read_csv(csv_out)
    assert [r["path"] for r in rows] == [r.relpath for r in results]  # scan order
    for row in rows:
        res = by_path[row["path"]]
        assert row["caption"] == res.caption and row["status"] == res.status.value
    assert rows[0]["path"] == "broken.png" and rows[0]["status"] == "failed"
    assert "not an image" in rows[0]["error"]
    lines = read_jsonl(jsonl_out)
    assert [x["caption"] for x in lines] == [r["caption"] for r in rows]
    for r in results[1:]:
        assert Path(r.path).with_suffix(".txt").read_text(encoding="utf-8") == r.caption + "\n"
    assert fingerprint(folder) == before  # originals untouched
    assert not list(tmp_path.rglob("*.nctmp"))
    p = results[-1].progress
    assert (p.captioned, p.failed, p.skipped, p.total) == (30, 1, 0, 31)


def test_resume_skips_done_and_redoes_changed_and_failed(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    imgs = make_images(folder, 6)
    (folder / "bad.png").write_bytes(b"")
    out = tmp_path / "out.csv"
    first = FakeCaptioner()
    run(folder, first, csv=out)
    assert first.calls == 6
    make_images(folder, 1, prefix="new")
    os.utime(imgs[2], ns=(1, 1))  # "changed": other mtime
    again = FakeCaptioner()
    results = run(folder, again, csv=out)
    assert again.calls == 2  # img2 and new0 (bad.png failed again without the model)
    assert {r.relpath for r in results if not r.resumed} == {"bad.png", "img2.png", "new0.png"}
    third = FakeCaptioner()
    results = run(folder, third, csv=out, retry_failed=False)
    assert third.calls == 0 and all(r.resumed for r in results)
    rows = read_csv(out)
    assert sorted(r["path"] for r in rows) == sorted(r.relpath for r in results)
    assert len(rows) == 8
    fourth = FakeCaptioner()
    run(folder, fourth, csv=out, resume=False)
    assert fourth.calls == 7


def test_removed_images_leave_outputs(tmp_path: Path, fake: FakeCaptioner) -> None:
    folder = tmp_path / "in"
    imgs = make_images(folder, 4)
    out = tmp_path / "out.jsonl"
    run(folder, fake, jsonl=out)
    imgs[1].unlink()
    run(folder, FakeCaptioner(), jsonl=out)
    assert [x["path"] for x in read_jsonl(out)] == ["img0.png", "img2.png", "img3.png"]


def test_cancel_returns_promptly_with_complete_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    make_images(folder, 20)
    gate = threading.Event()
    fake = FakeCaptioner(gate=gate)
    gate.set()
    cancel = threading.Event()
    out, jl = tmp_path / "out.csv", tmp_path / "out.jsonl"
    results = []
    t_cancel = None
    for r in caption_folder(folder, captioner=fake, csv=out, jsonl=jl, cancel=cancel):
        results.append(r)
        if len(results) == 5:
            gate.clear()  # the next caption hangs until cancelled
            cancel.set()
            t_cancel = time.monotonic()
    took = time.monotonic() - t_cancel
    print(f"cancel -> return: {took * 1000:.0f} ms")
    assert took < 2.0
    assert len(results) == 5
    assert [r["path"] for r in read_csv(out)] == [r.relpath for r in results]
    assert len(read_jsonl(jl)) == 5
    rest = run(folder, FakeCaptioner(), csv=out)  # resume finishes the rest exactly once
    assert sum(not r.resumed for r in rest) == 15
    assert len(read_csv(out)) == 20


def test_cancel_during_a_caption(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    make_images(folder, 3)
    gate = threading.Event()
    fake = FakeCaptioner(gate=gate)
    cancel = threading.Event()
    out = tmp_path / "out.csv"
    gen = caption_folder(folder, captioner=fake, csv=out, cancel=cancel)
    done = []
    worker = threading.Thread(target=lambda: done.extend(gen))
    worker.start()
    assert fake.started.wait(10)
    t0 = time.monotonic()
    cancel.set()
    worker.join(10)
    print(f"cancel inside a caption -> return: {(time.monotonic() - t0) * 1000:.0f} ms")
    assert not worker.is_alive() and done == []
    assert read_csv(out) == []


def test_stop_iterating_writes_what_finished(tmp_path: Path, fake: FakeCaptioner) -> None:
    folder = tmp_path / "in"
    make_images(folder, 10)
    out = tmp_path / "out.csv"
    gen = caption_folder(folder, captioner=fake, csv=out)
    firsts = [next(gen) for _ in range(3)]
    gen.close()
    assert [r["path"] for r in read_csv(out)] == [r.relpath for r in firsts]


def test_full_disk_is_a_clear_error_and_earlier_outputs_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    make_images(folder, 4)
    out = tmp_path / "out.csv"
    run(folder, FakeCaptioner(), csv=out)
    before = out.read_bytes()
    make_images(folder, 2, prefix="more")
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.fstat(fd).st_size > 0 and not os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OutputError, match="disk is full"):
        run(folder, FakeCaptioner(), csv=out)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert out.read_bytes() == before
    assert not list(tmp_path.rglob("*.nctmp"))
    run(folder, FakeCaptioner(), csv=out)
    assert len(read_csv(out)) == 6


def test_read_only_sidecar_folder_fails_per_file(tmp_path: Path, read_only) -> None:
    folder = tmp_path / "in"
    make_images(folder, 2)
    make_images(folder / "ro", 2)
    read_only(folder / "ro")
    out = tmp_path / "out.csv"
    results = run(folder, FakeCaptioner(), csv=out, sidecars="overwrite", recursive=True)
    assert [r.status for r in results] == [ResultStatus.OK] * 2 + [ResultStatus.FAILED] * 2
    for r in results[2:]:
        assert r.caption and "cannot write here" in r.error and r.sidecar == "failed"
    rows = read_csv(out)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]


def test_files_deleted_or_replaced_mid_batch(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    imgs = make_images(folder, 6)
    fake = FakeCaptioner()
    out = tmp_path / "out.csv"
    results = []
    for r in caption_folder(folder, captioner=fake, csv=out, prefetch=1):
        results.append(r)
        if len(results) == 1:
            imgs[4].unlink()
            imgs[5].write_text("replaced by text")
    status = {r.relpath: (r.status.value, r.error) for r in results}
    assert status["img4.png"][0] == "failed" and status["img5.png"][0] == "failed"
    assert "disappeared" in status["img4.png"][1]
    rows = read_csv(out)  # the outputs describe the folder as it is at the end
    assert [r["path"] for r in rows] == ["img0.png", "img1.png", "img2.png", "img3.png", "img5.png"]


def test_sidecar_only_batch_resumes_from_user_data_journal(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    make_images(folder, 3)
    run(folder, FakeCaptioner(), sidecars="append")
    again = FakeCaptioner()
    run(folder, again, sidecars="append")
    assert again.calls == 0
    assert list((tmp_path / "user-data" / "batches").glob("*.jsonl"))
    keep = FakeCaptioner()
    run(folder, keep, sidecars="skip")  # skip policy, sidecars exist, no other output
    assert keep.calls == 0


def test_bad_folder_raises(tmp_path: Path, fake: FakeCaptioner) -> None:
    with pytest.raises(FileNotFoundError):
        caption_folder(tmp_path / "missing", captioner=fake)
