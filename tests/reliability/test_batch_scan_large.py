"""Issue 3.1: a folder of many files starts yielding at once and the scan's memory stays flat.

20,000 files by default (set NANOCAPTION_SCAN_FILES=100000 for the full figure: creating the
files is what takes long). Figures are printed; memory is asserted, time is only reported.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from nanocaption_desktop.jobs.scan import scan_images

N = int(os.environ.get("NANOCAPTION_SCAN_FILES", "20000"))


def touch_many(folder: Path, n: int, per_folder: int | None) -> None:
    folder.mkdir(exist_ok=True)
    flags = os.O_CREAT | os.O_WRONLY
    for i in range(n):
        sub = folder if per_folder is None else folder / f"part{i // per_folder}"
        if per_folder is not None and i % per_folder == 0:
            sub.mkdir()
        os.close(os.open(sub / f"img{i}.png", flags, 0o644))


@pytest.mark.parametrize("layout", ["flat", "nested"])
def test_many_files_start_at_once_memory_flat(tmp_path: Path, layout: str) -> None:
    per_folder = None if layout == "flat" else 500
    touch_many(tmp_path / "many", N, per_folder)
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        it = scan_images(tmp_path / "many", recursive=True)
        first = next(it)
        t_first = time.perf_counter() - t0
        at_first = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        count = 1 + sum(1 for _ in it)
        t_all = time.perf_counter() - t0
        peak_rest = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == N
    assert first.relpath == ("img0.png" if per_folder is None else "part0/img0.png")
    extra = (peak_rest - at_first) / 2**20
    print(
        f"\nscan {layout}: {N} files, first after {t_first * 1000:.0f} ms, all in "
        f"{t_all:.2f} s (traced), memory at first {at_first / 2**20:.1f} MB, "
        f"peak after that +{extra:.1f} MB"
    )
    # walking on holds one folder's listing at a time (plus folders seen): it does not grow
    assert peak_rest - at_first < 2 * 2**20 + (at_first if per_folder else 0)
