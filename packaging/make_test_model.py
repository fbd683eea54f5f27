"""Make the test fixture model, its images and reference outputs (dev only: `.[export]`).

    python packaging/make_test_model.py         # tests/fixtures: the tiny bundle, images, expected
    python packaging/make_test_model.py --full  # models/random-full/: real shapes, random weights

The tiny model has the architecture of `nlpconnect/vit-gpt2-image-captioning` (a ViT encoder and a
GPT-2 decoder with cross-attention, bos = eos = pad = decoder start), with random weights and a
byte-level BPE tokenizer trained here. It is exported with Optimum exactly like the public ONNX
export (task `image-to-text-with-past`) and quantized to INT8 with onnxruntime's
`quantize_dynamic` (`EnableSubgraph` so that the merged decoder is quantized too). The outputs of
transformers' `generate()`, of Optimum's `ORTModelForVision2Seq` on the INT8 files and of
`ViTImageProcessor` are recorded in `expected.json`; the engine must reproduce them exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SEED = 1234
HIDDEN = 32
# The committed bundle must stay under 2 MB. The engine serves every step with decoder_with_past
# or the merged decoder; the decoder_model pair is only needed by Optimum's reference run, and the
# merged decoder is kept in its INT8 form (the one EnableSubgraph is about), so these stay out.
OMIT_FROM_TINY = ("decoder_model.onnx", "decoder_model_quantized.onnx", "decoder_model_merged.onnx")
EOS = "<|endoftext|>"

WORDS = (
    "a an the man woman dog cat bird horse child people group of two three on in at with near "
    "riding sitting standing holding walking playing eating looking next to top front "
    "street beach field table road water grass snow room kitchen bed car bus train bike "
    "skateboard surfboard pizza plate cake umbrella kite frisbee ball red blue green white black "
    "small large young old wooden tall park building sky tree flowers window"
).split()


def train_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    rng = np.random.default_rng(SEED)
    corpus = [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 12)))) for _ in range(3000)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    return tok


def build_model(
    full: bool, vocab_size: int, eos_id: int, init_range: float, eos_scale: float = 1.0
):
    import torch
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
    )

    torch.manual_seed(SEED)
    if full:  # the shapes of nlpconnect/vit-gpt2-image-captioning
        enc = ViTConfig(
            image_size=224,
            patch_size=16,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
        )
        dec = GPT2Config(
            vocab_size=50257,
            n_positions=1024,
            n_embd=768,
            n_layer=12,
            n_head=12,
            add_cross_attention=True,
            bos_token_id=50256,
            eos_token_id=50256,
        )
    else:
        enc = ViTConfig(
            image_size=224,
            patch_size=16,
            hidden_size=HIDDEN,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=2 * HIDDEN,
            initializer_range=init_range,
        )
        dec = GPT2Config(
            vocab_size=vocab_size,
            n_positions=64,
            n_embd=HIDDEN,
            n_layer=2,
            n_head=2,
            add_cross_attention=True,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
            initializer_range=init_range,
        )
    cfg = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    cfg.decoder_start_token_id = cfg.pad_token_id = cfg.eos_token_id = dec.eos_token_id
    cfg.bos_token_id = dec.bos_token_id
    model = VisionEncoderDecoderModel(config=cfg).eval()
    if not full and eos_scale != 1.0:
        # With random weights end-of-text is almost never the most likely token; a larger norm of
        # its (tied) embedding row makes some sequences stop before the limit: stopping is tested.
        with torch.no_grad():
            model.decoder.transformer.wte.weight[eos_id] *= eos_scale
    model.generation_config.decoder_start_token_id = dec.eos_token_id
    model.generation_config.pad_token_id = dec.eos_token_id
    model.generation_config.eos_token_id = dec.eos_token_id
    model.generation_config.bos_token_id = dec.bos_token_id
    model.generation_config.max_length = 20 if full else 24
    return model


def save_hf(model, tok, out: Path, eos_id: int) -> None:
    from transformers import GPT2TokenizerFast, ViTImageProcessor

    model.save_pretrained(out)
    hf_tok = GPT2TokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS
    )
    hf_tok.save_pretrained(out)
    ViTImageProcessor(
        size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3, resample=2
    ).save_pretrained(out)


def export_onnx(hf_dir: Path, out: Path) -> None:
    from optimum.exporters.onnx import main_export

    main_export(
        str(hf_dir),
        output=str(out),
        task="image-to-text-with-past",
        opset=17,
        do_validation=False,
        no_post_process=False,
    )


def quantize(folder: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for src in sorted(folder.glob("*.onnx")):
        if src.stem.endswith("_quantized"):
            continue
        quantize_dynamic(
            src,
            folder / f"{src.stem}_quantized.onnx",
            weight_type=QuantType.QInt8,
            extra_options={"EnableSubgraph": True},
        )


JSON_NAMES = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def to_bundle(exported: Path, bundle: Path, onnx_names: list[str]) -> None:
    """Lay the export out like the public transformers.js repository: JSON on top, ONNX in onnx/."""
    if bundle.exists():
        shutil.rmtree(bundle)
    (bundle / "onnx").mkdir(parents=True)
    for name in JSON_NAMES:
        if (exported / name).exists():
            shutil.copy2(exported / name, bundle / name)
    for name in onnx_names:
        shutil.copy2(exported / name, bundle / "onnx" / name)


def make_images(folder: Path) -> list[Path]:
    from PIL import Image, ImageDraw

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    paths = []

    def save(img, name, **kw):
        p = folder / name
        img.save(p, **kw)
        paths.append(p)

    # smooth gradients and shapes: real-photo-like statistics, small files
    y, x = np.mgrid[0:96, 0:128]
    grad = np.stack([x * 2, y * 2, (x + y)], -1).astype(np.uint8)
    save(Image.fromarray(grad), "gradient.png")
    im = Image.new("RGB", (160, 120), (30, 90, 200))
    d = ImageDraw.Draw(im)
    d.ellipse((30, 20, 110, 100), fill=(240, 200, 20))
    d.rectangle((0, 90, 160, 120), fill=(20, 160, 40))
    save(im, "sun_and_grass.jpg", quality=90)
    noise = rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)
    save(Image.fromarray(noise).resize((200, 150), Image.NEAREST), "blocks.webp", quality=80)
    gray = Image.fromarray((np.sin(x / 9.0) * np.cos(y / 7.0) * 120 + 128).astype(np.uint8), "L")
    save(gray, "waves_gray.png")
    rgba = Image.new("RGBA", (100, 140), (0, 0, 0, 0))
    d = ImageDraw.Draw(rgba)
    d.polygon([(50, 5), (95, 135), (5, 135)], fill=(200, 30, 30, 255))
    save(rgba, "triangle_alpha.png")
    tall = Image.fromarray(np.repeat(np.linspace(0, 255, 300, dtype=np.uint8)[:, None], 40, 1))
    save(tall.convert("RGB"), "tall_strip.bmp")
    return paths


def pixel_summary(pv: np.ndarray) -> dict:
    flat = pv.reshape(-1).astype(np.float64)
    idx = np.linspace(0, flat.size - 1, 64).astype(int)
    return {
        "shape": list(pv.shape),
        "sum": float(flat.sum()),
        "abs_sum": float(np.abs(flat).sum()),
        "sample_index": idx.tolist(),
        "sample_values": [float(v) for v in flat[idx]],
    }


def record_reference(hf_dir: Path, bundle: Path, images: list[Path]) -> dict:
    import torch
    from optimum.onnxruntime import ORTModelForVision2Seq
    from PIL import Image
    from transformers import AutoTokenizer, VisionEncoderDecoderModel, ViTImageProcessor

    model = VisionEncoderDecoderModel.from_pretrained(hf_dir).eval()
    proc = ViTImageProcessor.from_pretrained(hf_dir)
    tok = AutoTokenizer.from_pretrained(hf_dir)

    def ort(quantized: bool, merged: bool = False) -> ORTModelForVision2Seq:
        sfx = "_quantized" if quantized else ""
        if merged:
            # Optimum picks up a decoder_with_past file lying beside a merged one and runs it
            # for the later steps; a folder with only the merged graph makes it use that alone.
            only = Path(tempfile.mkdtemp()) / "merged"
            to_bundle(
                bundle / "onnx",
                only,
                [f"encoder_model{sfx}.onnx", f"decoder_model_merged{sfx}.onnx"],
            )
            for name in JSON_NAMES:
                if (bundle / name).exists():
                    shutil.copy2(bundle / name, only / name)
            return ORTModelForVision2Seq.from_pretrained(
                only,
                subfolder="onnx",
                use_cache=True,
                use_merged=True,
                encoder_file_name=f"encoder_model{sfx}.onnx",
                decoder_file_name=f"decoder_model_merged{sfx}.onnx",
                decoder_with_past_file_name=f"decoder_model_merged{sfx}.onnx",
            )
        return ORTModelForVision2Seq.from_pretrained(
            bundle,
            subfolder="onnx",
            use_cache=True,
            use_merged=False,
            encoder_file_name=f"encoder_model{sfx}.onnx",
            decoder_file_name=f"decoder_model{sfx}.onnx",
            decoder_with_past_file_name=f"decoder_with_past_model{sfx}.onnx",
        )

    ort_int8 = ort(True)
    ort_fp32 = ort(False)
    ort_int8_merged = ort(True, merged=True)
    used = {}
    for label, mdl in (
        ("optimum_int8", ort_int8),
        ("optimum_fp32", ort_fp32),
        ("optimum_int8_merged", ort_int8_merged),
    ):
        parts = [getattr(mdl, a, None) for a in ("encoder", "decoder", "decoder_with_past")]
        used[label] = sorted(
            {
                Path(p.session._model_path).name
                for p in parts
                if p is not None and getattr(p, "session", None) is not None
            }
        )
    settings = {
        "greedy": {"num_beams": 1},
        "beam3": {"num_beams": 3},
        "beam4": {"num_beams": 4},
        "greedy_max8": {"num_beams": 1, "max_new_tokens": 8},
        "beam3_max8": {"num_beams": 3, "max_new_tokens": 8},
    }
    out: dict = {"settings": settings, "images": {}}
    for path in images:
        rgb = Image.open(path).convert("RGB") if Image.open(path).mode != "RGBA" else None
        if rgb is None:  # transparency over white, as the engine does
            rgba = Image.open(path).convert("RGBA")
            rgb = Image.new("RGB", rgba.size, (255, 255, 255))
            rgb.paste(rgba, mask=rgba.getchannel("A"))
        pv = proc(images=rgb, return_tensors="pt").pixel_values
        entry: dict = {
            "pixel_values": pixel_summary(pv.numpy()),
            "torch_fp32": {},
            "optimum_int8": {},
            "optimum_fp32": {},
            "optimum_int8_merged": {},
        }
        for key, kw in settings.items():
            for label, mdl in (
                ("torch_fp32", model),
                ("optimum_int8", ort_int8),
                ("optimum_fp32", ort_fp32),
                ("optimum_int8_merged", ort_int8_merged),
            ):
                with torch.no_grad():
                    ids = mdl.generate(pixel_values=pv, **kw)[0].tolist()
                entry[label][key] = {
                    "token_ids": ids,
                    "text": tok.decode(
                        ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
                    ).strip(),
                }
        out["images"][path.name] = entry
    out["reference_files"] = used
    return out


def check_meaningful(ref: dict, eos_id: int) -> list[str]:
    """Random weights must still make parity mean something (see the issue)."""
    problems = []
    greedy = {k: v["torch_fp32"]["greedy"]["token_ids"] for k, v in ref["images"].items()}
    beam = {k: v["torch_fp32"]["beam3"]["token_ids"] for k, v in ref["images"].items()}
    for name, ids in greedy.items():
        gen = ids[1:]
        if len(set(gen)) < 3:
            problems.append(f"{name}: greedy tokens barely vary: {gen}")
    if len({tuple(v) for v in greedy.values()}) < len(greedy) - 1:
        problems.append("greedy outputs do not vary between images")
    if all(greedy[k] == beam[k] for k in greedy):
        problems.append("greedy equals beam search on every image")
    ended = [
        k
        for k, v in ref["images"].items()
        for s in ("greedy", "beam3", "beam4")
        if eos_id in v["torch_fp32"][s]["token_ids"][1:]
    ]
    if not ended:
        problems.append("no sequence ends with end-of-text before the length limit")
    return problems


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_tiny(args) -> None:
    tok = train_tokenizer(args.vocab)
    eos_id = tok.token_to_id(EOS)
    images = make_images(FIXTURES / "images")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_model(False, tok.get_vocab_size(), eos_id, args.init_range, args.eos_scale)
        save_hf(model, tok, tmp / "hf", eos_id)
        export_onnx(tmp / "hf", tmp / "onnx")
        quantize(tmp / "onnx")
        names = sorted(p.name for p in (tmp / "onnx").glob("*.onnx"))
        bundle = FIXTURES / "tiny-vit-gpt2"
        to_bundle(tmp / "onnx", tmp / "full-export", names)
        ref = record_reference(tmp / "hf", tmp / "full-export", images)
        to_bundle(tmp / "onnx", bundle, [n for n in names if n not in OMIT_FROM_TINY])
    problems = check_meaningful(ref, eos_id)
    ref["meta"] = {
        "seed": SEED,
        "init_range": args.init_range,
        "eos_scale": args.eos_scale,
        "eos_token_id": eos_id,
        "vocab_size": tok.get_vocab_size(),
        "generator": "packaging/make_test_model.py",
        "files": {
            str(p.relative_to(bundle)): sha256(p) for p in sorted(bundle.rglob("*")) if p.is_file()
        },
    }
    import optimum
    import torch
    import transformers

    ref["meta"]["versions"] = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "optimum": getattr(optimum, "__version__", "?"),
    }
    (FIXTURES / "expected.json").write_text(json.dumps(ref, indent=1) + "\n")
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    print(f"tiny bundle: {bundle} ({size / 1e6:.2f} MB), {len(images)} images")
    for name, v in ref["images"].items():
        print(f"  {name:22s} greedy {v['torch_fp32']['greedy']['token_ids']}")
        print(f"  {'':22s} beam3  {v['torch_fp32']['beam3']['token_ids']}")
    if problems:
        print("NOT MEANINGFUL:\n  " + "\n  ".join(problems))
        sys.exit(1)


def make_full(args) -> None:
    from PIL import Image

    dest = Path(args.out) if args.out else ROOT / "models" / "random-full"
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_model(True, 50257, 50256, 0.02)
        # a GPT-2 vocabulary of the real size: 50,256 trained merges are not needed for timing,
        # but the token ids must decode and the tokenizer's vocabulary must equal the decoder's
        # (the engine refuses a bundle where they differ): the small corpus trains a few hundred
        # tokens, filler tokens make up the rest.
        tok = train_tokenizer(50257)
        fillers = 50257 - tok.get_vocab_size()
        if fillers > 0:
            tok.add_tokens([f"<|fill{i}|>" for i in range(fillers)])
        assert tok.get_vocab_size() == 50257, tok.get_vocab_size()
        save_hf(model, tok, tmp / "hf", 50256)
        export_onnx(tmp / "hf", tmp / "onnx")
        quantize(tmp / "onnx")
        names = sorted(p.name for p in (tmp / "onnx").glob("*.onnx"))
        to_bundle(tmp / "onnx", dest, names)
        # one reference image for the slow parity test
        img = FIXTURES / "images" / "sun_and_grass.jpg"
        from transformers import VisionEncoderDecoderModel, ViTImageProcessor

        mdl = VisionEncoderDecoderModel.from_pretrained(tmp / "hf").eval()
        pv = ViTImageProcessor.from_pretrained(tmp / "hf")(
            images=Image.open(img).convert("RGB"), return_tensors="pt"
        ).pixel_values
        import torch

        with torch.no_grad():
            ref = {
                "image": img.name,
                "greedy_max16": mdl.generate(pixel_values=pv, max_new_tokens=16)[0].tolist(),
                "beam4_max16": mdl.generate(pixel_values=pv, max_new_tokens=16, num_beams=4)[
                    0
                ].tolist(),
            }
        shutil.copytree(tmp / "hf", dest / "pytorch", dirs_exist_ok=True)
    (dest / "expected_full.json").write_text(json.dumps(ref) + "\n")
    print(f"full-size random bundle: {dest} in {time.time() - t0:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--full", action="store_true", help="full-size random bundle for benchmarks")
    ap.add_argument("--out", help="output folder for --full (default models/random-full)")
    ap.add_argument("--vocab", type=int, default=320)
    ap.add_argument("--init-range", type=float, default=0.3)
    ap.add_argument("--eos-scale", type=float, default=2.0)
    args = ap.parse_args()
    make_full(args) if args.full else make_tiny(args)


if __name__ == "__main__":
    main()
