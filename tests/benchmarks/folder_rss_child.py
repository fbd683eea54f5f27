"""Peak memory of a folder batch in a fresh process: ``caption_folder`` as the CLI runs it (the
model loaded by the batch, images decoded in a worker process), one JSON line.

    python tests/benchmarks/folder_rss_child.py BUNDLE FOLDER ROWS [TOKENS]

bench_speed.py runs it for 1 row and for the default rows; VmHWM of this process (the worker
process that decodes the images is small and separate).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from speed_child import _peak_kib


def main() -> None:
    from nanocaption_desktop.jobs import caption_folder

    bundle, folder, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tokens = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        results = list(
            caption_folder(
                folder,
                csv=Path(tmp) / "out.csv",
                rows=rows,
                model=bundle,
                max_new_tokens=tokens,
                resume=False,
                isolate=True,
            )
        )
        seconds = time.perf_counter() - t0
    ok = sum(r.ok for r in results)
    print(
        json.dumps(
            {
                "rows": rows,
                "images": len(results),
                "ok": ok,
                "seconds": seconds,
                "peak_rss_mb": _peak_kib() / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
