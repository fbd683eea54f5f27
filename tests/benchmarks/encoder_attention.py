"""Whether a kernel of our own could speed up the encoder's attention: a probe for issue 18.

    python tests/benchmarks/encoder_attention.py [--trials 20] [--repeats 50]

One ViT layer's attention at the full model's shape (197 positions, 12 heads of 64), one
thread (a folder's encoder sessions): onnxruntime's block as it runs the encoder (the reshapes
and transposes of the queries, keys and values, `FusedMatMul` with the two scale Muls folded into
its alpha, `Softmax`, `MatMul`, the transpose back) against encoder_attention.c's two products,
which read the products' own [positions, 768] layout (no transposes), plus onnxruntime's
Softmax. The C is compiled here with the system's C compiler, and its outputs are first checked
bit for bit against onnxruntime's, `--trials` random inputs at four scales. Best of `--repeats`.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bound_probes import best_of, model_bytes  # noqa: E402

POSITIONS, HEADS, DEPTH = 197, 12, 64
#: the exported encoder's scale on the queries and on the keys: 1 / sqrt(sqrt(64)) as float32
SCALE = np.frombuffer(bytes.fromhex("f304b53e"), dtype=np.float32)[0]


def block() -> bytes:
    """One layer's attention as the exported encoder writes it (queries, keys and values in,
    the context out, still [1, positions, heads, depth])."""
    shape = numpy_helper.from_array(np.array([1, POSITIONS, HEADS, DEPTH], np.int64), "shape")
    scale = numpy_helper.from_array(np.array(SCALE, np.float32), "scale")
    node = helper.make_node
    nodes = [
        node("Reshape", ["q", "shape"], ["qr"]),
        node("Transpose", ["qr"], ["qt"], perm=[0, 2, 1, 3]),
        node("Mul", ["qt", "scale"], ["qm"]),
        node("Reshape", ["k", "shape"], ["kr"]),
        node("Transpose", ["kr"], ["kt"], perm=[0, 2, 3, 1]),
        node("Mul", ["kt", "scale"], ["km"]),
        node("MatMul", ["qm", "km"], ["s"]),
        node("Softmax", ["s"], ["p"], axis=-1),
        node("Reshape", ["v", "shape"], ["vr"]),
        node("Transpose", ["vr"], ["vt"], perm=[0, 2, 1, 3]),
        node("MatMul", ["p", "vt"], ["o"]),
        node("Transpose", ["o"], ["context"], perm=[0, 2, 1, 3]),
    ]
    width = HEADS * DEPTH

    def value(name: str, dims: list[int] | None) -> object:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)

    return model_bytes(
        nodes,
        [value(n, [1, POSITIONS, width]) for n in ("q", "k", "v")],
        [value("s", None), value("p", None), value("context", None)],
        [shape, scale],
    )


def softmax_only() -> bytes:
    shape = [1, HEADS, POSITIONS, POSITIONS]
    return model_bytes(
        [helper.make_node("Softmax", ["s"], ["p"], axis=-1)],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, shape)],
    )


def build(tmp: Path) -> ctypes.CDLL:
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        sys.exit("no C compiler (cc): the probe compiles encoder_attention.c")
    lib = tmp / "encoder_attention.so"
    flags = ["-O3", "-ffp-contract=off", "-shared", "-fPIC"]
    subprocess.run([cc, *flags, str(HERE / "encoder_attention.c"), "-o", str(lib)], check=True)
    out = ctypes.CDLL(str(lib))
    ptr = ctypes.POINTER(ctypes.c_float)
    out.scores.argtypes = [ptr, ptr, ptr, ctypes.c_int, ctypes.c_int, ctypes.c_float]
    out.context.argtypes = [ptr, ptr, ptr, ctypes.c_int, ctypes.c_int]
    return out


def best_ms(fn: object, repeats: int) -> float:
    return best_of(fn, repeats) * 1e3  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # a folder's encoder sessions
    theirs = ort.InferenceSession(block(), opts, providers=["CPUExecutionProvider"])
    softmax = ort.InferenceSession(softmax_only(), opts, providers=["CPUExecutionProvider"])
    alpha = ctypes.c_float(float(SCALE * SCALE))  # as onnxruntime folds the two scales
    width = HEADS * DEPTH
    with tempfile.TemporaryDirectory() as tmp:
        lib = build(Path(tmp))

        def ptr(a: np.ndarray) -> object:
            return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

        s = np.empty((HEADS, POSITIONS, POSITIONS), np.float32)
        context = np.empty((POSITIONS, width), np.float32)

        def own(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
            lib.scores(ptr(q), ptr(k), ptr(s), POSITIONS, HEADS, alpha)
            p = np.ascontiguousarray(softmax.run(None, {"s": s[None]})[0][0])
            lib.context(ptr(p), ptr(v), ptr(context), POSITIONS, HEADS)
            return context

        rng = np.random.default_rng(0)
        differ = 0
        for trial in range(args.trials):
            spread = (0.3, 1.0, 3.0, 10.0)[trial % 4]
            q, k, v = (
                (rng.standard_normal((1, POSITIONS, width)) * spread).astype(np.float32)
                for _ in range(3)
            )
            s_ref, _, context_ref = theirs.run(None, {"q": q, "k": k, "v": v})
            out = own(q, k, v)
            same = np.array_equal(s, s_ref[0]) and np.array_equal(
                out, context_ref.reshape(POSITIONS, width)
            )
            differ += not same
        print(f"bit for bit against onnxruntime: {args.trials - differ} of {args.trials} inputs")
        if differ:
            sys.exit(1)
        q, k, v = (rng.standard_normal((1, POSITIONS, width)).astype(np.float32) for _ in range(3))
        feeds = {"q": q, "k": k, "v": v}
        t_theirs = best_ms(lambda: theirs.run(None, feeds), args.repeats)
        t_scores = best_ms(
            lambda: lib.scores(ptr(q), ptr(k), ptr(s), POSITIONS, HEADS, alpha), args.repeats
        )
        t_softmax = best_ms(lambda: softmax.run(None, {"s": s[None]}), args.repeats)
        p = np.ascontiguousarray(s)
        t_context = best_ms(
            lambda: lib.context(ptr(p), ptr(v), ptr(context), POSITIONS, HEADS), args.repeats
        )
        mine = t_scores + t_softmax + t_context
        print(f"one layer, one thread, best of {args.repeats} (ms):")
        print(f"  onnxruntime's block (transposes, FusedMatMul, Softmax, MatMul): {t_theirs:.3f}")
        print(
            f"  own products + onnxruntime's Softmax: {mine:.3f} "
            f"(scores {t_scores:.3f}, softmax {t_softmax:.3f}, context {t_context:.3f}); "
            f"{mine / t_theirs:.2f}x"
        )


if __name__ == "__main__":
    main()
