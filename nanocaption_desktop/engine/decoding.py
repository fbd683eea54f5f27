"""Greedy and beam search in numpy, with the semantics of transformers' `generate()` (4.57).

The model is reached only through a `StepModel`: `step(input_ids[B,1]) -> logits[B,V]` advances
every row by one token (the model keeps its own key/value cache), and `reorder(rows)` makes row i
continue the cache of row `rows[i]` (beam search). Nothing here knows about ONNX.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from .errors import Cancelled, RequestError
from .limits import MAX_BEAMS, MAX_NEW_TOKENS, MAX_ROWS
from .values import ConfigValueError, flag, integer, number

NEG = np.float32(-1.0e9)


class StepModel(Protocol):
    def step(self, input_ids: np.ndarray) -> np.ndarray: ...

    def reorder(self, rows: np.ndarray) -> None: ...


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class GenerationSettings:
    decoder_start_token_id: int
    eos_token_id: int
    max_length: int = 20  # decoder tokens including the start token, as in transformers
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    max_new_tokens: int | None = None
    max_positions: int | None = None  # the decoder's (n_positions): it cannot go further

    @classmethod
    def from_configs(
        cls, generation_config: Mapping[str, Any], config: Mapping[str, Any]
    ) -> GenerationSettings:
        """The settings a bundle asks for: each key from generation_config.json, else config.json,
        else its "decoder" part. Every value is checked (values.py): token ids in
        0..vocab_size-1, num_beams in 1..MAX_BEAMS, max_length and max_new_tokens at least 1 and
        at most the decoder's positions (n_positions / max_position_embeddings); a
        `ConfigValueError` (a ``ValueError``) names the file and the key."""
        return _from_configs(generation_config, config)

    def override(
        self, *, beams: int | None = None, max_new_tokens: int | None = None
    ) -> GenerationSettings:
        """These settings with a caller's request; out of range raises ``RequestError`` (a
        ``ValueError``) naming the limit: ``MAX_BEAMS``, ``MAX_NEW_TOKENS``, or the model's own
        positions (an explicit request past them is refused, never clipped)."""
        check_request(beams=beams, max_new_tokens=max_new_tokens)
        s = self
        if beams is not None:
            s = replace(s, num_beams=int(beams))
        if max_new_tokens is not None:
            room = None if s.max_positions is None else s.max_positions - 1
            if room is not None and max_new_tokens > room:
                raise RequestError(
                    f"max_new_tokens={max_new_tokens} is more than this model can make: its "
                    f"{s.max_positions} positions leave room for {room} new tokens"
                )
            s = replace(s, max_new_tokens=int(max_new_tokens))
        return s

    @property
    def total_length(self) -> int:
        """Length limit of the decoder sequence, start token included (max_new_tokens wins), at
        most one past the decoder's positions (the last token is never fed back): a caller's
        request beyond them made every image fail in the position embedding's Gather."""
        length = self.max_length if self.max_new_tokens is None else 1 + self.max_new_tokens
        return length if self.max_positions is None else min(length, self.max_positions + 1)


_Picked = tuple[Any, str, str]  # (value or None, file, key as the message names it)


def _picker(generation_config: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    decoder = config.get("decoder")
    places = [("generation_config.json", "", generation_config), ("config.json", "", config)]
    if isinstance(decoder, Mapping):
        places.append(("config.json", "decoder.", decoder))

    def pick(key: str, *, model_only: bool = False) -> _Picked:
        for file, prefix, place in places[1:] if model_only else places:
            if place.get(key) is not None:
                return place[key], file, prefix + key
        return None, places[0][0], key

    return pick


def _positions(pick: Any) -> tuple[int | None, int | None]:
    """(vocab_size, positions) of the decoder, or None where the config does not say."""
    found: list[int | None] = []
    for keys in (("vocab_size",), ("n_positions", "max_position_embeddings")):
        value = None
        for key in keys:
            got, file, label = pick(key, model_only=True)
            if got is not None:
                value = integer(got, file, label, 1)
                break
        found.append(value)
    return found[0], found[1]


def _from_configs(
    generation_config: Mapping[str, Any], config: Mapping[str, Any]
) -> GenerationSettings:
    pick = _picker(generation_config, config)
    vocab, positions = _positions(pick)
    top = None if vocab is None else vocab - 1

    def token(key: str) -> int | None:
        value, file, label = pick(key)
        if value is None:
            return None
        if key == "eos_token_id" and isinstance(value, list):  # several end tokens: the first
            if not value:
                raise ConfigValueError(file, label, "an empty list")
            ids = [integer(v, file, f"{label}[{i}]", 0, top) for i, v in enumerate(value)]
            return ids[0]
        return integer(value, file, label, 0, top)

    eos = token("eos_token_id")
    start = token("decoder_start_token_id")
    bos = token("bos_token_id")
    token("pad_token_id")  # unused here, but a bundle naming a token the model lacks is broken
    start = next((t for t in (start, bos, eos) if t is not None), None)
    if eos is None or start is None:
        raise ConfigValueError(
            "config.json", "eos_token_id", "the model config names no eos_token_id"
        )
    longest = MAX_NEW_TOKENS if positions is None else min(positions, MAX_NEW_TOKENS)

    def count(key: str, default: int | None, lo: int, hi: int) -> int | None:
        value, file, label = pick(key)
        return default if value is None else integer(value, file, label, lo, hi)

    max_length = count("max_length", min(20, longest), 1, longest if positions else longest + 1)
    early, file, label = pick("early_stopping")
    if early is not None and early != "never":
        flag(early, file, label)
    penalty, file, label = pick("length_penalty")
    return GenerationSettings(
        decoder_start_token_id=start,
        eos_token_id=eos,
        max_length=max_length or 20,
        num_beams=count("num_beams", 1, 1, MAX_BEAMS) or 1,
        length_penalty=1.0 if penalty is None else number(penalty, file, label),
        early_stopping=False if early is None else early,
        max_new_tokens=count("max_new_tokens", None, 1, longest),
        max_positions=positions,
    )


def check_request(
    *, beams: object = None, max_new_tokens: object = None, rows: object = None
) -> None:
    """A caller's ``beams`` / ``max_new_tokens`` (None: the model's default) and ``rows`` within
    the limits of engine/limits.py, else ``RequestError`` naming the limit. Needs no model."""
    for name, value, limit, const in (
        ("beams", beams, MAX_BEAMS, "MAX_BEAMS"),
        ("max_new_tokens", max_new_tokens, MAX_NEW_TOKENS, "MAX_NEW_TOKENS"),
        ("rows", rows, MAX_ROWS, "MAX_ROWS"),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise RequestError(f"{name} must be a whole number, not {value!r}")
        if not 1 <= value <= limit:
            raise RequestError(f"{name} must be between 1 and {limit} ({const}), not {value}")


@dataclass(frozen=True)
class Result:
    token_ids: tuple[int, ...]  # the start token first, as generate() returns them
    score: float  # mean log-probability of the generated tokens
    #: beam search's other finished beams, (token_ids, score) each, in the order
    #: generate(num_return_sequences=num_beams) returns them after the best (its beam scores
    #: descending, ties in the order they were found); the best is not among them
    alternatives: tuple[tuple[tuple[int, ...], float], ...] = ()


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float32, copy=False)
    m = x.max(axis=-1, keepdims=True)
    shifted = x - m
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _check(cancel: CancelFlag | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def generate(
    model: StepModel, settings: GenerationSettings, cancel: CancelFlag | None = None
) -> Result:
    if settings.num_beams == 1:
        return greedy_search(model, settings, cancel)
    return beam_search(model, settings, cancel)


def greedy_search(
    model: StepModel, s: GenerationSettings, cancel: CancelFlag | None = None
) -> Result:
    tokens = [s.decoder_start_token_id]
    total = 0.0
    limit = s.total_length
    while len(tokens) < limit:
        _check(cancel)
        logprobs = log_softmax(model.step(np.array([[tokens[-1]]], dtype=np.int64)))[0]
        nxt = int(np.argmax(logprobs))
        tokens.append(nxt)
        total += float(logprobs[nxt])
        if nxt == s.eos_token_id:
            break
    n = len(tokens) - 1
    return Result(tuple(tokens), total / n if n else 0.0)


def _topk(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first (stable for ties, like a sort)."""
    if k >= values.shape[-1]:
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.argsort(-values[part], kind="stable")]


def beam_search(
    model: StepModel, s: GenerationSettings, cancel: CancelFlag | None = None
) -> Result:
    """transformers' vectorised `_beam_search` for one input, with one eos token."""
    nb = s.num_beams
    limit = s.total_length
    keep = 2 * nb
    lp = s.length_penalty
    prompt = 1
    running = [[s.decoder_start_token_id] for _ in range(nb)]
    running_scores = np.full(nb, NEG, dtype=np.float32)
    running_scores[0] = 0.0
    done_seqs: list[list[int]] = [[] for _ in range(nb)]
    done_scores = np.full(nb, NEG, dtype=np.float32)
    done_flags = np.zeros(nb, dtype=bool)
    improvable = True
    cur = prompt
    while True:
        _check(cancel)
        last = np.array([[seq[-1]] for seq in running], dtype=np.int64)
        logprobs = log_softmax(model.step(last))  # [nb, V]
        vocab = logprobs.shape[-1]
        acc = (logprobs + running_scores[:, None]).reshape(-1)
        top = _topk(acc, keep)
        top_scores = acc[top]
        top_beams = top // vocab
        top_tokens = top % vocab
        cand = [running[b] + [int(t)] for b, t in zip(top_beams, top_tokens, strict=True)]
        hits = (top_tokens == s.eos_token_id) | (cur + 1 >= limit)
        # e. the best num_beams unfinished candidates continue
        run_scores = top_scores + hits.astype(np.float32) * NEG
        nxt = _topk(run_scores, nb)
        # f. finished candidates among the top num_beams join the finished set if good enough
        fin = top_scores / np.float32((cur + 1 - prompt) ** lp)
        if bool(done_flags.all()) and s.early_stopping is True:
            fin = fin + NEG
        if not improvable:
            fin = fin + NEG
        just = hits & (np.arange(keep) < nb)
        fin = fin + (~just).astype(np.float32) * NEG
        merged_scores = np.concatenate([done_scores, fin])
        merged_seqs = done_seqs + cand
        merged_flags = np.concatenate([done_flags, just])
        best = _topk(merged_scores, nb)
        done_seqs = [merged_seqs[i] for i in best]
        done_scores = merged_scores[best]
        done_flags = merged_flags[best]
        # g. next iteration
        running = [cand[i] for i in nxt]
        running_scores = run_scores[nxt]
        cur += 1
        best_hyp_len = limit - prompt if s.early_stopping == "never" and lp > 0.0 else cur - prompt
        best_running = running_scores[0] / np.float32(best_hyp_len**lp)
        worst_done = np.where(done_flags, done_scores.min(), NEG)
        improvable = improvable and bool(np.any(best_running > worst_done))
        open_beam = not (bool(done_flags.all()) and s.early_stopping is True)
        if not (improvable and open_beam and not bool(hits.all())):
            break
        model.reorder(top_beams[nxt])
    finished = [
        _mean_scored(done_seqs[i], float(done_scores[i]), prompt, lp)
        for i in range(nb)
        if i == 0 or bool(done_flags[i])
    ]
    best_ids, best_score = finished[0]
    return Result(best_ids, best_score, tuple(finished[1:]))


def _mean_scored(
    seq: list[int], beam_score: float, prompt: int, lp: float
) -> tuple[tuple[int, ...], float]:
    """A finished beam as (token_ids, mean log-probability): its beam score is the sum of the
    log-probabilities over (generated length ** length_penalty), as in BeamHypotheses."""
    n = len(seq) - prompt
    total = beam_score * (n**lp)
    return tuple(seq), total / n if n else 0.0
