"""Beam search (accord.lm.beam, the bs baseline): the bookkeeping against exhaustive enumeration, the
transformers backend against transformers' own `model.generate(num_beams=...)`, one beam against greedy
decoding, and the method through accord.decoding."""

import itertools

import pytest
import torch

from accord.decoding.methods import MethodConfig, build_prompts, generate_answers
from accord.lm.base import SamplingConfig
from accord.lm.beam import beam_search

VOCAB, STOP = 4, 0


def toy_logits(prefix: tuple[int, ...]) -> torch.Tensor:
    """A fixed, prefix-dependent next-token distribution (seeded by the prefix)."""
    generator = torch.Generator().manual_seed(hash(prefix) % (2 ** 31))
    return 3 * torch.randn(VOCAB, generator=generator, dtype=torch.float64)


def exhaustive_best(max_new_tokens: int, length_penalty: float) -> tuple[list[int], str]:
    """Best hypothesis over every sequence: ending in STOP (length counts it) or cut at max_new_tokens."""
    best = None
    for length in range(1, max_new_tokens + 1):
        for sequence in itertools.product(range(VOCAB), repeat=length):
            if STOP in sequence[:-1] or (sequence[-1] != STOP and length < max_new_tokens):
                continue
            logp = sum(float(torch.log_softmax(toy_logits(sequence[:i]), -1)[t]) for i, t in enumerate(sequence))
            score = logp / length ** length_penalty
            stopped = sequence[-1] == STOP
            candidate = (score, list(sequence[:-1]) if stopped else list(sequence), "stop" if stopped else "length")
            if best is None or candidate[0] > best[0]:
                best = candidate
    return best[1], best[2]


def toy_search(num_beams: int, max_new_tokens: int, length_penalty: float):
    beams = [()]

    def extend(parents, tokens):
        beams[:] = [beams[p] + (t,) for p, t in zip(parents, tokens)]
        return torch.stack([toy_logits(b) for b in beams])

    return beam_search(toy_logits(()), extend, num_beams, max_new_tokens, {STOP}, length_penalty)


@pytest.mark.parametrize("length_penalty", [1.0, 0.0, 2.0])
@pytest.mark.parametrize("max_new_tokens", [1, 2, 4])
def test_wide_beam_finds_the_exhaustive_optimum(max_new_tokens, length_penalty):
    # With more beams than sequences nothing is pruned and early stopping never triggers first.
    assert toy_search(VOCAB ** max_new_tokens, max_new_tokens, length_penalty) == \
        exhaustive_best(max_new_tokens, length_penalty)


@pytest.mark.parametrize("num_beams", [1, 3, 6])
def test_transformers_backend_equals_model_generate(tiny_lm, num_beams):
    prompts = [tiny_lm.chat_prompt(q) for q in ["Name a color.", "How do I learn Python?"]]
    ours = tiny_lm.generate_beam(prompts, num_beams, SamplingConfig(max_new_tokens=12))
    for prompt, generation in zip(prompts, ours):
        input_ids, mask = tiny_lm.encode([prompt])
        output = tiny_lm.model.generate(
            input_ids, attention_mask=mask, num_beams=num_beams, do_sample=False, early_stopping=True,
            length_penalty=1.0, max_new_tokens=12, eos_token_id=sorted(tiny_lm.stop_ids),
            pad_token_id=tiny_lm.tokenizer.pad_token_id)
        expected = [t for t in output[0, input_ids.shape[1]:].tolist() if t not in tiny_lm.stop_ids
                    and t != tiny_lm.tokenizer.pad_token_id]
        assert generation.token_ids == expected


def test_one_beam_is_greedy(tiny_lm):
    config = MethodConfig(method="bs", preference="concise", num_beams=1)
    sampling = SamplingConfig(max_new_tokens=16)
    questions = ["Name a color.", "Why is the sky blue?"]
    beams = generate_answers(tiny_lm, questions, config, sampling)
    greedy = generate_answers(tiny_lm, questions, MethodConfig(method="pref", preference="concise"), sampling)
    assert [g.token_ids for g in beams] == [g.token_ids for g in greedy]
    assert [g.finish_reason for g in beams] == [g.finish_reason for g in greedy]


def test_bs_decodes_the_preference_prompt(tiny_lm):
    config = MethodConfig(method="bs", preference="formal", num_beams=3)
    question = "Name a fruit."
    _, pref = build_prompts(tiny_lm, question, config)
    sampling = SamplingConfig(max_new_tokens=10)
    assert generate_answers(tiny_lm, [question], config, sampling)[0].token_ids == \
        tiny_lm.generate_beam([pref], 3, sampling)[0].token_ids
    assert config.parameters()["num_beams"] == 3
