"""Batch benchmark (issue 3): the batch runner vs. a plain loop of ``caption()`` calls over the
same 32 images, and RSS over 1,000 small images. Not collected by pytest (``bench_*.py``).

    python tests/benchmarks/bench_batch.py                  # models/random-full if present
    python tests/benchmarks/bench_batch.py --model DIR --images 32 --small 1000

Runs on the full-size random bundle (``python packaging/make_test_model.py --full``); without
it, falls back to the tiny fixture model and says so (figures then mean little).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fixture_paths
from fixture_paths import TINY_BUNDLE  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "models" / "random-full"


def make_photos(folder: Path, n: int, size: tuple[int, int], seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        base = np.stack([(xx * (i + 1)) % 256, (yy * 3 + i * 7) % 256, (xx + yy) % 256], -1)
        noise = rng.integers(0, 40, size=(h, w, 3))
        img = Image.fromarray(((base + noise) % 256).astype(np.uint8))
        p = folder / f"photo{i:04d}.jpg"
        img.save(p, quality=90)
        paths.append(p)
    return paths


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    from nanocaption_desktop.engine.captioner import Captioner
    from nanocaption_desktop.engine.isolation import DecodePool
    from nanocaption_desktop.jobs import caption_folder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="bundle folder (default: models/random-full)")
    ap.add_argument("--images", type=int, default=32, help="images for the speed comparison")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each variant")
    ap.add_argument("--small", type=int, default=1000, help="small images for the RSS run")
    ap.add_argument(
        "--small-max-tokens",
        type=int,
        default=4,
        help="caption length in the RSS run (memory, not speed, is measured)",
    )
    args = ap.parse_args(argv)

    model = args.model or (FULL if (FULL / "config.json").exists() else None)
    note = ""
    if model is None:
        model, note = (
            TINY_BUNDLE,
            "  (full-size bundle missing: tiny fixture model, figures are not meaningful)",
        )
    t0 = time.perf_counter()
    captioner = Captioner.load(model)
    print(f"model {model} loaded in {time.perf_counter() - t0:.1f} s{note}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        paths = make_photos(folder, args.images, (640, 480), seed=1)
        captioner.caption(paths[0])  # warm-up: sessions, allocator, caches
        pool = DecodePool(captioner.preprocess_config, workers=1)
        pool.prepare(paths[0])  # worker started and warm
        captions: dict[str, list[str]] = {}

        def loop() -> None:
            captions["loop"] = [captioner.caption(p).text for p in paths]

        # what `nanocaption-desktop batch` and caption_folder(model=...) load: single-thread
        # sessions, so the engine captions one image per core at once
        lanes_captioner = Captioner.load(model, threads=1)
        lanes_captioner.caption(paths[0])

        def runner(name: str, *, using: object = captioner, **kw: object) -> None:
            results = caption_folder(folder, captioner=using, resume=False, **kw)
            captions[name] = [r.caption for r in results]

        variants = {
            "plain loop of caption()": loop,
            "batch runner (prefetch thread)": lambda: runner("runner"),
            "batch runner + CSV (journal fsync)": lambda: runner("csv", csv=Path(tmp) / "o.csv"),
            "batch runner + isolated decoding": lambda: runner("pool", preparer=pool.prepare),
            "batch runner, as the CLI runs it (lanes)": lambda: runner(
                "lanes", using=lanes_captioner, preparer=pool.prepare, csv=Path(tmp) / "l.csv"
            ),
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        for r in range(args.rounds):  # interleaved, rotating order: drift hits all alike
            names = list(variants)
            names = names[r % len(names) :] + names[: r % len(names)]
            for name in names:
                t0 = time.perf_counter()
                variants[name]()
                times[name].append(time.perf_counter() - t0)
        pool.close()
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        same = len({tuple(v) for v in captions.values()}) == 1
        n = len(paths)
        base = statistics.median(times["plain loop of caption()"])
        print(
            f"\n{n} images 640x480 JPEG, {args.rounds} interleaved rounds "
            f"(load average {load0:.1f} -> {load1:.1f} on {os.cpu_count()} CPUs)"
        )
        print(f"{'':38}{'median img/s':>13}{'best img/s':>12}{'vs loop':>9}")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:38}{n / med:13.2f}{n / min(ts):12.2f}{base / med:8.2f}x")
        print(f"captions identical in every variant: {same}")
        threads = getattr(captioner.encoder.get_session_options(), "intra_op_num_threads", "?")
        print(
            f"(decoding ahead overlaps the model only where a core is idle: onnxruntime runs "
            f"{threads} intra-op threads on {os.cpu_count()} CPUs here)"
        )

        small = Path(tmp) / "small"
        make_photos(small, args.small, (96, 72), seed=2)
        marks = {100, args.small // 2, args.small}
        rss: dict[int, float] = {0: rss_mb()}
        t0 = time.perf_counter()
        results = caption_folder(
            small,
            captioner=captioner,
            jsonl=Path(tmp) / "s.jsonl",
            max_new_tokens=args.small_max_tokens,
        )
        for i, _r in enumerate(results, 1):
            if i in marks:
                rss[i] = rss_mb()
        t_small = time.perf_counter() - t0
        print(
            f"\nRSS over {args.small} small images (96x72, max {args.small_max_tokens} tokens, "
            f"{args.small / t_small:.1f} images/s):"
        )
        print("  " + ", ".join(f"after {k}: {v:.0f} MB" for k, v in sorted(rss.items())))
        grow = rss[args.small] - rss[min(100, args.small)]
        print(
            f"  growth from image 100 to {args.small}: {grow:+.1f} MB; "
            f"peak RSS of the process {peak_rss_mb():.0f} MB"
        )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
