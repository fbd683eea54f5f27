"""Where one caption's time goes, per op type, from onnxruntime's own profiler. Run on demand:

    python tests/benchmarks/profile_ops.py [--bundle models/random-full] [--runs 5] [--tokens 16]

The engine's graphs (the derived encoder, cross graph and step graph, as Captioner.load opens
them, with the same session options) are opened again with profiling on
(`SessionOptions.enable_profiling`), one image is captioned `--runs` times after a warm-up, and
the profile's JSON is read back. For each graph it prints, per op type (onnxruntime's fused
kernels keep their own names): milliseconds per run (per token, for the step graph), kernels
per run, and the time of the run outside any kernel (the runtime's own work between kernels:
binding, allocation, thread hand-offs). The profiler adds some time of its own to every kernel.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

from nanocaption_desktop.engine.captioner import Captioner  # noqa: E402
from nanocaption_desktop.engine.decoder import EXACT, STEP_SPINNING, HoistedDecoder  # noqa: E402
from nanocaption_desktop.engine.decoding import generate  # noqa: E402
from nanocaption_desktop.engine.sessions import make_session, physical_cores  # noqa: E402

IMAGE = ROOT / "tests" / "fixtures" / "images" / "sun_and_grass.jpg"


def summarize(profile: Path, warm_up: int = 1) -> dict[str, Any]:
    """Per op type: total microseconds and kernel count over all runs; the runs' count and total
    microseconds; from one onnxruntime profile file (the first `warm_up` runs left out)."""
    events = json.loads(profile.read_text())
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    runs = runs[warm_up:]
    if not runs:
        return {"runs": 0, "run_us": 0.0, "ops": {}}
    start = runs[0]["ts"]
    ops: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
            row = ops[e["args"]["op_name"]]
            row[0] += e["dur"]
            row[1] += 1
    return {"runs": len(runs), "run_us": float(sum(e["dur"] for e in runs)), "ops": dict(ops)}


def table(name: str, s: dict[str, Any], per: str) -> list[str]:
    """Markdown rows: op type, ms per run, kernels per run, share of the run."""
    n = s["runs"]
    if not n:
        return [f"{name}: no runs profiled"]
    run_ms = s["run_us"] / n / 1000
    kernel_ms = sum(us for us, _ in s["ops"].values()) / n / 1000
    kernels = sum(c for _, c in s["ops"].values()) / n
    lines = [
        f"\n{name}: {n} runs, {run_ms:.2f} ms per {per}, {kernels:.0f} kernels per {per}, "
        f"{kernel_ms:.2f} ms in kernels, {run_ms - kernel_ms:.2f} ms outside them",
        f"| op type | ms per {per} | kernels per {per} | share of the run |",
        "|---|---:|---:|---:|",
    ]
    for op, (us, count) in sorted(s["ops"].items(), key=lambda kv: -kv[1][0]):
        ms = us / n / 1000
        lines.append(f"| {op} | {ms:.3f} | {count / n:.0f} | {ms / run_ms:.0%} |")
    lines.append(
        f"| (outside kernels) | {run_ms - kernel_ms:.3f} | | {1 - kernel_ms / run_ms:.0%} |"
    )
    return lines


def profile(bundle: Path, threads: int, runs: int, tokens: int, out: Path) -> dict[str, Any]:
    """Profile `runs` captions of one image (after a warm-up) on the engine's graphs."""
    c = Captioner.load(bundle, threads=threads)
    if not isinstance(c.decoder, HoistedDecoder):
        sys.exit(f"{bundle}: the engine uses the stock decoder graph here; nothing derived")
    step = Path(c.decoder.path)
    cross = step.with_name("cross.onnx")
    enc = make_session(c.encoder_file, threads=threads, spinning=True, profile=out / "encoder")
    dec = HoistedDecoder(
        make_session(cross, threads=threads, disabled_optimizers=EXACT, profile=out / "cross"),
        make_session(
            step,
            threads=threads,
            spinning=STEP_SPINNING,
            disabled_optimizers=EXACT,
            profile=out / "step",
        ),
        str(step),
        broadcast=c.decoder.broadcast,
    )
    want = c.caption_pixels(c.prepare(IMAGE), max_new_tokens=tokens).token_ids
    c.encoder, c.decoder = enc, dec
    pixels = c.prepare(IMAGE)
    settings = c.settings.override(beams=1, max_new_tokens=tokens)
    for _ in range(runs + 1):
        got = generate(dec.begin(c.encode(pixels), 1), settings).token_ids
        if got != want:
            sys.exit("the profiled sessions gave other tokens than the engine")
    files = {
        "encoder": Path(enc.end_profiling()),
        "cross": Path(dec.cross.end_profiling()),
        "step": Path(dec.step.end_profiling()),
    }
    warm_up = {"encoder": 1, "cross": 1, "step": len(want) - 1}  # the first caption's runs
    out = {k: summarize(f, warm_up[k]) for k, f in files.items()}
    return out | {"generated": len(want) - 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle", default=str(ROOT / "models" / "random-full"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--json", help="write the summaries here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = profile(Path(args.bundle), args.threads, args.runs, args.tokens, Path(tmp))
    print(f"threads {args.threads}, {res['generated']} tokens per caption, {args.runs} captions")
    for name, per in (("encoder", "image"), ("cross", "image"), ("step", "token")):
        print("\n".join(table(f"{name} graph", res[name], per)))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
