"""Ray overhead benchmark (issue 19). Run on demand, not by pytest:

    pip install -e '.[scale]'
    python tests/benchmarks/bench_ray.py [--bundle /work/random-full] [--images 64] [--rounds 2]

The same folder captioned by a local batch (`caption_folder`: one model, one lane per core on
single-thread sessions, decoding isolated) and by `caption_folder_ray` on a local Ray cluster of
this machine's cores (one actor per CPU, each its own model and decode process), alternating
local/Ray/Ray/local per round so drift on a shared machine hits both alike. For each run:
images per second end to end (model loads and actor start included; the cluster start is not,
it is printed once). The ratio
Ray / local is the figure docs/scale.md quotes. The CSVs are compared byte for byte.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IMAGES = ROOT / "tests" / "fixtures" / "images"


def make_images(folder: Path, n: int) -> None:
    """``n`` distinct images from the fixture images (rotated or scaled each its own way)."""
    from PIL import Image

    sources = sorted(IMAGES.iterdir())
    for k in range(n):
        src = sources[k % len(sources)]
        with Image.open(src) as im:
            v = k // len(sources)
            out = (
                im.rotate(17 * v, expand=True)
                if v % 2
                else im.resize((max(8, im.width - 3 * v), max(8, im.height - 2 * v)))
            )
            out.save(folder / f"b{k:04d}_{src.name}", format=im.format)


def timed(results: Iterator[Any]) -> tuple[float, int]:
    """(seconds end to end, results). Only the end-to-end rate compares the two fairly: Ray hands
    results over a block at a time, so a rate from the first result on flatters it."""
    t0 = time.perf_counter()
    n = 0
    for r in results:
        assert r.ok, r.error
        n += 1
    return time.perf_counter() - t0, n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default="/work/random-full")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    import ray

    from nanocaption_desktop.engine.sessions import physical_cores
    from nanocaption_desktop.jobs import caption_folder
    from nanocaption_desktop.scale import caption_folder_ray

    cores = physical_cores()
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    folder = work / "images"
    folder.mkdir()
    make_images(folder, args.images)
    t0 = time.perf_counter()
    ray.init(
        num_cpus=cores,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",  # this machine only
    )
    print(f"cluster start: {time.perf_counter() - t0:.1f} s ({cores} CPUs)")

    def local(csv: Path) -> Iterator[Any]:
        return caption_folder(folder, csv=csv, model=args.bundle, resume=False, isolate=True)

    def on_ray(csv: Path) -> Iterator[Any]:
        return caption_folder_ray(folder, csv=csv, model=args.bundle, resume=False, isolate=True)

    runs: dict[str, list[tuple[float, int]]] = {"local": [], "ray": []}
    kinds: dict[str, Callable[[Path], Iterator[Any]]] = {"local": local, "ray": on_ray}
    for r in range(args.rounds):
        for name in ("local", "ray", "ray", "local"):
            csv = work / f"{name}.csv"
            total, n = timed(kinds[name](csv))
            runs[name].append((total, n))
            print(f"round {r} {name:5s}: {n / total:.2f} img/s end to end")
    same = (work / "local.csv").read_bytes() == (work / "ray.csv").read_bytes()
    print(f"CSV identical: {same}")
    e2e = {k: statistics.median(n / t for t, n in v) for k, v in runs.items()}
    print(f"median end to end: local {e2e['local']:.2f}, ray {e2e['ray']:.2f} img/s; "
          f"ratio ray/local {e2e['ray'] / e2e['local']:.2f}")  # fmt: skip
    print(f"per core (ray, end to end): {e2e['ray'] / cores:.2f} img/s")
    ray.shutdown()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
