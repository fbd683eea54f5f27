"""Cold start in a fresh process: import, load the bundle, caption one image; print one JSON line.

    python tests/benchmarks/speed_child.py BUNDLE IMAGE [TOKENS]

bench_speed.py runs it and times it from the outside (process start to the JSON line).
"""

from __future__ import annotations

import json
import resource
import sys
import time


def _peak_kib() -> int:
    """Peak resident memory of this process. VmHWM, because ru_maxrss survives exec and would
    report the (larger) benchmark process that started this one."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    t0 = time.perf_counter()
    from nanocaption_desktop.engine import Captioner

    t_import = time.perf_counter()
    captioner = Captioner.load(sys.argv[1])
    t_load = time.perf_counter()
    tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    cap = captioner.caption(sys.argv[2], max_new_tokens=tokens)
    t_cap = time.perf_counter()
    peak_kb = _peak_kib()
    print(
        json.dumps(
            {
                "import_s": t_import - t0,
                "load_s": t_load - t_import,
                "caption_s": t_cap - t_load,
                "tokens": len(cap.token_ids) - 1,
                "decoder": type(captioner.decoder).__name__,
                "encoder": captioner.encoder_graph,
                "peak_rss_mb": peak_kb / 1024,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
