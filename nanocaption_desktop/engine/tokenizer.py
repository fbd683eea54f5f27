"""Token ids to text with the bundle's tokenizer.json (Hugging Face tokenizers, no transformers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer

from .errors import ModelError


class Detokenizer:
    def __init__(self, path: str | Path) -> None:
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception for a broken file
            raise ModelError(str(path), f"cannot read the tokenizer: {e}") from e
        if self._tok.get_vocab_size(with_added_tokens=False) == 0:  # every caption would be ""
            raise ModelError(str(path), "the tokenizer's vocabulary is empty")

    @property
    def vocab_size(self) -> int:
        """Token ids it can decode: its vocabulary and added tokens (GPT-2: 50257)."""
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    def decode(self, ids: Sequence[int]) -> str:
        """Text without special tokens, stripped (what transformers' pipeline shows)."""
        return self._tok.decode(list(ids), skip_special_tokens=True).strip()
