"""What a load reads from a bundle's JSON files and tokenizer, checked (issue: bundle values).

`read_values` is what `Captioner` uses: the first problem is a `ModelError` naming the file and
the key. `value_problems` lists one problem per file; `load_problems` is everything a load would
refuse beyond the model store's file checks, for ``models verify`` (cli_models.py). Beyond each
file's own checks (preprocess.py, decoding.py, tokenizer.py) the tokenizer must decode every
token the decoder can emit: its vocabulary size equals the decoder's ``vocab_size``
(config.json), as in every Hugging Face export of a GPT-2 decoder (50257 for vit-gpt2); a
config without ``vocab_size`` has its token ids checked against the tokenizer instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bundle import JSON_FILES, Bundle, _read_json
from .decoding import GenerationSettings
from .errors import ModelError
from .preprocess import PreprocessConfig
from .tokenizer import Detokenizer
from .values import ConfigValueError

__all__ = ["BundleValues", "load_problems", "read_values", "value_problems"]


@dataclass(frozen=True)
class BundleValues:
    preprocess: PreprocessConfig
    settings: GenerationSettings
    detokenizer: Detokenizer


def _vocab_size(config: Mapping[str, Any]) -> tuple[int | None, str]:
    decoder = config.get("decoder")
    if isinstance(decoder, Mapping) and decoder.get("vocab_size") is not None:
        return int(decoder["vocab_size"]), "decoder.vocab_size"
    if config.get("vocab_size") is not None:
        return int(config["vocab_size"]), "vocab_size"
    return None, ""


def _read(bundle: Bundle) -> tuple[BundleValues | None, list[ModelError]]:
    errors: list[ModelError] = []
    preprocess = settings = detokenizer = None

    def failed(e: ConfigValueError) -> None:
        errors.append(ModelError(str(bundle.path / e.file), f"{e.key}: {e.reason}"))

    try:
        preprocess = PreprocessConfig.from_dict(bundle.preprocessor_config)
    except ConfigValueError as e:
        failed(e)
    try:
        settings = GenerationSettings.from_configs(bundle.generation_config, bundle.config)
    except ConfigValueError as e:
        failed(e)
    try:
        detokenizer = Detokenizer(bundle.tokenizer_file)
    except ModelError as e:
        errors.append(e)
    if settings is not None and detokenizer is not None:
        vocab, key = _vocab_size(bundle.config)
        size = detokenizer.vocab_size
        if vocab is not None and size != vocab:
            errors.append(
                ModelError(
                    str(bundle.tokenizer_file),
                    f"its vocabulary has {size} tokens, but config.json's {key} is {vocab}",
                )
            )
        elif vocab is None and max(settings.eos_token_id, settings.decoder_start_token_id) >= size:
            errors.append(
                ModelError(
                    str(bundle.tokenizer_file),
                    f"its vocabulary has {size} tokens, fewer than the start and end token ids "
                    f"({settings.decoder_start_token_id}, {settings.eos_token_id}) need",
                )
            )
    if errors or preprocess is None or settings is None or detokenizer is None:
        return None, errors
    return BundleValues(preprocess, settings, detokenizer), []


def read_values(bundle: Bundle) -> BundleValues:
    """The bundle's preprocessing, generation settings and tokenizer; `ModelError` if any is bad."""
    values, errors = _read(bundle)
    if values is None:
        raise errors[0]
    return values


def value_problems(bundle: Bundle) -> list[str]:
    """Every problem `read_values` would raise, one per file, as ``"file: key: reason"``."""
    return [str(e) for e in _read(bundle)[1]]


def load_problems(folder: Path) -> list[str]:
    """What a load of `folder` would refuse beyond the files' safety and hashes (the model
    store's checks): the JSON files, the tokenizer, every value they hold, and the derived
    copies' hashes (copycheck.py). One line per problem; empty when it would load."""
    from .derive import verify_copies  # the derive toolchain, only when verifying

    problems = []
    for name in JSON_FILES:
        try:
            _read_json(folder / name)
        except ModelError as e:
            problems.append(str(e))
    if not problems:
        try:
            problems += value_problems(Bundle.open(folder))
        except ModelError as e:
            problems.append(str(e))
    return problems + verify_copies(folder)
