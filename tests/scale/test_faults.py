"""Faults: a worker process SIGKILLed in the middle of a task, and the driver SIGKILLed and run
again. Every image ends up in the outputs exactly once, with the captions of a local batch.

How a kill lands mid-task: ``RayOptions.faults`` holds one image (``hold:DIR``): the first actor
to reach it writes its pid to ``DIR/pid`` and waits; the test waits for that file, kills the
process, and Ray starts the actor again and retries its task (the retry finds ``DIR/held``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("ray.data")

from conftest import N_IMAGES  # noqa: E402
from fixture_paths import TINY_BUNDLE  # noqa: E402

from nanocaption_desktop.jobs import BatchSpec, checked_spec  # noqa: E402
from nanocaption_desktop.scale import RayOptions, caption_folder_ray, start  # noqa: E402

HELD = "v05_sun_and_grass.jpg"  # 35th of 60 in the scan's order
WAIT = 120.0  # seconds at most for a worker or the driver to reach a point (a hang fails)


def _wait_for(check, what: str) -> None:
    """Poll a file another process writes (no event crosses processes here) until ``check``."""
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _journal_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")[1:]  # the header first; a last line may be partial
    return [json.loads(x) for x in lines if x.endswith(b"}")]


def test_a_worker_killed_mid_task_loses_and_repeats_nothing(
    ray_cluster, sixty_images, reference, tmp_path
):
    hold = tmp_path / "hold"
    hold.mkdir()
    spec = checked_spec(BatchSpec(str(sixty_images), csv=tmp_path / "r.csv", model=TINY_BUNDLE))
    run, backend = start(spec, RayOptions("local", faults={HELD: f"hold:{hold}"}))
    results = []
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            results.extend(run.results())
        except BaseException as e:  # handed to the test's thread
            failure.append(e)

    consumer = threading.Thread(target=consume)
    consumer.start()
    _wait_for(lambda: (hold / "pid").exists(), "the held worker")
    killed = int((hold / "pid").read_text())
    os.kill(killed, signal.SIGKILL)
    consumer.join(WAIT)
    assert not consumer.is_alive() and not failure, failure
    names = [r.relpath for r in results]
    assert len(names) == N_IMAGES == len(set(names))
    assert all(r.ok for r in results)
    assert backend.pid_of[HELD] != killed  # captioned again after the kill, by a live process
    assert (tmp_path / "r.csv").read_bytes() == reference["csv"]


_DRIVER = """
import sys
from nanocaption_desktop.scale import RayOptions, caption_folder_ray
folder, csv, model, address, held, hold = sys.argv[1:]
opts = RayOptions(address, faults={held: "hold:" + hold})
for r in caption_folder_ray(folder, csv=csv, model=model, ray=opts):
    pass
"""


def test_the_driver_killed_and_rerun_resumes_from_the_journal(
    ray_cluster, sixty_images, reference, tmp_path
):
    hold = tmp_path / "hold"
    hold.mkdir()
    csv = tmp_path / "r.csv"
    journal = tmp_path / "r.csv.journal.jsonl"
    address = ray_cluster.get_runtime_context().gcs_address
    argv = [str(sixty_images), str(csv), str(TINY_BUNDLE), address, HELD, str(hold)]
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, *argv], stderr=subprocess.DEVNULL)
    try:
        # the held image stops the results in order: the journal has the images before it
        _wait_for(lambda: (hold / "pid").exists() and len(_journal_records(journal)) >= 10,
                  "the driver to journal 10 images")  # fmt: skip
        before = {r["key"] for r in _journal_records(journal)}
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait(WAIT)
    assert 10 <= len(before) < N_IMAGES and HELD not in before

    results = list(caption_folder_ray(sixty_images, csv=csv, model=TINY_BUNDLE, ray="local"))
    resumed = {r.relpath for r in results if r.resumed}
    assert resumed >= before  # what the killed driver recorded is not done again
    assert len(results) == N_IMAGES == len({r.relpath for r in results})
    assert csv.read_bytes() == reference["csv"]
    keys = [r["key"] for r in _journal_records(journal)]
    assert sorted(keys) == sorted(set(keys))  # no image recorded twice
