"""F11: a pause is not a hang. The decode pool's time limit is the worker's processor time, and
its "stuck" backstop counts neither time the app was stopped nor time the worker was stopped;
a worker that really burns the processor, or really blocks, is still replaced.

The limits are shrunk to 1-2 s; the pause is simulated with SIGSTOP/SIGCONT and lasts a few
seconds (that sleep is the pause itself, not a wait for something). The worker is held inside a
request by a FIFO "gate" (a test-only fault): the test's open() of the FIFO returns exactly
when the worker has reached it, so the pause always falls inside the request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from nanocaption_desktop.engine.errors import ImageError
from nanocaption_desktop.engine.isolation import DecodePool
from nanocaption_desktop.engine.preprocess import PreprocessConfig

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGSTOP") or not hasattr(os, "mkfifo"), reason="POSIX signals and FIFOs"
)

CFG = PreprocessConfig(height=32, width=32)
IMAGE = Path(__file__).resolve().parents[1] / "fixtures" / "images" / "gradient.png"
LIMIT = 1.0  # processor seconds per image
STUCK = 2.0  # seconds without progress
PAUSE = 2.5 * STUCK  # longer than both, and than the old wall-clock limit


def open_gate(fifo: Path) -> int:
    """Open the FIFO for writing: returns once the worker has opened it (it is mid-request)."""
    opened: list[int] = []
    t = threading.Thread(target=lambda: opened.append(os.open(fifo, os.O_WRONLY)), daemon=True)
    t.start()
    t.join(120)
    assert opened, "the worker never reached the gate"
    return opened[0]


def release(fd: int) -> None:
    os.write(fd, b"x")
    os.close(fd)


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "gate"
    os.mkfifo(path)
    yield path


CHILD = f"""
import sys
from nanocaption_desktop.engine.errors import ImageError
from nanocaption_desktop.engine.isolation import DecodePool
from nanocaption_desktop.engine.preprocess import PreprocessConfig
cfg = PreprocessConfig(height=32, width=32)
faults = {{"paused.png": "gate:" + sys.argv[1]}}
with DecodePool(cfg, timeout={LIMIT!r}, stuck_after={STUCK!r}, _faults=faults) as pool:
    try:
        print("ok", pool.prepare(sys.argv[2], name="paused.png").shape, flush=True)
    except ImageError as e:
        print("failed", e, flush=True)
"""


def test_ctrl_z_of_the_whole_app_longer_than_the_limits_is_not_a_hang(fifo: Path) -> None:
    """Ctrl+Z stops the app's whole process group (app and decoder) while an image is in
    flight; after `fg` the image finishes instead of "took longer than 30 s"."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(fifo), str(IMAGE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell job has
    )
    try:
        gate = open_gate(fifo)
        os.killpg(child.pid, signal.SIGSTOP)
        time.sleep(PAUSE)  # the pause itself
        os.killpg(child.pid, signal.SIGCONT)
        release(gate)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert out.strip() == "ok (1, 3, 32, 32)", (out, err)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="a stopped worker shows in /proc")
def test_a_stopped_decoder_alone_is_not_a_hang(fifo: Path) -> None:
    """Only the worker is stopped (SIGSTOP), the app keeps running: still not a hang."""
    faults = {"paused.png": f"gate:{fifo}"}
    with DecodePool(CFG, timeout=LIMIT, stuck_after=STUCK, _faults=faults) as pool:
        result: list[object] = []

        def work() -> None:
            try:
                result.append(pool.prepare(IMAGE, name="paused.png"))
            except ImageError as e:
                result.append(e)

        t = threading.Thread(target=work)
        t.start()
        gate = open_gate(fifo)
        (worker,) = pool._all
        os.kill(worker.proc.pid, signal.SIGSTOP)
        time.sleep(PAUSE)  # the pause itself
        os.kill(worker.proc.pid, signal.SIGCONT)
        release(gate)
        t.join(120)
        assert isinstance(result[0], np.ndarray), result
        assert pool.replaced == 0


def test_a_real_hang_is_still_caught_and_the_pool_goes_on() -> None:
    """A worker burning the processor meets the processor-time limit; one blocked for good
    (no processor time at all) is given up after `stuck_after`; each costs one file."""
    faults = {"spin.png": "spin", "hang.png": "hang"}
    with DecodePool(CFG, timeout=LIMIT, stuck_after=STUCK, _faults=faults) as pool:
        for name, reason in [
            ("spin.png", "took longer than 1 s of processor time"),
            ("hang.png", "stuck: no progress for 2 s"),
        ]:
            replaced = pool.replaced
            with pytest.raises(ImageError) as err:
                pool.prepare(IMAGE, name=name)
            assert str(err.value) == f"{name}: could not decode: {reason}"
            assert pool.replaced == replaced + 1
            assert pool.prepare(IMAGE).shape == (1, 3, 32, 32)
