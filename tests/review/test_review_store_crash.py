"""A writer killed with SIGKILL in the middle of a stream of edits loses none that were saved
more than 1 s before the kill (the issue's promise; the store flushes every ~0.2 s)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nanocaption_desktop.review.store import WorkspaceStore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL")

#: a person typing: an edit of one of 40 photos every few milliseconds, each reported after
#: its save() returned
_WRITER = """
import sys, time
from nanocaption_desktop.review import model
from nanocaption_desktop.review.store import WorkspaceStore

store = WorkspaceStore.open(sys.argv[1])
n = 0
while True:
    item = model.edit(model.new_item(f"{n % 40}.jpg", f"/p/{n % 40}.jpg"), f"edit {n}")
    store.save(item)
    print(n, flush=True)
    n += 1
    time.sleep(0.002)
"""


def _on_disk(path: Path) -> dict[str, int]:
    """The newest edit of each photo in the store as it is on disk now (read without the
    store: the writer holds its lock); a torn last line is skipped."""
    found: dict[str, int] = {}
    for raw in path.read_bytes().splitlines(keepends=True)[1:]:
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        found[rec["key"]] = int(rec["text"].split()[1])
    return found


def _missing(received: list[tuple[int, float]], before: float, disk: dict[str, int]) -> list:
    """Edits reported before ``before`` that the disk does not have (nor a later one of)."""
    wanted: dict[str, int] = {}
    for n, at in received:
        if at < before:
            wanted[f"{n % 40}.jpg"] = n
    return [(k, n, disk.get(k, -1)) for k, n in wanted.items() if disk.get(k, -1) < n]


def test_every_edit_saved_more_than_a_second_before_a_kill_is_there(tmp_path: Path) -> None:
    path = tmp_path / ".nanocaption-workspace.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    received: list[tuple[int, float]] = []
    late: list = []
    checks = 0
    last_check = 0.0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the child's own reports are the clock: no sleeping here
            now = time.monotonic()
            received.append((int(line), now))
            if now - last_check > 0.05 and now - received[0][1] > 1.0:
                # while it runs too: at every moment, what is 1 s old is on disk
                late += _missing(received, now - 1.0, _on_disk(path))
                checks, last_check = checks + 1, now
            if now - received[0][1] > 3.0:
                break
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert late == [] and checks > 10
    assert len(received) > 100, "the writer stopped early"
    old_enough: dict[str, int] = {}
    for n, at in received:
        if at < killed_at - 1.0:
            old_enough[f"{n % 40}.jpg"] = n
    assert len(old_enough) == 40
    with WorkspaceStore.open(path) as store:  # a torn last line is cut off here
        back = store.read()
    lost = []
    for key, n in old_enough.items():
        got = int(back[key].text.split()[1]) if key in back else -1
        if got < n:  # a later edit may be there too; an older one means one was lost
            lost.append((key, n, got))
    assert lost == []
    newest = max(int(item.text.split()[1]) for item in back.values())
    print(
        f"edits reported: {len(received)}; newest on disk after the kill: edit {newest} of "
        f"{received[-1][0]}; on-disk checks while running: {checks}"
    )
