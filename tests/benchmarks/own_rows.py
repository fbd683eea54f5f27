"""The rows graph's weight products alone on a kernel of our own: a probe for issue 18.

    python tests/benchmarks/own_rows.py --bundle models/random-full [--rows 1,8] [--repeats 30]

Compiles own_products.c and the app's own kernel (engine/kernels/products.c, onnxruntime custom
ops) with the system's C compiler, writes a copy of the derived rows graph in which every weight
product (`MatMulInteger` over an INT8 weight, no zero points) is `OwnMatMulInteger` over the
weight packed for the kernel, and nothing else changes (the app's own graph, derive/own.py, also
takes the zero-point correction and the float steps after it), checks that a step of the copy
gives every output of the derived graph bit for bit (on 1 and on 8 rows), then times one step of
each, alternating in one process, one thread, both sessions' memory on 2 MB pages
(engine/hugepages.py). It needs a C compiler, Linux and a CPU with AVX512-VNNI.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from own_products import KERNELS, build, probe_args  # noqa: E402

from nanocaption_desktop.engine import hugepages, kernels  # noqa: E402
from nanocaption_desktop.engine.decoder import EXACT  # noqa: E402

DOMAIN = "ai.nanocaption"
PAST = 8  # tokens already decoded by every row


def own_copy(rows: Path, dest: Path) -> int:
    """`rows` with every weight product as OwnMatMulInteger, saved at `dest`; how many."""
    m = onnx.load(str(rows))
    inits = {i.name: i for i in m.graph.initializer}
    nodes, packed = [], []
    for n in m.graph.node:
        plain = n.op_type == "MatMulInteger" and n.input[1] in inits
        if not plain or (len(n.input) > 2 and n.input[2]):
            nodes.append(n)
            continue
        if len(n.input) > 3 and n.input[3]:
            assert not numpy_helper.to_array(inits[n.input[3]]).any(), "a weight zero point"
        w = numpy_helper.to_array(inits[n.input[1]])
        k, n_out = w.shape
        packed.append(numpy_helper.from_array(kernels.pack(w), n.input[1] + "/packed"))
        nodes.append(
            helper.make_node(
                "OwnMatMulInteger",
                [n.input[0], n.input[1] + "/packed"],
                list(n.output),
                name=n.name + "/own",
                domain=DOMAIN,
                k=k,
                n=n_out,
            )
        )
    used = {i for n in nodes for i in n.input}
    keep = [i for i in m.graph.initializer if i.name in used]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep + packed)
    m.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    onnx.save(m, str(dest), save_as_external_data=True, location=dest.name + ".data")
    return len(packed)


def session(path: Path, library: Path | None = None) -> ort.InferenceSession:
    """One thread, as a folder's rows graph runs (engine/captioner.py)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    if library is not None:
        opts.register_custom_ops_library(str(library))
    return ort.InferenceSession(
        str(path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=list(EXACT)
    )


def feeds_for(s: ort.InferenceSession, cross: ort.InferenceSession, rows: int) -> dict:
    """A step's inputs for `rows` images: their keys and values from the cross graph (one random
    image, repeated), random past keys and values of PAST tokens, random tokens."""
    rng = np.random.default_rng(rows)
    hidden = rng.standard_normal((1, 197, 768)).astype(np.float32)
    names = [o.name for o in cross.get_outputs()]
    image = dict(zip(names, cross.run(None, {cross.get_inputs()[0].name: hidden}), strict=True))
    feeds: dict[str, np.ndarray] = {}
    for i in s.get_inputs():
        if i.name in image:
            v = image[i.name]
            per_row = v.ndim == 4 and v.shape[0] == 1 and i.shape[0] == "rows"
            feeds[i.name] = np.repeat(v, rows, axis=0) if per_row else v
        elif i.name == "input_ids":
            feeds[i.name] = rng.integers(0, 1000, (rows, 1)).astype(np.int64)
        else:
            feeds[i.name] = rng.standard_normal((rows, 12, PAST, 64)).astype(np.float32)
    return feeds


def main() -> None:
    args = probe_args(__doc__)
    folder = args.bundle / "optimized" / "decoder_with_past_model_quantized"
    rows_graph = folder / "optimized" / "step" / "rows.onnx"
    if not rows_graph.is_file():
        sys.exit(
            f"{rows_graph}: missing; run a folder batch with this bundle first (it derives it)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), [KERNELS])  # own_products.so: the library the sessions register
        dest = Path(tmp) / "rows_own.onnx"
        replaced = own_copy(rows_graph, dest)
        before = hugepages.resident()
        stock, own = session(rows_graph), session(dest, Path(tmp) / "own_products.so")
        cross = session(folder / "cross.onnx")
        print(f"{replaced} weight products on the own kernel")
        print("| rows | derived rows graph | own kernel | own / derived |\n|---:|---:|---:|---:|")
        for r in [int(x) for x in args.rows.split(",")]:
            feeds = feeds_for(stock, cross, r)
            same = all(
                np.array_equal(a, b)
                for a, b in zip(stock.run(None, feeds), own.run(None, feeds), strict=True)
            )
            if not same:
                sys.exit(f"{r} rows: the own kernel's step differs from the derived graph's")
            hugepages.collapse(hugepages.resident() - before)
            times: dict[str, list[float]] = {"stock": [], "own": []}
            for i in range(args.repeats):
                order = [("stock", stock), ("own", own)]
                for name, s in order if i % 2 else order[::-1]:
                    t0 = time.perf_counter()
                    s.run(None, feeds)
                    times[name].append(time.perf_counter() - t0)
            a, b = (statistics.median(times[k]) * 1e3 for k in ("stock", "own"))
            print(f"| {r} | {a:.2f} ms | {b:.2f} ms | {b / a:.2f} |")
        print("every output of every step checked equal, bit for bit")


if __name__ == "__main__":
    main()
