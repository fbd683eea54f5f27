"""The memory-bandwidth probes behind the lower bound (bench_speed.py, speed_contenders.py).

Per-token decoding reads every weight once per token, so the bound is only as honest as the
bandwidth it assumes: too low a bandwidth makes the engine look close to a bound it is far from.
Each probe streams a working set several times larger than the last-level cache on `threads`
threads, and keeps its best of `repeats` runs (what the machine can do at best); the bound takes
the best probe:
  ort_reduce_sum   onnxruntime ReduceSum over a float32 vector (bytes read)
  ort_gemv_fp32    onnxruntime's own fp32 matrix-vector product, [1,K] x [K,N], the matrix a
                   weight of the model (bytes of the matrix read: what a step does)
  numpy_sum        numpy sum of one chunk per thread, in threads (numpy releases the GIL)
  numpy_copy       numpy copy of one chunk per thread, in threads (bytes read + bytes written)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

MIN_BYTES = 256 * 1024 * 1024


def llc_bytes() -> int:
    """The largest CPU cache's size (from /sys; 32 MiB when it cannot be read)."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip().upper()
        unit = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
        try:
            sizes.append(int(text.rstrip("KMG")) * unit)
        except ValueError:
            continue
    return max(sizes, default=32 * 1024**2)


def run_times(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds of each of `repeats` runs of `fn`, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of `repeats` runs of `fn` after one warm-up, in seconds."""
    return float(min(run_times(fn, repeats)))


def model_bytes(
    nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any] | None = None
) -> bytes:
    from onnx import helper

    g = helper.make_graph(nodes, "probe", inputs, outputs, inits or [])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return m.SerializeToString()


def _ort_reduce(opts: ort.SessionOptions, floats: int, repeats: int) -> dict[str, float]:
    from onnx import TensorProto, helper

    def info(name: str, shape: list[int]) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    big = np.ones(floats, dtype=np.float32)
    red = ort.InferenceSession(
        model_bytes(
            [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)],
            [info("x", [big.size])],
            [info("y", [])],
        ),
        opts,
    )
    return {"ort_reduce_sum": big.nbytes / best_of(lambda: red.run(None, {"x": big}), repeats)}


def _ort_gemv(opts: ort.SessionOptions, floats: int, repeats: int) -> dict[str, float]:
    from onnx import TensorProto, helper, numpy_helper

    def info(name: str, shape: list[int]) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    k = 768
    n = floats // k
    mat = np.random.default_rng(0).standard_normal((k, n), dtype=np.float32)
    vec = np.ones((1, k), dtype=np.float32)
    weight = numpy_helper.from_array(mat, "b")  # a weight, as in a model: prepacked
    gemv = ort.InferenceSession(
        model_bytes(
            [helper.make_node("MatMul", ["a", "b"], ["y"])],
            [info("a", [1, k])],
            [info("y", [1, n])],
            [weight],
        ),
        opts,
    )
    del weight
    return {"ort_gemv_fp32": mat.nbytes / best_of(lambda: gemv.run(None, {"a": vec}), repeats)}


def _numpy_probes(threads: int, floats: int, repeats: int) -> dict[str, float]:
    src = np.ones(floats, dtype=np.float32)
    dst = np.empty_like(src)
    parts = np.array_split(np.arange(floats), threads)
    bounds = [(int(p[0]), int(p[-1]) + 1) for p in parts if p.size]
    with ThreadPoolExecutor(len(bounds)) as pool:

        def summed() -> None:
            list(pool.map(lambda b: float(src[b[0] : b[1]].sum()), bounds))

        def copied() -> None:
            list(pool.map(lambda b: np.copyto(dst[b[0] : b[1]], src[b[0] : b[1]]), bounds))

        return {
            "numpy_sum": src.nbytes / best_of(summed, repeats),
            "numpy_copy": 2 * src.nbytes / best_of(copied, repeats),
        }


def bandwidth_probes(threads: int, repeats: int = 20) -> dict[str, Any]:
    """Every probe's best rate (bytes/s), the working set, and which probe is the best."""
    llc = llc_bytes()
    size = max(MIN_BYTES, 8 * llc)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    rates = _ort_reduce(opts, size // 4, repeats) | _ort_gemv(opts, size // 4, repeats)
    rates |= _numpy_probes(threads, size // 4, repeats)
    best = max(rates, key=lambda k: rates[k])
    return {"rates": rates, "best": best, "bytes": size, "llc_bytes": llc, "repeats": repeats}
