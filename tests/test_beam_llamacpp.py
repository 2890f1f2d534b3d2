"""Beam search on the llama.cpp backend (beams forked by copying KV streams) against the transformers
backend and against greedy decoding, on smollm2-135m (see tests/test_llamacpp.py for the exact model)."""

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install llama-cpp-python")

from test_llamacpp import exact_llama  # noqa: E402,F401  (the fixture; skips without smollm2)

from accord.lm.base import SamplingConfig  # noqa: E402

PROMPTS = ["How do I learn Python?", "Name a color."]


def test_one_beam_equals_greedy(exact_llama):  # noqa: F811
    prompts = [exact_llama.chat_prompt(q) for q in PROMPTS]
    sampling = SamplingConfig(max_new_tokens=16)
    beams = exact_llama.generate_beam(prompts, 1, sampling)
    greedy = exact_llama.generate(prompts, sampling)
    assert [g.token_ids for g in beams] == [g.token_ids for g in greedy]


def test_four_beams_equal_the_transformers_backend(exact_llama, smollm):  # noqa: F811
    sampling = SamplingConfig(max_new_tokens=12)
    for question in PROMPTS:
        ours = exact_llama.generate_beam([exact_llama.chat_prompt(question)], 4, sampling)[0]
        reference = smollm.generate_beam([smollm.chat_prompt(question)], 4, sampling)[0]
        assert ours.token_ids == reference.token_ids
        assert ours.finish_reason == reference.finish_reason
