"""What a kernel of our own would make of the step's weight products: a probe for issue 18.

    python tests/benchmarks/own_products.py --bundle models/random-full [--rows 1,8] [--repeats 30]

The 73 INT8 weight products of one decoder step (the derived step graph's own weights), one
thread, three ways, each the median of `repeats` runs after a warm-up:
  onnxruntime            its fused DynamicQuantizeMatMul, in a graph of nothing else
                         (products_floor.py), weights on the 4 KB pages it allocates them on
  onnxruntime, 2 MB pages  the same session after its memory was collapsed onto huge pages
                         (engine/hugepages.py, as the app does from a captioner's second image)
  own kernel             own_products.c (AVX512-VNNI, the weights packed into one buffer on
                         2 MB pages, read once front to back), compiled here with the system's
                         C compiler; its int32 results are first checked equal, element for
                         element, to onnxruntime's MatMulInteger on every weight
A probe only: the app ships no compiled code of its own. It needs a C compiler, Linux and a CPU
with AVX512-VNNI, and says so when one is missing.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bound_probes import run_times  # noqa: E402

from nanocaption_desktop.engine import hugepages  # noqa: E402

HERE = Path(__file__).resolve().parent
#: the app's own kernel and its onnxruntime custom ops (compiled at install; here for the probes)
KERNELS = HERE.parents[1] / "nanocaption_desktop" / "engine" / "kernels" / "products.c"
HUGE = 2 << 20


def step_weights(bundle: Path) -> list[np.ndarray]:
    """The int8 weight of each MatMulInteger of the derived step graph, in graph order."""
    step = bundle / "optimized" / "decoder_with_past_model_quantized" / "step.onnx"
    if not step.is_file():
        sys.exit(f"{step}: missing; caption one image with this bundle first (it derives it)")
    m = onnx.load(str(step))
    inits = {i.name: i for i in m.graph.initializer}
    out = []
    for n in m.graph.node:
        w = inits.get(n.input[1]) if n.op_type == "MatMulInteger" else None
        if w is not None and len(w.dims) == 2:
            out.append(numpy_helper.to_array(w))
    return out


def build(tmp: Path, extra: Sequence[Path] = ()) -> ctypes.CDLL:
    """own_products.c (and `extra` sources) compiled into tmp/own_products.so, loaded."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        sys.exit("no C compiler (cc): the probe compiles own_products.c")
    flags = open("/proc/cpuinfo").read()
    if "avx512_vnni" not in flags or "avx512bw" not in flags:
        sys.exit("own_products.c needs AVX512-VNNI (and AVX512-BW)")
    lib = tmp / "own_products.so"
    # no multiply-add contraction: products.c's float steps round as onnxruntime's Cast, Mul, Add
    cmd = [cc, "-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC"]
    cmd += [str(HERE / "own_products.c")]
    cmd += [str(p) for p in extra]
    subprocess.run([*cmd, "-o", str(lib)], check=True)
    so = ctypes.CDLL(str(lib))
    p, i = ctypes.c_void_p, ctypes.c_int
    so.pack_b.argtypes = [p, i, i, p]
    so.product.argtypes = [p, i, i, p, i, p]
    return so


def packed(so: ctypes.CDLL, weights: list[np.ndarray]) -> tuple[np.ndarray, list[tuple]]:
    """Every weight packed (columns padded to 32) into one buffer that starts on a 2 MB
    boundary (numpy asks for huge pages for an array this large); (view, k, padded n) each."""
    shapes = [(w.shape[0], -(-w.shape[1] // 32) * 32) for w in weights]
    raw = np.empty(sum(k * n for k, n in shapes) + HUGE, dtype=np.int8)
    at = (-raw.ctypes.data) % HUGE
    views = []
    for w, (k, n) in zip(weights, shapes, strict=True):
        padded = np.zeros((k, n), dtype=np.int8)
        padded[:, : w.shape[1]] = w
        view = raw[at : at + k * n]
        so.pack_b(padded.ctypes.data, k, n, view.ctypes.data)
        views.append((view, k, n))
        at += k * n
    return raw, views


def check_exact(so: ctypes.CDLL, weights: list[np.ndarray], views: list[tuple]) -> None:
    """Our int32 products equal onnxruntime's MatMulInteger on every weight (1, 5 and 8 rows)."""
    rng = np.random.default_rng(3)
    for w, (view, k, n) in zip(weights, views, strict=True):
        g = helper.make_graph(
            [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
            "g",
            [helper.make_tensor_value_info("a", TensorProto.UINT8, ["m", k])],
            [helper.make_tensor_value_info("y", TensorProto.INT32, ["m", w.shape[1]])],
            [numpy_helper.from_array(w, "b")],
        )
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        for m in (1, 5, 8):
            a = rng.integers(0, 256, (m, k), dtype=np.uint8)
            ours = np.empty((m, n), dtype=np.int32)
            so.product(a.ctypes.data, m, k, view.ctypes.data, n, ours.ctypes.data)
            if not np.array_equal(ours[:, : w.shape[1]], s.run(None, {"a": a})[0]):
                sys.exit(f"own kernel differs from onnxruntime on a {k}x{w.shape[1]} weight")


def onnxruntime_products(
    weights: list[np.ndarray], rows: int, threads: int = 1
) -> tuple[ort.InferenceSession, dict]:
    """DynamicQuantizeMatMul over every weight (products_floor.py's graph), one thread unless
    told."""
    nodes, inputs, outputs, inits, feeds = [], [], [], [], {}
    rng = np.random.default_rng(0)
    inits.append(numpy_helper.from_array(np.array(0.01, dtype=np.float32), "s"))
    for k, w in enumerate(weights):
        inits.append(numpy_helper.from_array(w, f"w{k}"))
        inputs.append(helper.make_tensor_value_info(f"x{k}", TensorProto.FLOAT, [rows, w.shape[0]]))
        outputs.append(helper.make_tensor_value_info(f"y{k}", TensorProto.FLOAT, None))
        node = helper.make_node("DynamicQuantizeMatMul", [f"x{k}", f"w{k}", "s"], [f"y{k}"])
        node.domain = "com.microsoft"
        nodes.append(node)
        feeds[f"x{k}"] = rng.standard_normal((rows, w.shape[0])).astype(np.float32)
    g = helper.make_graph(nodes, "products", inputs, outputs, inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(g, opset_imports=opsets, ir_version=8)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s, feeds


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    return statistics.median(run_times(fn, repeats)) * 1e3


def probe_args(doc: str | None) -> argparse.Namespace:
    """--bundle, --rows, --repeats (this probe and own_rows.py); huge pages on for the run."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    ap.add_argument("--bundle", required=True, type=Path)
    ap.add_argument("--rows", default="1,8")
    ap.add_argument("--repeats", type=int, default=30)
    os.environ["NANOCAPTION_HUGE_PAGES"] = "1"
    return ap.parse_args()


def main() -> None:
    args = probe_args(__doc__)
    weights = step_weights(args.bundle)
    size = sum(w.size for w in weights)
    with tempfile.TemporaryDirectory() as tmp:
        so = build(Path(tmp))
        _raw, views = packed(so, weights)
        check_exact(so, weights, views)
        print(f"{len(weights)} products, {size / 1e6:.1f} MB of weights; own kernel's int32 "
              "results equal onnxruntime's MatMulInteger on every weight")  # fmt: skip
        head = ["onnxruntime", "onnxruntime, 2 MB pages", "own kernel"]
        print(f"{'rows':>4}  {head[0]:>18}  {head[1]:>24}  {head[2]:>18}")
        for rows in [int(r) for r in args.rows.split(",")]:
            times = row_times(so, weights, views, rows, args.repeats)
            cells = [f"{t:6.2f} ms {size / t / 1e6:5.1f} GB/s" for t in times]
            print(f"{rows:>4}  {cells[0]:>18}  {cells[1]:>24}  {cells[2]:>18}")


def row_times(
    so: ctypes.CDLL, weights: list[np.ndarray], views: list[tuple], rows: int, repeats: int
) -> tuple[float, float, float]:
    """Milliseconds for every product on `rows` rows: onnxruntime on 4 KB pages, then on 2 MB
    pages, then the own kernel."""
    before = hugepages.resident()
    s, feeds = onnxruntime_products(weights, rows)
    ort_ms = median_ms(lambda: s.run(None, feeds), repeats)
    hugepages.collapse(hugepages.resident() - before)  # the session's memory
    huge_ms = median_ms(lambda: s.run(None, feeds), repeats)
    rng = np.random.default_rng(rows)
    xs = {k: rng.integers(0, 256, (rows, k), dtype=np.uint8) for _, k, _ in views}
    outs = [np.empty((rows, n), dtype=np.int32) for _, _, n in views]

    def ours() -> None:
        for (view, k, n), out in zip(views, outs, strict=True):
            so.product(xs[k].ctypes.data, rows, k, view.ctypes.data, n, out.ctypes.data)

    return ort_ms, huge_ms, median_ms(ours, repeats)


if __name__ == "__main__":
    main()
