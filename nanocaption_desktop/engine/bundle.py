"""A model bundle: a folder in the Hugging Face Optimum / transformers.js export layout."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..modelstore.layout import OPTIMIZED as OPTIMIZED  # derive.py's name for it
from ..modelstore.layout import find_onnx
from .errors import ModelError

log = logging.getLogger(__name__)

JSON_FILES = ("config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json")
DECODER_KINDS = ("decoder_with_past_model", "decoder_model_merged")
MAX_CONFIG_BYTES = 16 << 20  # the configs are a few KB; read whole, a huge one would exhaust memory


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(str(path), "missing file (the bundle is incomplete)")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ModelError(str(path), f"larger than {MAX_CONFIG_BYTES >> 20} MB: not a config")
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError as e:  # "[[[[...": deeper than Python's parser goes
        raise ModelError(str(path), "cannot read it as JSON: nested too deeply") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(str(path), f"cannot read it as JSON: {e}") from e
    if not isinstance(data, dict):
        raise ModelError(str(path), "expected a JSON object")
    return data


@dataclass(frozen=True)
class Bundle:
    path: Path
    encoder: Path
    decoder: Path
    decoder_kind: str  # "decoder_with_past_model" or "decoder_model_merged"
    config: dict[str, Any] = field(repr=False)
    generation_config: dict[str, Any] = field(repr=False)
    preprocessor_config: dict[str, Any] = field(repr=False)
    tokenizer_file: Path = field(repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def quantized(self) -> bool:
        return self.decoder.stem.endswith("_quantized")

    @property
    def has_stock_decoder(self) -> bool:
        """False for a bundle that ships only its optimized decoder pair (the executable's)."""
        return self.decoder.is_file()

    @property
    def has_stock_encoder(self) -> bool:
        """False for a bundle that ships only its optimized encoder (the executable's)."""
        return self.encoder.is_file()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        quantized: bool = True,
        decoder: str | None = None,
    ) -> Bundle:
        """Check a bundle folder and read its JSON files; `ModelError` names what is wrong.

        `decoder` picks "decoder_with_past_model" or "decoder_model_merged"; by default the first
        that exists, in that order (one decoder_with_past graph serves every step, the empty past
        at step 0 included).
        """
        root = Path(path).expanduser()
        if not root.is_dir():
            raise ModelError(str(root), "not a folder" if root.exists() else "folder not found")
        configs = {name: _read_json(root / name) for name in JSON_FILES[:3]}
        tokenizer_file = root / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ModelError(str(tokenizer_file), "missing file (the bundle is incomplete)")
        encoder = find_onnx(root, "encoder_model", quantized)
        if encoder is None:
            raise ModelError(
                str(root / "onnx" / "encoder_model_quantized.onnx"),
                "missing file: no encoder_model[_quantized].onnx at the top or under onnx/",
            )
        kinds = (decoder,) if decoder else DECODER_KINDS
        for kind in kinds:
            if kind not in DECODER_KINDS:
                raise ModelError(str(root), f"unknown decoder kind {kind!r}")
            dec = find_onnx(root, kind, quantized)
            if dec is not None:
                break
        else:
            raise ModelError(
                str(root / "onnx" / "decoder_with_past_model_quantized.onnx"),
                "missing file: no decoder_with_past_model[_quantized].onnx or "
                "decoder_model_merged[_quantized].onnx at the top or under onnx/",
            )
        if encoder.stem.endswith("_quantized") != dec.stem.endswith("_quantized"):
            log.info("bundle %s mixes %s and %s", root, encoder.name, dec.name)
        return cls(
            root,
            encoder,
            dec,
            kind,
            configs["config.json"],
            configs["generation_config.json"],
            configs["preprocessor_config.json"],
            tokenizer_file,
        )
