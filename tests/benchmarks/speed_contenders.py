"""The contenders of bench_speed.py, the machine's measured limits, and the lower bound.

Every contender captions pixel values that are already preprocessed (the same arrays for all),
encoder included, so the numbers compare the model part only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from bound_probes import bandwidth_probes, best_of, model_bytes

from nanocaption_desktop.engine import own_step
from nanocaption_desktop.engine.bundle import Bundle
from nanocaption_desktop.engine.captioner import Captioner
from nanocaption_desktop.engine.decoder import STEP_SPINNING, StockDecoder
from nanocaption_desktop.engine.decoding import generate
from nanocaption_desktop.engine.sessions import make_session


class _NaiveRun:
    """No key/value cache: the whole sequence goes through `decoder_model` at every step (or
    through `decoder_with_past` with an empty past, when there is no `decoder_model`)."""

    def __init__(
        self,
        session: ort.InferenceSession,
        enc: np.ndarray,
        rows: int,
        past: list[tuple[str, tuple[int, int]]],
    ) -> None:
        self.session = session
        self.enc = np.repeat(enc, rows, axis=0)
        self.seq = np.zeros((rows, 0), dtype=np.int64)
        self.empty = {name: np.zeros((rows, h, 0, d), dtype=np.float32) for name, (h, d) in past}

    def step(self, input_ids: np.ndarray) -> np.ndarray:
        self.seq = np.concatenate([self.seq, input_ids], axis=1)
        feeds = {"input_ids": self.seq, "encoder_hidden_states": self.enc, **self.empty}
        return self.session.run(["logits"], feeds)[0][:, -1, :]

    def reorder(self, rows: np.ndarray) -> None:
        self.seq = self.seq[rows]


def naive_decoder(bundle_dir: Path, threads: int) -> tuple[Callable[..., Any], str]:
    onnx_dir = bundle_dir / "onnx"
    plain = onnx_dir / "decoder_model_quantized.onnx"
    path = plain if plain.is_file() else onnx_dir / "decoder_with_past_model_quantized.onnx"
    session = make_session(path, threads=threads, spinning=STEP_SPINNING)
    past = [
        (i.name, (i.shape[1], i.shape[3]))
        for i in session.get_inputs()
        if i.name.startswith("past_key_values.")
    ]
    return (lambda enc, rows: _NaiveRun(session, enc, rows, past)), path.name


class OnnxContender:
    """Encoder + a decoder StepModel factory + our greedy/beam search."""

    def __init__(self, captioner: Captioner, begin: Callable[..., Any]) -> None:
        self.c = captioner
        self.begin = begin

    def __call__(self, pixels: np.ndarray, beams: int, tokens: int) -> tuple[int, ...]:
        s = self.c.settings.override(beams=beams, max_new_tokens=tokens)
        hidden = self.c.encode(pixels)
        return generate(self.begin(hidden, s.num_beams), s).token_ids


def engine(bundle_dir: Path, threads: int, step_engine: bool = True) -> Captioner:
    """Our captioner; `step_engine` False: one caption's tokens on the step graph, as before
    the step engine (own_step.py), even where its copy is derived."""
    if step_engine:
        return Captioner.load(bundle_dir, threads=threads)
    old = os.environ.get(own_step.SWITCH)
    os.environ[own_step.SWITCH] = "0"
    try:
        return Captioner.load(bundle_dir, threads=threads)
    finally:
        if old is None:
            del os.environ[own_step.SWITCH]
        else:
            os.environ[own_step.SWITCH] = old


def stock_captioner(bundle_dir: Path, threads: int) -> Captioner:
    """A Captioner on the stock encoder and decoder graphs (what the Optimum export gives)."""
    c = Captioner.load(bundle_dir, threads=threads)
    bundle = Bundle.open(bundle_dir, decoder="decoder_with_past_model")
    session = make_session(bundle.decoder, threads=threads, spinning=STEP_SPINNING)
    c.decoder = StockDecoder(session, str(bundle.decoder))
    c.encoder = make_session(bundle.encoder, threads=threads, prepack=False)  # as the engine's
    c.encoder_file = bundle.encoder
    return c


class TorchContender:
    def __init__(self, hf_dir: Path, threads: int) -> None:
        import torch
        from transformers import VisionEncoderDecoderModel

        torch.set_num_threads(threads)
        self.torch = torch
        self.model = VisionEncoderDecoderModel.from_pretrained(hf_dir).eval()

    def __call__(self, pixels: np.ndarray, beams: int, tokens: int) -> tuple[int, ...]:
        with self.torch.inference_mode():
            out = self.model.generate(
                pixel_values=self.torch.from_numpy(pixels), max_new_tokens=tokens, num_beams=beams
            )
        return tuple(out[0].tolist())


# ---- the machine's limits, measured with onnxruntime on the same threads ----------------------


def machine_limits(threads: int, repeats: int = 40) -> dict[str, Any]:
    """Read bandwidth (bytes/s: the best of bound_probes.bandwidth_probes, multi-threaded
    streams over a working set far larger than the last-level cache) and the INT8 and fp32 GEMM
    rates (ops/s, 788x768 by 768x3072, the shape of a ViT MLP layer over 4 images) as
    onnxruntime achieves them on `threads` threads; every rate the best of `repeats` runs, the
    bandwidth probes' rates and which one set the bandwidth under "bandwidth"."""
    from onnx import TensorProto, helper

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    probes = bandwidth_probes(threads, repeats)
    m, k, n = 197 * 4, 768, 3072
    a = np.random.default_rng(0).integers(0, 255, (m, k), dtype=np.uint8)
    b = np.random.default_rng(1).integers(-127, 127, (k, n), dtype=np.int8)

    def gemm_rate(op: str, a: np.ndarray, b: np.ndarray, out: int) -> float:
        """Ops/s of `op` (MatMul or MatMulInteger) on a [m,k] x [k,n]."""
        session = ort.InferenceSession(
            model_bytes(
                [helper.make_node(op, ["a", "b"], ["y"])],
                [
                    helper.make_tensor_value_info(
                        "a", helper.np_dtype_to_tensor_dtype(a.dtype), [m, k]
                    ),
                    helper.make_tensor_value_info(
                        "b", helper.np_dtype_to_tensor_dtype(b.dtype), [k, n]
                    ),
                ],
                [helper.make_tensor_value_info("y", out, [m, n])],
            ),
            opts,
        )
        return 2.0 * m * k * n / best_of(lambda: session.run(None, {"a": a, "b": b}), repeats)

    ops = gemm_rate("MatMulInteger", a, b, TensorProto.INT32)
    ops32 = gemm_rate("MatMul", a.astype(np.float32), b.astype(np.float32), TensorProto.FLOAT)
    return {
        "read_bytes_per_s": probes["rates"][probes["best"]],
        "int8_ops_per_s": ops,
        "fp32_ops_per_s": ops32,
        "bandwidth": probes,
    }


def best_limits(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The better of two measurements of the machine's limits, rate by rate (the bandwidth probes
    each their best of both)."""
    rates = {k: max(v, b["bandwidth"]["rates"][k]) for k, v in a["bandwidth"]["rates"].items()}
    best = max(rates, key=lambda k: rates[k])
    bandwidth = a["bandwidth"] | {
        "rates": rates,
        "best": best,
        "repeats": 2 * a["bandwidth"]["repeats"],
    }
    out = {k: max(a[k], b[k]) for k in ("int8_ops_per_s", "fp32_ops_per_s")}
    return out | {"read_bytes_per_s": rates[best], "bandwidth": bandwidth}


def lower_bound(
    config: dict[str, Any], tokens: int, limits: dict[str, Any], weight_bytes: int = 1
) -> dict[str, float]:
    """A floor for encoder + `tokens` greedy steps, with the image keys/values computed once.

    Each part takes at least max(compute time, weight bytes / read bandwidth): its weights must
    be read from memory once per run (they do not fit in cache), and its multiply-adds must be
    done. Compute time = 2 x multiply-adds / rate, at the INT8 rate for the products with a
    weight (quantized in the INT8 bundle) and at the fp32 rate for attention's products of two
    activations (queries by keys, weights by values: dynamic quantization leaves them fp32);
    everything else is small. Weight bytes = parameters x 1 for INT8.
      encoder:  T = patches + 1 tokens, L layers of width d, MLP width f:
                weight MACs = T * L * (4 d^2 + 2 d f) (+ the patch projection),
                attention MACs = L * 2 T^2 d
      cross:    once per image, keys and values of T image tokens in every decoder layer:
                MACs = L' * T * 2 d'^2, weights L' * 2 d'^2
      per token at position t (batch 1): self-attention q,k,v,o 4 d'^2, cross q,o 2 d'^2,
                MLP 2 d' f', LM head d' V: weights L' (6 d'^2 + 2 d' f') + d' V; attention over
                t + T positions: L' * 2 d' (t + T) MACs.
    """
    enc, dec = config["encoder"], config["decoder"]
    d, layers, f = enc["hidden_size"], enc["num_hidden_layers"], enc["intermediate_size"]
    t_img = (enc["image_size"] // enc["patch_size"]) ** 2 + 1
    patch = 3 * enc["patch_size"] ** 2 * d
    dd, ll = dec["n_embd"], dec["n_layer"]
    ff = dec.get("n_inner") or 4 * dd
    vocab = dec["vocab_size"]
    bw, ops = limits["read_bytes_per_s"], limits["int8_ops_per_s"]
    ops32 = limits.get("fp32_ops_per_s", ops)

    def part(macs: float, weights: float, fp32_macs: float = 0.0) -> float:
        return max(2 * macs / ops + 2 * fp32_macs / ops32, weights * weight_bytes / bw)

    enc_w = layers * (4 * d * d + 2 * d * f) + patch
    encoder = part(
        t_img * layers * (4 * d * d + 2 * d * f) + t_img * patch, enc_w, layers * 2 * t_img**2 * d
    )
    cross = part(ll * t_img * 2 * dd * dd, ll * 2 * dd * dd)
    step_w = ll * (6 * dd * dd + 2 * dd * ff) + dd * vocab
    steps = sum(part(step_w, step_w, ll * 2 * dd * (t + t_img)) for t in range(1, tokens + 1))
    return {
        "encoder": encoder,
        "cross": cross,
        "per_token": steps / tokens,
        "total": encoder + cross + steps,
        "step_weight_bytes": float(step_w * weight_bytes),
    }
