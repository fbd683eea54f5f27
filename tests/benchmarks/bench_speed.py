"""Speed benchmark on the full-size random bundle (issue 6). Run on demand, not by pytest:

    python packaging/make_test_model.py --full          # once: models/random-full (~5 min)
    python tests/benchmarks/bench_speed.py [--bundle models/random-full] [--json out.json]

One image, greedy, 16 new tokens, INT8, all contenders in one process, alternating in rotating
order after a warm-up, the median of `--repeats` runs each:
  (a) our engine (derived encoder, hoisted cross/step graphs, IOBinding);  (b) the naive loop
  over the same INT8 files (no key/value cache: the whole sequence again at every step); (c) the
  stock KV loop (the Optimum export's encoder and decoder_with_past, as transformers.js runs
  them); (d) transformers' PyTorch fp32 generate(), when torch is installed; beam search with 4
  beams for (a) and (d). (b) and (c) run the stock encoder graph with the engine's settings.
Folder throughput over `--folder-images` images: our engine's caption_stream (two lanes on
single-thread sessions, one image each: "today's lanes"; and, on the rows graph, groups of each
of `--rows` images decoded together while the other worker encodes, engine/groups.py) and a
plain loop of our engine vs a plain loop of the stock path, each caption checked against the one
the image gets alone; each group size is also printed against the lanes as issue 18 found them
round by round (a round runs every contender once), so one run shows its own spread. Cold start
to the first caption and peak
RSS in a fresh process (speed_child.py); the window-visible time of the GUI (n/a if it cannot
start).
Ratios are against (b), (c), (d) and the lower bound from FLOPs and weight bytes
(speed_contenders.lower_bound, with this machine's bandwidth and INT8 rate measured here: the
bandwidth the best of several multi-threaded streaming probes, bound_probes.py, each and every
rate the best of `--probe-repeats` runs before the contenders and as many after them, since
the load of a shared machine moves; the report prints every probe and the one that won).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import speed_contenders as sc  # noqa: E402

from nanocaption_desktop.engine import Captioner, hugepages  # noqa: E402
from nanocaption_desktop.engine.pipeline import caption_stream  # noqa: E402
from nanocaption_desktop.engine.sessions import make_session, physical_cores  # noqa: E402
from nanocaption_desktop.jobs.spec import DEFAULT_ROWS  # noqa: E402

IMAGE = ROOT / "tests" / "fixtures" / "images" / "sun_and_grass.jpg"


def alternate(contenders: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Warm each up once, then `repeats` rounds in rotating order; seconds per run. The weights
    are on huge pages before the first round (engine/hugepages.py: collapsed in the background
    from a captioner's second image on)."""
    for fn in contenders.values():
        fn()
    hugepages.settle(120)
    times: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def app_bundle(bundle: Path) -> Path:
    """A copy with only what the app installs (the JSON files, the INT8 encoder and
    decoder_with_past), as `models fetch` lays it out: cold start and memory are measured on
    it, not on a folder that also holds the fp32 and reference files."""
    dest = bundle.parent / f"{bundle.name}-app"
    (dest / "onnx").mkdir(parents=True, exist_ok=True)
    names = [p.name for p in bundle.glob("*.json") if p.name != "expected_full.json"]
    names += [f"onnx/{n}_quantized.onnx" for n in ("encoder_model", "decoder_with_past_model")]
    for name in names:
        src, dst = bundle / name, dest / name
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
    return dest


def cold_start(bundle: Path, runs: int, tokens: int) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "speed_child.py"), str(bundle), str(IMAGE), str(tokens)]
    rows = []
    for k in range(runs + 1):  # the first one warms the page cache (and derives if needed)
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        row = json.loads(out.stdout.strip().splitlines()[-1])
        if k:
            rows.append(row | {"wall_s": wall})
    med = {
        key: float(np.median([r[key] for r in rows]))
        for key in ("wall_s", "import_s", "load_s", "caption_s", "peak_rss_mb")
    }
    return med | {"decoder": rows[-1]["decoder"], "encoder": rows[-1]["encoder"], "runs": rows}


def window_visible(runs: int) -> float | None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NANOCAPTION_QUIT_AFTER_READY="1")
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nanocaption_desktop"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError:
            return None
        seen = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if "ready: window shown" in line:
                seen = time.perf_counter() - t0
                break
        proc.kill()
        proc.wait()
        if seen is None:
            return None
        times.append(seen)
    return float(np.median(times[1:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle", default=str(ROOT / "models" / "random-full"))
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--folder-images", type=int, default=64)
    ap.add_argument("--folder-repeats", type=int, default=5)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument(
        "--rows", default="1,2,4,8", help="folder part: images per weight pass (a group)"
    )
    ap.add_argument(
        "--probe-repeats", type=int, default=40, help="best of N for every rate and bandwidth"
    )
    ap.add_argument("--skip", default="", help="comma list of: torch,folder,rss,cold,window")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    bundle = Path(args.bundle)
    if not (bundle / "config.json").is_file():
        sys.exit(f"{bundle}: no bundle; make it with python packaging/make_test_model.py --full")
    config = json.loads((bundle / "config.json").read_text())
    th, n = args.threads, args.tokens
    res: dict[str, Any] = {
        "threads": th,
        "tokens": n,
        "bundle": str(bundle),
        "repeats": args.repeats,
    }

    limits = sc.machine_limits(th, args.probe_repeats)

    eng = sc.engine(bundle, th)
    stock = sc.stock_captioner(bundle, th)
    naive_begin, naive_file = sc.naive_decoder(bundle, th)
    naive = sc.OnnxContender(stock, naive_begin)
    stock_run = sc.OnnxContender(stock, stock.decoder.begin)
    px = eng.prepare(IMAGE)
    single: dict[str, Callable[[], Any]] = {
        "a_engine": lambda: eng.caption_pixels(px, beams=1, max_new_tokens=n),
        "b_naive": lambda: naive(px, 1, n),
        "c_stock": lambda: stock_run(px, 1, n),
        "a_engine_beam4": lambda: eng.caption_pixels(px, beams=4, max_new_tokens=n),
    }
    torch_ok = "torch" not in skip and (bundle / "pytorch").is_dir()
    if torch_ok:
        try:
            tc = sc.TorchContender(bundle / "pytorch", th)
            single["d_torch"] = lambda: tc(px, 1, n)
            single["d_torch_beam4"] = lambda: tc(px, 4, n)
        except ImportError:
            torch_ok = False
    toks = {k: fn() for k, fn in single.items()}
    toks = {k: tuple(v.token_ids) if hasattr(v, "token_ids") else tuple(v) for k, v in toks.items()}
    res["tokens_equal_engine_stock"] = toks["a_engine"] == toks["c_stock"]
    res["generated"] = {k: len(v) - 1 for k, v in toks.items()}
    times = alternate(single, args.repeats)
    res["single_s"] = {k: float(np.median(v)) for k, v in times.items()}
    res["single_all_s"] = times
    # the probes again after the contenders: on a shared machine the load moves, and a limit is
    # the best the machine did at any time in the run
    limits = sc.best_limits(limits, sc.machine_limits(th, args.probe_repeats))
    res["limits"], res["lower_bound"] = limits, sc.lower_bound(config, n, limits)
    res["naive_file"] = naive_file

    if "folder" not in skip:
        rows = [int(r) for r in args.rows.split(",") if r]
        res["folder"] = folder(
            bundle, th, args.folder_images, args.folder_repeats, n, eng, stock, rows
        )
    if "rss" not in skip:
        rss_rows = sorted({1, DEFAULT_ROWS})
        res["folder_rss"] = folder_rss(bundle, args.folder_images, n, rss_rows)
    if "cold" not in skip:
        res["cold"] = cold_start(app_bundle(bundle), args.cold_runs, n)
    res["window_visible_s"] = None if "window" in skip else window_visible(3)
    report(res)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")


def folder(
    bundle: Path,
    th: int,
    count: int,
    repeats: int,
    n: int,
    eng: Any,
    stock: Any,
    rows: list[int],
) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    images = [rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32) for _ in range(count)]
    eng1 = sc.engine(bundle, 1)  # single-thread sessions: one image per core
    alone = [eng.caption_pixels(p, max_new_tokens=n).token_ids for p in images]
    got: dict[str, list[tuple[int, ...]]] = {}

    def loop(c: Any, name: str) -> Callable[[], None]:
        def run() -> None:
            got[name] = [c.caption_pixels(p, max_new_tokens=n).token_ids for p in images]

        return run

    def stream(c: Any, name: str, r: int = 1) -> Callable[[], None]:
        def run() -> None:
            items = [(k, p, "") for k, p in enumerate(images)]
            caps = caption_stream(c, items, max_new_tokens=n, beams=1, rows=r)
            got[name] = [cap.token_ids for _, cap in caps]

        return run

    # today's lanes as issue 18 found them: the encoder then kept no prepacked weights, every
    # page was 4 KB (its sessions and the arenas of a first caption excluded from huge pages),
    # and the step graph decoded (no step engine)
    with hugepages.excluded():
        eng1_filed = sc.engine(bundle, 1, step_engine=False)
        eng1_filed.encoder = make_session(eng1_filed.encoder_file, threads=1, prepack=False)
        list(caption_stream(eng1_filed, [(0, p, "") for p in images[:8]], max_new_tokens=n))
    contenders = {
        "stock_loop": loop(stock, "stock_loop"),
        "engine_loop": loop(eng, "engine_loop"),
        "stream_lanes_as_filed": stream(eng1_filed, "stream_lanes_as_filed"),
        "stream_lanes": stream(eng1, "stream_lanes"),
    }
    # a folder's captioner (jobs.folder_captioner): the rows graph in the step graph's place
    eng_rows = Captioner.load(bundle, threads=1, rows_graph=True)
    for r in rows:
        contenders[f"rows_graph_rows{r}"] = stream(eng_rows, f"rows_graph_rows{r}", r)
    times = alternate(contenders, repeats)
    out: dict[str, Any] = {"images": count, "repeats": repeats}
    for name, ts in times.items():
        out[name] = {
            "images_per_s": count / float(np.median(ts)),
            "same_as_alone": got[name] == alone,
            "seconds": [float(t) for t in ts],  # round by round (`paired`)
        }
    return out


def paired(slow: list[float], fast: list[float]) -> list[float]:
    """Round by round, how many times faster `fast` ran than `slow` (both from one `alternate`:
    each round runs every contender once, so a round's two times saw the same machine)."""
    return [s / f for s, f in zip(slow, fast, strict=True)]


def folder_rss(bundle: Path, count: int, n: int, rows: list[int]) -> dict[int, Any]:
    """Peak RSS and images/s of a folder batch in a fresh process (folder_rss_child.py) at
    each number of rows, on `count` random images written as PNG files."""
    from PIL import Image

    rng = np.random.default_rng(11)
    out: dict[int, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(count):
            pixels = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(Path(tmp) / f"img{k:03d}.png")
        for r in rows:
            done = subprocess.run(
                [sys.executable, str(HERE / "folder_rss_child.py"), str(bundle), tmp, str(r),
                 str(n)],
                capture_output=True, text=True, check=True, cwd=HERE,
            )  # fmt: skip
            out[r] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def _ms(s: float | None) -> str:
    return "n/a" if s is None else f"{s * 1000:8.0f}"


def report(res: dict[str, Any]) -> None:
    s, lb = res["single_s"], res["lower_bound"]
    lim = res["limits"]
    print(
        f"\nthreads {res['threads']}, {res['tokens']} new tokens, median of {res['repeats']}; "
        f"read {lim['read_bytes_per_s'] / 1e9:.1f} GB/s, INT8 {lim['int8_ops_per_s'] / 1e9:.0f} "
        f"Gop/s, fp32 {lim.get('fp32_ops_per_s', 0) / 1e9:.0f} Gflop/s; engine tokens == stock "
        f"tokens: {res['tokens_equal_engine_stock']}"
    )
    bw = lim["bandwidth"]
    probes = ", ".join(f"{k} {v / 1e9:.1f}" for k, v in bw["rates"].items())
    print(
        f"bandwidth probes (GB/s, best of {bw['repeats']}, {bw['bytes'] >> 20} MB each, "
        f"last-level cache {bw['llc_bytes'] >> 20} MB): {probes}; the bound uses {bw['best']}"
    )
    print(
        f"{'one image':34s} {'ms':>8s} {'vs naive':>9s} {'vs stock':>9s} {'vs torch':>9s} "
        f"{'/ bound':>8s}"
    )
    rows = [
        ("(a) engine, greedy", "a_engine", "d_torch"),
        ("(b) naive loop, INT8", "b_naive", "d_torch"),
        ("(c) stock KV loop, INT8", "c_stock", "d_torch"),
        ("(d) PyTorch fp32 generate()", "d_torch", "d_torch"),
        ("(a) engine, beam 4", "a_engine_beam4", "d_torch_beam4"),
        ("(d) PyTorch fp32, beam 4", "d_torch_beam4", "d_torch_beam4"),
    ]
    for label, key, torch_key in rows:
        if key not in s:
            print(f"{label:34s} {'n/a':>8s}")
            continue
        t = s[key]

        def ratio(other: str | None, t: float = t) -> str:
            return f"{s[other] / t:8.2f}x" if other in s else f"{'n/a':>9s}"

        greedy = "beam" not in key
        vs_bound = f"{t / lb['total']:7.2f}x" if greedy else ""
        print(
            f"{label:34s} {_ms(t)} {ratio('b_naive') if greedy else '':>9s} "
            f"{ratio('c_stock') if greedy else '':>9s} {ratio(torch_key):>9s} "
            f"{vs_bound:>8s}"
        )
    print(
        f"{'lower bound (INT8, keys/values once)':34s} {_ms(lb['total'])}   "
        f"(encoder {lb['encoder'] * 1000:.0f} ms, {lb['per_token'] * 1000:.1f} ms/token)"
    )
    f = res.get("folder")
    if f:
        base, lanes = f["stock_loop"]["images_per_s"], f["stream_lanes"]["images_per_s"]
        filed = f.get("stream_lanes_as_filed", {}).get("images_per_s")
        print(
            f"\nfolder, {f['images']} images, median of {f['repeats']}: images/s  vs stock loop"
            "  vs lanes  captions as alone  vs lanes as filed (issue 18)"
        )
        for name in [k for k in f if isinstance(f[k], dict)]:
            r = f[name]
            vs_filed = f"{r['images_per_s'] / filed:8.2f}x" if filed else "     n/a"
            print(
                f"  {name:32s} {r['images_per_s']:7.2f} {r['images_per_s'] / base:9.2f}x"
                f" {r['images_per_s'] / lanes:8.2f}x  {r['same_as_alone']!s:5s} {vs_filed}"
            )
        if filed:
            for name in [k for k in f if k.startswith("rows_graph_rows")]:
                ratios = paired(f["stream_lanes_as_filed"]["seconds"], f[name]["seconds"])
                print(
                    f"  {name} vs lanes as filed, round by round: "
                    + ", ".join(f"{x:.2f}x" for x in ratios)
                    + f" (median {float(np.median(ratios)):.2f}x)"
                )
    for r, m in (res.get("folder_rss") or {}).items():
        print(
            f"folder batch, fresh process, rows {r}: peak RSS {m['peak_rss_mb']:.0f} MB, "
            f"{m['images'] / m['seconds']:.2f} images/s ({m['ok']}/{m['images']} ok)"
        )
    c = res.get("cold")
    if c:
        print(
            f"\ncold start to first caption (fresh process, warm page cache): {c['wall_s']:.2f} s"
            f" (import {c['import_s']:.2f}, load {c['load_s']:.2f}, caption "
            f"{c['caption_s']:.2f}; {c['decoder']}, encoder {c['encoder']}); peak RSS "
            f"{c['peak_rss_mb']:.0f} MB"
        )
    w = res.get("window_visible_s")
    print(f"window visible after launch: {'n/a' if w is None else f'{w:.2f} s'}")


if __name__ == "__main__":
    main()
