"""How close can the engine get? The kernels that compute a caption, against the bound (issue 18).
Run on demand, not by pytest:

    python tests/benchmarks/floor.py [--bundle models/random-full] [--rows 1,4,8] [--json F]

Everything in one process, on a quiet machine if you can find one:
- The machine's limits (speed_contenders.machine_limits: the best of the bandwidth probes and
  the INT8 and fp32 rates), before the contenders and again after them, each rate the best of
  both, and from them the lower bound for one caption (speed_contenders.lower_bound).
- One image (all cores, as the window captions it): the engine's time (median of `--repeats`)
  and its *floor*: the kernels whose arithmetic is the caption, each as onnxruntime computes
  it, in graphs of nothing else (products_floor.py: every weight product of the engine's own
  encoder, cross and step graphs as `DynamicQuantizeMatMul` over their INT8 weights; attention's
  fp32 products; the layer norms, softmaxes and GELUs), each graph's best of 4 x `--repeats`
  runs. Copies, reshapes, transposes, masks and all time between kernels count as zero, so no
  exact rewrite of the graphs can go below it: the tokens are these kernels' arithmetic. A
  floor over 1.5x the bound puts issue 18's first target out of reach with onnxruntime's
  kernels on this machine.
- A folder (one thread per worker, as a folder batch runs): the encoder and the step graph's
  decode of one image (today's lanes: CPU time per image = encoder + decode) and the rows
  graph's decode of R images (per image); the CPU-time ratio they give (what a scheduler that
  never idles achieves: engine/groups.py comes within 1-2% of it), and the ceiling that the
  floor of 16 rows steps (per image) and of the cross graph sets on it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IMAGE = ROOT / "tests" / "fixtures" / "images" / "sun_and_grass.jpg"
sys.path.insert(0, str(HERE))

import products_floor as pf  # noqa: E402
import speed_contenders as sc  # noqa: E402
from bound_probes import run_times  # noqa: E402

from nanocaption_desktop.engine import hugepages  # noqa: E402
from nanocaption_desktop.engine.captioner import Captioner  # noqa: E402
from nanocaption_desktop.engine.decoder import HoistedDecoder  # noqa: E402
from nanocaption_desktop.engine.decoding import generate  # noqa: E402
from nanocaption_desktop.engine.sessions import physical_cores  # noqa: E402


def median_s(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of `fn` after one warm-up run."""
    return statistics.median(run_times(fn, repeats))


def shapes(config: dict[str, Any]) -> dict[str, int]:
    enc, dec = config["encoder"], config["decoder"]
    return {
        "d": enc["hidden_size"],
        "layers": enc["num_hidden_layers"],
        "heads": enc["num_attention_heads"],
        "f": enc["intermediate_size"],
        "image": (enc["image_size"] // enc["patch_size"]) ** 2 + 1,
        "dd": dec["n_embd"],
        "dlayers": dec["n_layer"],
        "dheads": dec["n_head"],
        "ff": dec.get("n_inner") or 4 * dec["n_embd"],
    }


def graphs(c: Captioner) -> dict[str, Path]:
    if not isinstance(c.decoder, HoistedDecoder):
        sys.exit("the engine uses the stock decoder graph here; nothing derived")
    step = Path(c.decoder.path)
    return {"encoder": Path(c.encoder_file), "cross": step.with_name("cross.onnx"), "step": step}


def encoder_floor(files: dict[str, Path], m: dict[str, int], th: int, n: int) -> dict[str, float]:
    """The encoder's and the cross graph's products and other kernels, ms (best of `n`)."""
    t = m["image"]
    weights, _ = pf.weight_products(files["encoder"], t, th, n)
    attention = pf.attention_products(
        pf.encoder_attention(m["heads"], m["layers"], t, m["d"]), th, n
    )
    others = pf.other_kernels(
        [[1, t, m["d"]]] * (2 * m["layers"] + 1),
        [[1, m["heads"], t, t]] * m["layers"],
        [[1, t, m["f"]]] * m["layers"],
        th,
        n,
    )
    cross, _ = pf.weight_products(files["cross"], t, th, n)
    return {"encoder": 1000 * (weights + attention + others), "cross": 1000 * cross}


def step_floor(
    files: dict[str, Path], m: dict[str, int], rows: int, th: int, n: int, tokens: int
) -> float:
    """Ms for `tokens` steps of `rows` rows: weight products, attention over the image and the
    tokens so far, layer norms, softmaxes and GELUs (best of `n` each)."""
    weights, _ = pf.weight_products(files["step"], rows, th, n)
    total = 0.0
    for k in range(1, tokens + 1):
        total += pf.attention_products(
            pf.step_attention(rows, m["dheads"], m["dlayers"], m["image"], m["dd"], k), th, n
        )
    half = [[rows, m["dheads"], 1, tokens // 2 + 1]] * m["dlayers"]
    others = pf.other_kernels(
        [[rows, 1, m["dd"]]] * (3 * m["dlayers"] + 1),
        [[rows, m["dheads"], 1, m["image"]]] * m["dlayers"] + half,
        [[rows, 1, m["ff"]]] * m["dlayers"],
        th,
        n,
    )
    return 1000 * (total + tokens * (weights + others))


def one_image(bundle: Path, m: dict[str, int], tokens: int, repeats: int) -> dict[str, Any]:
    """The engine on all cores, and the floor of its kernels."""
    threads = physical_cores()
    c = Captioner.load(bundle, threads=threads)
    pixels = c.prepare(IMAGE)
    steps = len(c.caption_pixels(pixels, max_new_tokens=tokens).token_ids) - 1
    c.caption_pixels(pixels, max_new_tokens=tokens)
    hugepages.settle(120)  # its weights on 2 MB pages, as from the second image on
    engine = median_s(lambda: c.caption_pixels(pixels, max_new_tokens=tokens), repeats)
    files = graphs(c)
    n = 4 * repeats
    enc = encoder_floor(files, m, threads, n)
    return {
        "threads": threads,
        "steps": steps,
        "engine_ms": engine * 1000,
        "floor_ms": enc["encoder"] + enc["cross"] + step_floor(files, m, 1, threads, n, steps),
        "floor_parts_ms": enc,
    }


def folder(bundle: Path, m: dict[str, int], rows: list[int], repeats: int) -> dict[str, Any]:
    """Per image CPU time on one-thread sessions: today's lanes (the step graph, one image at a
    time) and the rows graph at each R; the floor of the kernels at R rows and the ceiling it
    sets on images/s against today's lanes."""
    lanes = Captioner.load(bundle, threads=1, encoder_threads=1)
    c = Captioner.load(bundle, threads=1, encoder_threads=1, rows_graph=True)
    rd = c.rows_decoder()
    if not isinstance(lanes.decoder, HoistedDecoder) or rd is None:
        sys.exit("this bundle has no derived step and rows graphs")
    rng = np.random.default_rng(0)
    pix = [rng.standard_normal((1, 3, 224, 224)).astype(np.float32) for _ in range(max(rows))]
    hidden = [lanes.encode(p) for p in pix]
    for p in pix[:2]:
        c.encode(p)  # its second image: the pass that puts its weights on 2 MB pages
    hugepages.settle(120)  # both captioners' passes done
    s = lanes.settings.override(beams=1, max_new_tokens=16)
    encoder = 1000 * median_s(lambda: lanes.encode(pix[0]), repeats)
    one = 1000 * median_s(lambda: generate(lanes.decoder.begin(hidden[0], 1), s), repeats)
    files = graphs(lanes)
    floor = encoder_floor(files, m, 1, 2 * repeats)
    today = encoder + one
    per_r: dict[int, Any] = {}
    for r in rows:
        t = 1000 * median_s(lambda r=r: rd.greedy(iter(hidden[:r]), r, s), repeats) / r
        steps = step_floor(files, m, r, 1, 2 * repeats, 16) / r
        per_r[r] = {
            "decode_ms_per_image": t,
            "ratio": today / (encoder + t),
            "step_floor_ms_per_image": steps,
            "ceiling": today / (encoder + floor["cross"] + steps),
            "ceiling_encoder_at_floor": today / (floor["encoder"] + floor["cross"] + steps),
        }
    return {
        "encoder_ms": encoder,
        "lanes_decode_ms": one,
        "floor_ms": floor,
        "rows": per_r,
    }


def report(res: dict[str, Any]) -> None:
    lim, lb, one = res["limits"], res["lower_bound"], res["one_image"]
    bw = lim["bandwidth"]
    print(
        f"read {lim['read_bytes_per_s'] / 1e9:.1f} GB/s ({bw['best']}), INT8 "
        f"{lim['int8_ops_per_s'] / 1e9:.0f} Gop/s, fp32 {lim['fp32_ops_per_s'] / 1e9:.0f} Gflop/s"
    )
    bound = lb["total"] * 1000
    print(f"\none image, {one['threads']} threads, encoder + {one['steps']} tokens:")
    print("| measure | ms | / bound |\n|---|---:|---:|")
    rows = [
        ("the engine (median)", one["engine_ms"]),
        ("the floor: its products, norms, softmaxes, GELUs alone (best)", one["floor_ms"]),
        ("lower bound", bound),
    ]
    for label, ms in rows:
        print(f"| {label} | {ms:.1f} | {ms / bound:.2f}x |")
    f = res["folder"]
    print(
        f"\nfolder, one thread per worker: encoder {f['encoder_ms']:.1f} ms (floor "
        f"{f['floor_ms']['encoder']:.1f}), today's decode (step graph, one image) "
        f"{f['lanes_decode_ms']:.1f} ms, cross graph floor {f['floor_ms']['cross']:.1f} ms"
    )
    print(
        "| rows | decode ms per image | CPU time vs today's | floor of 16 steps per image "
        "| ceiling | ceiling, encoder at its floor |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for r, v in f["rows"].items():
        print(
            f"| {r} | {v['decode_ms_per_image']:.1f} | {v['ratio']:.2f}x | "
            f"{v['step_floor_ms_per_image']:.1f} | {v['ceiling']:.2f}x | "
            f"{v['ceiling_encoder_at_floor']:.2f}x |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle", default=str(ROOT / "models" / "random-full"))
    ap.add_argument("--rows", default="1,4,8")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--probe-repeats", type=int, default=20)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    bundle = Path(args.bundle)
    config = json.loads((bundle / "config.json").read_text())
    m = shapes(config)
    before = sc.machine_limits(physical_cores(), args.probe_repeats)
    res: dict[str, Any] = {"one_image": one_image(bundle, m, 16, args.repeats)}
    rows = [int(r) for r in args.rows.split(",") if r]
    res["folder"] = folder(bundle, m, rows, args.repeats)
    after = sc.machine_limits(physical_cores(), args.probe_repeats)
    res["limits"] = sc.best_limits(before, after)
    res["lower_bound"] = sc.lower_bound(config, res["one_image"]["steps"], res["limits"])
    report(res)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
