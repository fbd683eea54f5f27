"""Folders for the `models import` tests, made from the tiny fixture's own files.

    python tests/modelstore/make_import_fixtures.py --record   # rewrite import_int8_tokens.json

`make(kind, dest)` lays out one kind of folder a user could import (the tests call it into a
temp folder): an Optimum fp32 export, split, at the top or under onnx/; a transformers.js folder
(JSON on top, INT8 graphs in onnx/, merged decoder); a BERT decoder; a truncated graph; a
checkpoint (saved by transformers from the tiny config: needs torch, the `export` extra).
`--record` imports the fp32 export with quantization and writes the tokens it gives for every
fixture image and setting to tests/fixtures/import_int8_tokens.json.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from fixture_paths import FIXTURES, IMAGES_DIR, TINY_BUNDLE  # noqa: E402

RECORD = FIXTURES / "import_int8_tokens.json"
JSON_FILES = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
KINDS = (
    "fp32-split-root",
    "fp32-split-onnx",
    "transformersjs-merged",
    "bert-decoder",
    "truncated",
    "checkpoint",
)


def _json(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in JSON_FILES:
        shutil.copyfile(TINY_BUNDLE / name, dest / name)


def _graphs(dest: Path, names: tuple[str, ...]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(TINY_BUNDLE / "onnx" / name, dest / name)


FP32 = ("encoder_model.onnx", "decoder_with_past_model.onnx")


def _checkpoint(dest: Path) -> None:
    from transformers import VisionEncoderDecoderConfig, VisionEncoderDecoderModel

    config = VisionEncoderDecoderConfig.from_pretrained(TINY_BUNDLE)
    VisionEncoderDecoderModel(config).save_pretrained(dest)  # random weights, real layout
    for name in JSON_FILES[1:]:
        shutil.copyfile(TINY_BUNDLE / name, dest / name)


def make(kind: str, dest: Path) -> Path:
    """Lay out the folder ``kind`` (one of KINDS) at ``dest``; returns ``dest``."""
    if kind == "fp32-split-root":
        _json(dest)
        _graphs(dest, FP32)
    elif kind == "fp32-split-onnx":
        _json(dest)
        _graphs(dest / "onnx", FP32)
    elif kind == "transformersjs-merged":
        _json(dest)
        _graphs(
            dest / "onnx", ("encoder_model_quantized.onnx", "decoder_model_merged_quantized.onnx")
        )
    elif kind == "bert-decoder":
        make("fp32-split-onnx", dest)
        config = json.loads((dest / "config.json").read_text())
        config["decoder"]["model_type"] = "bert"
        (dest / "config.json").write_text(json.dumps(config))
    elif kind == "truncated":
        make("fp32-split-onnx", dest)
        graph = dest / "onnx" / "decoder_with_past_model.onnx"
        graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    elif kind == "checkpoint":
        _checkpoint(dest)
    else:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return dest


def caption_tokens(bundle: Path) -> dict[str, dict[str, list[int]]]:
    """Token ids of every fixture image under every setting of expected.json."""
    from nanocaption_desktop.engine import Captioner

    settings = json.loads((FIXTURES / "expected.json").read_text())["settings"]
    captioner = Captioner.load(bundle)
    out: dict[str, dict[str, list[int]]] = {}
    for image in sorted(IMAGES_DIR.iterdir()):
        out[image.name] = {}
        for name, kw in settings.items():
            cap = captioner.caption(
                image, beams=kw["num_beams"], max_new_tokens=kw.get("max_new_tokens")
            )
            out[image.name][name] = list(cap.token_ids)
    return out


def record() -> None:
    from nanocaption_desktop.engine.importer import import_model

    with tempfile.TemporaryDirectory() as tmp:
        src = make("fp32-split-onnx", Path(tmp) / "export")
        result = import_model(src, name="int8", models_dir=Path(tmp) / "models")
        doc = {
            "about": "tokens of the tiny fp32 export imported with quantization (models import); "
            "made by tests/modelstore/make_import_fixtures.py --record",
            "tokens": caption_tokens(result.path),
        }
    RECORD.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {RECORD}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(__doc__)
    record()
