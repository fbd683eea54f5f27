"""What a caption is: the engine's result type (shared by the Captioner and the pipeline)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Caption"]


@dataclass(frozen=True)
class Caption:
    """One image's caption. `token_ids` are as transformers' generate() returns them (decoder
    start token first); `score` is the mean log-probability of the generated tokens.
    `alternatives`: beam search's other finished beams as (text, score), best first, as
    generate(num_return_sequences=num_beams) ranks them; empty for greedy decoding."""

    text: str
    token_ids: tuple[int, ...]
    score: float
    seconds: float
    source: str = ""
    error: str | None = None
    alternatives: tuple[tuple[str, float], ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None
