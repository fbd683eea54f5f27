"""The step graph with its weight products on a kernel of our own, for one caption: a probe for
issue 18.

    python tests/benchmarks/own_step.py --bundle models/random-full [--repeats 30]

Compiles own_products.c and the app's own kernel (engine/kernels/products.c: onnxruntime custom
ops, a product's columns split over the session's threads) with the system's C compiler. Then:
1. writes a copy of the derived step graph in which every weight product and the float steps
   after it (MatMulInteger -> Cast -> Mul by the scale -> Add of the bias, which onnxruntime
   runs as DynamicQuantizeMatMul and an Add) are one OwnMatMulIntegerToFloat, and checks it
   against the step graph bit for bit: logits and every key and value, 1 and 3 rows (a beam
   search's, which share one quantization), 4 steps, three images, on 1 and on 2 threads;
2. times the step's weight products alone, onnxruntime's fused kernel against the own kernel,
   on 1 and on 2 threads (the rate at which each streams the weights);
3. times one caption (encoder + 16 tokens, 2 threads) on the app's own Captioner with its step
   graph and with the copy, alternating in one process, every caption's tokens compared.
A probe: the app uses the own kernel for a folder's rows graph only (one caption gains 0-7% on
this machine, docs/performance.md). It needs a C compiler, Linux and a CPU with AVX512-VNNI.
"""

from __future__ import annotations

import glob
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from own_products import HERE, KERNELS, build, onnxruntime_products, probe_args, step_weights  # noqa: E402

from nanocaption_desktop.engine import Captioner, hugepages, kernels  # noqa: E402
from nanocaption_desktop.engine.decoder import EXACT, HoistedDecoder, open_hoisted  # noqa: E402
from nanocaption_desktop.engine.derive.external import save_graph  # noqa: E402
from nanocaption_desktop.engine.derive.graph import consumers, splice  # noqa: E402

DOMAIN = "ai.nanocaption"
IMAGES = HERE.parents[1] / "tests" / "fixtures" / "images"


def own_copy(step: Path, dest: Path) -> int:
    """`step` with every weight product and its Cast, Mul (and Add of a bias) as one
    OwnMatMulIntegerToFloat, saved at `dest`; how many."""
    m = onnx.load(str(step))
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    users = consumers(g)

    def only(value: str) -> onnx.NodeProto | None:
        return users[value][0] if len(users[value]) == 1 else None

    added: dict[str, onnx.TensorProto] = {}
    replace: dict[int, onnx.NodeProto] = {}
    removed: set[int] = set()
    for n in g.node:
        w_init = inits.get(n.input[1]) if n.op_type == "MatMulInteger" else None
        if w_init is None or w_init.data_type != TensorProto.INT8 or len(n.input) < 3:
            continue
        if len(n.input) > 3 and numpy_helper.to_array(inits[n.input[3]]).any():
            continue  # a weight zero point that is not 0
        cast = only(n.output[0])
        mul = only(cast.output[0]) if cast is not None and cast.op_type == "Cast" else None
        if mul is None or mul.op_type != "Mul":
            continue
        add = only(mul.output[0])
        other = (add.input[1] if add.input[0] == mul.output[0] else add.input[0]) if add else ""
        bias = add is not None and add.op_type == "Add" and other in inits
        w = numpy_helper.to_array(w_init)
        name = n.input[1]
        added[name + "/own"] = numpy_helper.from_array(kernels.pack(w), name + "/own")
        colsum = w.astype(np.int32).sum(axis=0, dtype=np.int32)
        added[name + "/colsum"] = numpy_helper.from_array(colsum, name + "/colsum")
        scale = mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]
        last = add if bias else mul
        ins = [
            n.input[0],
            name + "/own",
            n.input[2],
            name + "/colsum",
            scale,
            other if bias else "",
        ]
        node = helper.make_node(
            "OwnMatMulIntegerToFloat",
            ins,
            list(last.output),
            n.name + "/own",
            k=w.shape[0],
            n=w.shape[1],
        )
        node.domain = DOMAIN
        replace[id(last)] = node  # where the last node it replaces was: its inputs are ready
        removed |= {id(n), id(cast), id(mul)} | ({id(add)} if bias else set())
    splice(g, replace, removed, list(added.values()))
    m.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    onnx.checker.check_model(m)
    save_graph(m, dest)
    return len(replace)


def own_session(path: Path, library: Path, threads: int) -> ort.InferenceSession:
    """The copy's session, with the options engine/sessions.py gives the step graph's (spinning
    between its nodes, never after a run; only the exact optimizers) and the library."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    opts.add_session_config_entry("session.force_spinning_stop", "1")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.register_custom_ops_library(str(library))
    return ort.InferenceSession(
        str(path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=list(EXACT)
    )


def check_same(plain: HoistedDecoder, own: HoistedDecoder, threads: int) -> None:
    """The copy against the step graph, the same inputs, bit for bit (exits on a difference)."""
    hidden = plain.cross.get_inputs()[0].shape[-1]
    rng = np.random.default_rng(3)
    for rows in (1, 3):
        for trial in range(3):
            enc = (trial + 1) * rng.standard_normal((1, 7, hidden)).astype(np.float32)
            a, b = plain.begin(enc, rows), own.begin(enc, rows)
            for s in range(4):
                ids = rng.integers(0, 1000, (rows, 1), dtype=np.int64)
                same = np.array_equal(a.step(ids), b.step(ids)) and all(
                    np.array_equal(x, y)
                    for x, y in zip(a.past_arrays(), b.past_arrays(), strict=True)
                )
                if not same:
                    sys.exit(f"{rows} rows, {threads} threads, step {s}: the copy differs")


def own_products(weights: list[np.ndarray], library: Path, threads: int):
    """The own kernel over every weight, one row (OwnMatMulInteger: no zero point)."""
    nodes, inits = [], []
    for i, w in enumerate(weights):
        inits.append(numpy_helper.from_array(kernels.pack(w), f"w{i}"))
        x = f"a{w.shape[0]}"
        nodes.append(
            helper.make_node(
                "OwnMatMulInteger",
                [x, f"w{i}"],
                [f"y{i}"],
                domain=DOMAIN,
                k=w.shape[0],
                n=w.shape[1],
            )
        )
    depths = sorted({w.shape[0] for w in weights})
    inputs = [helper.make_tensor_value_info(f"a{k}", TensorProto.UINT8, [1, k]) for k in depths]
    outputs = [
        helper.make_tensor_value_info(f"y{i}", TensorProto.INT32, None) for i in range(len(weights))
    ]
    g = helper.make_graph(nodes, "own", inputs, outputs, inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)]
    model = helper.make_model(g, opset_imports=opsets, ir_version=8)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    opts.register_custom_ops_library(str(library))
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    return s, {f"a{k}": rng.integers(0, 256, (1, k), dtype=np.uint8) for k in depths}


def main() -> None:
    args = probe_args(__doc__)
    pair = args.bundle / "optimized" / "decoder_with_past_model_quantized"
    step = pair / "step.onnx"
    if not step.is_file():
        sys.exit(f"{step}: missing; caption one image with this bundle first (it derives it)")
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), [KERNELS])  # own_products.so: the library the sessions register
        library = Path(tmp) / "own_products.so"
        dest = Path(tmp) / "step_own.onnx"
        print(f"{own_copy(step, dest)} weight products (with their float steps) on the own kernel")
        for threads in (1, 2):
            plain = open_hoisted(pair / "cross.onnx", step, threads=threads)
            own = own_session(dest, library, threads)
            check_same(plain, HoistedDecoder(plain.cross, own, str(step)), threads)
        print(
            "every output of every step equal to the step graph's, bit for bit "
            "(1 and 3 rows, 1 and 2 threads)"
        )

        weights = step_weights(args.bundle)
        size = sum(w.size for w in weights)
        print(
            "\n| the step's weight products alone, 1 row | 1 thread | 2 threads |\n|---|---:|---:|"
        )
        for label, make in (
            ("onnxruntime (DynamicQuantizeMatMul)", lambda t: onnxruntime_products(weights, 1, t)),
            ("own kernel", lambda t: own_products(weights, library, t)),
        ):
            cells = []
            for threads in (1, 2):
                before = hugepages.resident()
                s, feeds = make(threads)
                s.run(None, feeds)
                hugepages.collapse(hugepages.resident() - before)
                ts = [0.0] * args.repeats
                for i in range(args.repeats):
                    t0 = time.perf_counter()
                    s.run(None, feeds)
                    ts[i] = time.perf_counter() - t0
                ms = statistics.median(ts) * 1e3
                cells.append(
                    f"{ms:.2f} ms ({size / ms / 1e6:.1f} GB/s; best {size / min(ts) / 1e9:.1f})"
                )
            print(f"| {label} | {cells[0]} | {cells[1]} |")

        images = sorted(glob.glob(str(IMAGES / "*")))
        c = Captioner.load(args.bundle)
        before = hugepages.resident()
        decoders = {
            "step graph": c.decoder,
            "own kernel": HoistedDecoder(
                c.decoder.cross, own_session(dest, library, c.threads), str(step)
            ),
        }
        for d in decoders.values():
            c.decoder = d
            for image in images[:2]:
                c.caption(image, max_new_tokens=16)
        hugepages.settle(120)
        hugepages.collapse(hugepages.resident() - before)
        times: dict[str, list[float]] = {k: [] for k in decoders}
        tokens: dict[str, list] = {k: [] for k in decoders}
        for i in range(args.repeats):
            order = list(decoders.items())
            for name, d in order if i % 2 else order[::-1]:
                c.decoder = d
                t0 = time.perf_counter()
                r = c.caption(images[i % len(images)], max_new_tokens=16)
                times[name].append(time.perf_counter() - t0)
                tokens[name].append(r.token_ids)
        if tokens["own kernel"] != tokens["step graph"]:
            sys.exit("a caption's tokens differ")
        a, b = (statistics.median(times[k]) * 1e3 for k in decoders)
        print(f"\none caption, 2 threads, median of {args.repeats}: step graph {a:.1f} ms, "
              f"own kernel {b:.1f} ms ({b / a:.2f}); every caption's tokens equal")  # fmt: skip


if __name__ == "__main__":
    main()
