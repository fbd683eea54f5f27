"""What a folder's stream is made of, and what it could reach: a probe for issue 18.

    python tests/benchmarks/folder_parts.py [--bundle models/random-full] [--repeats 12]

A folder at `--rows 8` runs two workers on one-thread sessions: each encodes images, and one at
a time decodes a group of 8 on the own graph (the rows graph where the own kernel runs) while the
other encodes (engine/groups.py). This times the two parts alone and side by side (one thread
decoding groups while this one encodes), medians, and prints the images per second the stream
would reach if the two cores did nothing else: 2 cores / (8 encoders + one group's decoding).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from nanocaption_desktop.engine import Captioner, hugepages  # noqa: E402

IMAGES = ROOT / "tests" / "fixtures" / "images"
ROWS = 8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(ROOT / "models" / "random-full"))
    ap.add_argument("--repeats", type=int, default=12)
    args = ap.parse_args()
    c = Captioner.load(args.bundle, threads=1, rows_graph=True)
    print("decoder:", c.decoder_graphs)
    rng = np.random.default_rng(0)
    size = c.preprocess_config.height, c.preprocess_config.width
    pixels = [rng.standard_normal((1, 3, *size)).astype(np.float32) for _ in range(ROWS)]
    encoded = [c.encode_rows(p) for p in pixels]

    def decode() -> float:
        t0 = time.perf_counter()
        c.decode_rows(encoded, max_new_tokens=16)
        return time.perf_counter() - t0

    def encode(n: int) -> list[float]:
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            c.encode(pixels[i % ROWS])
            times.append(time.perf_counter() - t0)
        return times

    decode(), decode()  # warm-up; then the sessions' memory onto 2 MB pages, as the app does
    hugepages.schedule(hugepages.resident())
    hugepages.settle(300)
    alone_enc = statistics.median(encode(args.repeats))
    alone_dec = statistics.median(decode() for _ in range(3))
    beside_dec: list[float] = []
    done = threading.Event()

    def decoding() -> None:
        while not done.is_set():
            beside_dec.append(decode())

    worker = threading.Thread(target=decoding)
    worker.start()
    time.sleep(0.05)
    beside_enc = statistics.median(encode(args.repeats + 4))
    done.set()
    worker.join()
    beside = statistics.median(beside_dec)
    print(
        f"one image's encoder, one thread: alone {alone_enc * 1e3:.1f} ms, beside a group "
        f"decoding {beside_enc * 1e3:.1f} ms"
    )
    print(
        f"a group of {ROWS} decoded (16 tokens), one thread: alone {alone_dec * 1e3:.0f} ms, "
        f"beside an encoder {beside * 1e3:.0f} ms"
    )
    cpu = ROWS * beside_enc + beside
    print(
        f"a group's CPU time side by side: {cpu * 1e3:.0f} ms ({ROWS * beside_enc / cpu:.0%} "
        f"encoding); on 2 cores at most {2 * ROWS / cpu:.2f} images/s"
    )


if __name__ == "__main__":
    main()
