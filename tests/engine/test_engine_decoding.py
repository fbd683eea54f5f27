"""Decoding logic on a scripted step model: no ONNX, exact generate() semantics."""

from __future__ import annotations

import numpy as np
import pytest

from nanocaption_desktop.engine.decoding import (
    GenerationSettings,
    beam_search,
    greedy_search,
    log_softmax,
)

EOS, START, V = 0, 0, 6


class Scripted:
    """Logits that depend only on the previous token (a bigram table), with a reorder log."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table.astype(np.float32)
        self.steps = 0
        self.reorders: list[list[int]] = []

    def step(self, input_ids: np.ndarray) -> np.ndarray:
        self.steps += 1
        return self.table[input_ids[:, 0]]

    def reorder(self, rows: np.ndarray) -> None:
        self.reorders.append(rows.tolist())


def settings(**kw) -> GenerationSettings:
    return GenerationSettings(decoder_start_token_id=START, eos_token_id=EOS, **kw)


def test_log_softmax_is_normalised():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]], dtype=np.float32)
    out = log_softmax(x)
    assert np.allclose(np.exp(out).sum(-1), 1.0, atol=1e-6) and np.isfinite(out).all()


def test_greedy_stops_at_eos_and_scores_mean_logprob():
    t = np.full((V, V), -5.0)
    t[START, 3] = 5.0
    t[3, 4] = 5.0
    t[4, EOS] = 5.0
    res = greedy_search(Scripted(t), settings(max_length=20))
    assert res.token_ids == (START, 3, 4, EOS)
    lp = log_softmax(t.astype(np.float32))
    assert res.score == pytest.approx((lp[0, 3] + lp[3, 4] + lp[4, 0]) / 3, rel=1e-6)


def test_greedy_respects_max_length_and_max_new_tokens():
    t = np.full((V, V), -5.0)
    t[:, 2] = 5.0  # never ends
    assert len(greedy_search(Scripted(t), settings(max_length=7)).token_ids) == 7
    s = settings(max_length=7).override(max_new_tokens=3)
    assert len(greedy_search(Scripted(t), s).token_ids) == 4


def test_beam_search_finds_the_better_sequence_greedy_misses():
    # greedy takes 1 (0.6) then is stuck with a poor continuation; beam sees 2 -> EOS is better
    p = np.full((V, V), 1e-6)
    p[START, 1], p[START, 2] = 0.55, 0.45
    p[1, 3], p[1, 4], p[1, 5] = 0.34, 0.33, 0.33
    p[2, EOS] = 0.99
    p[3, EOS] = p[4, EOS] = p[5, EOS] = 0.99
    t = np.log(p / p.sum(1, keepdims=True))
    greedy = greedy_search(Scripted(t), settings(max_length=10))
    beam = beam_search(Scripted(t), settings(max_length=10, num_beams=2))
    assert greedy.token_ids[:2] == (START, 1)
    assert beam.token_ids == (START, 2, EOS)


def test_beam_search_reorders_the_cache_and_ends_at_max_length():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(V, V)) * 2
    t[:, EOS] = -30.0  # never ends by itself
    model = Scripted(t)
    res = beam_search(model, settings(max_length=6, num_beams=3))
    assert len(res.token_ids) == 6 and EOS not in res.token_ids[1:]
    assert model.reorders and all(len(r) == 3 for r in model.reorders)


def _beam_sum(t: np.ndarray, ids: tuple[int, ...]) -> float:
    lp = log_softmax(t.astype(np.float32))
    return float(sum(lp[a, b] for a, b in zip(ids[:-1], ids[1:], strict=False)))


@pytest.mark.parametrize("penalty", [1.0, 0.0, 2.0])
def test_beam_search_returns_the_other_finished_beams_ranked_like_generate(penalty):
    p = np.full((V, V), 1e-3)
    p[START, 1], p[START, 2], p[START, 3] = 0.5, 0.3, 0.2
    p[1, EOS], p[1, 4] = 0.6, 0.4
    p[2, EOS], p[2, 5] = 0.5, 0.5
    p[3, EOS] = 0.9
    p[4, EOS] = p[5, EOS] = 0.95
    t = np.log(p / p.sum(1, keepdims=True))
    s = settings(max_length=8, num_beams=3, length_penalty=penalty)
    res = beam_search(Scripted(t), s)
    assert len(res.alternatives) == 2  # num_beams finished beams in all, the best apart
    seen = {res.token_ids}
    ranked = [(res.token_ids, res.score)] + list(res.alternatives)
    beam_scores = []
    for ids, score in ranked:
        n = len(ids) - 1
        assert ids[0] == START and ids[-1] == EOS and EOS not in ids[1:-1]  # finished
        assert score == pytest.approx(_beam_sum(t, ids) / n, rel=1e-5)  # mean log-probability
        beam_scores.append(_beam_sum(t, ids) / n**penalty)
        seen.add(ids)
    assert len(seen) == 3  # distinct, the best not repeated
    assert beam_scores == sorted(beam_scores, reverse=True)  # BeamHypotheses' order


def test_greedy_has_no_alternatives_and_max_length_beams_are_finished_too():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(V, V)) * 2
    t[:, EOS] = -30.0  # every beam ends at max_length
    res = beam_search(Scripted(t), settings(max_length=5, num_beams=3))
    assert len(res.alternatives) == 2
    assert all(len(ids) == 5 for ids, _ in res.alternatives)
    assert greedy_search(Scripted(t), settings(max_length=5)).alternatives == ()


def test_overrides_validate():
    with pytest.raises(ValueError):
        settings().override(beams=0)
    with pytest.raises(ValueError):
        settings().override(max_new_tokens=0)


def test_settings_from_configs_read_nested_decoder():
    s = GenerationSettings.from_configs(
        {}, {"decoder": {"eos_token_id": 7, "bos_token_id": 7}, "decoder_start_token_id": 7}
    )
    assert (s.eos_token_id, s.decoder_start_token_id, s.max_length) == (7, 7, 20)
