"""Workspace benchmark (issue 15): opening a workspace of 10,000 images with their states from
the store, and what it costs in memory. Not collected by pytest (``bench_*.py``).

    python tests/benchmarks/bench_workspace.py                 # 10,000 images, 5 runs
    python tests/benchmarks/bench_workspace.py --items 20000 --runs 3

Makes a folder of small PNGs and a store in which every image is captioned (three beam
alternatives), a quarter edited, a tenth approved and written; then times, in this process
(warm file cache, as on a second open):

- the store alone: open (lock, index, torn-line check) + ``read()`` of every item;
- ``open_folder``: the scan (``jobs/scan.py``) + a stat per photo + the store laid over it;
- one ``apply`` (an edit) and ``flush`` on the open 10,000-item workspace;

and the memory the open workspace holds (tracemalloc, Python objects) and the process's peak
RSS. Prints medians; asserts nothing (figures, not tests).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from nanocaption_desktop.review import live, model
from nanocaption_desktop.review.model import Identity
from nanocaption_desktop.review.places import STORE_NAME
from nanocaption_desktop.review.store import WorkspaceStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fixture_paths
from fixture_paths import IMAGES_DIR  # noqa: E402


def make_workspace(folder: Path, n: int) -> None:
    png = (IMAGES_DIR / "gradient.png").read_bytes()
    folder.mkdir(parents=True)
    with WorkspaceStore.open(folder / STORE_NAME) as store:
        for i in range(n):
            name = f"IMG_{i:05d}.png"
            path = folder / name
            path.write_bytes(png)
            st = os.stat(path)
            item = model.new_item(name, str(path))
            item = model.captioned(
                item,
                f"a photo of a dog number {i} on a beach near the sea",
                -0.4 - (i % 7) / 10,
                Identity(st.st_size, st.st_mtime_ns, "0" * 64),
                others=[(f"a dog {i} on the sand", -0.9), (f"a dog {i} by the water", -1.1)],
            )
            store.save(item)
            if i % 4 == 0:
                item = model.edit(item, f"My dog Rex, photo {i}, running on the beach at dusk")
                store.save(item)
            if i % 10 == 0:
                item = model.written(model.approve(item), ["alt-text:file"])
                store.save(item)


def timed(fn, runs: int) -> tuple[float, float, object]:
    """Median wall and processor time (this process: on a shared machine the processor time
    is what opening costs, the wall time what it took while others ran) and the result."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NANOCAPTION_DATA_DIR"] = str(Path(tmp) / "data")
        folder = Path(tmp) / "photos"
        start = time.perf_counter()
        make_workspace(folder, args.items)
        made = time.perf_counter() - start
        size = (folder / STORE_NAME).stat().st_size
        lines = (folder / STORE_NAME).read_bytes().count(b"\n")

        def store_only() -> int:
            with WorkspaceStore.open(folder / STORE_NAME) as store:
                return len(store.read())

        def whole_open() -> live.LiveWorkspace:
            opened = live.open_folder(folder)
            opened.close()
            return opened

        t_store, c_store, count = timed(store_only, args.runs)
        t_open, c_open, opened = timed(whole_open, args.runs)
        assert isinstance(opened, live.LiveWorkspace)
        tracemalloc.start()
        held = live.open_folder(folder)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        first = held.workspace.ids()[1]

        def one_edit() -> None:
            held.apply(model.edit(held.workspace.get(first), f"typed {time.perf_counter()}"))
            held.flush()

        t_edit, _, _ = timed(one_edit, args.runs)
        held.close()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        states = {s.value: held.workspace.count(s) for s in model.State}
    print(
        f"workspace of {count} images (made in {made:.1f} s; "
        f"store {size / 1e6:.1f} MB, {lines} lines)"
    )
    print(f"  states: {states}")
    runs = f"median of {args.runs}"
    print(
        f"  store open + read every item: {t_store * 1000:6.0f} ms, "
        f"cpu {c_store * 1000:4.0f} ms ({runs})"
    )
    print(
        f"  open_folder (scan + stat + store): {t_open * 1000:6.0f} ms, cpu {c_open * 1000:4.0f} ms"
    )
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  one edit applied and flushed:  {t_edit * 1000:7.1f} ms")
    print(
        f"  memory held by the open workspace: {current / 1e6:.1f} MB "
        f"(peak while opening {peak / 1e6:.1f} MB)"
    )
    print(f"  process peak RSS: {rss:.0f} MB")


if __name__ == "__main__":
    main()
