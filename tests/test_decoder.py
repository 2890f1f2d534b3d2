"""The batched, KV-cached decoder against independent implementations on a tiny random model:
the no-cache reference loop, single-question runs (left padding), transformers' own `generate`, and
the LogitsProcessor form."""

import pytest
import torch

from accord.decoding.methods import MethodConfig, build_prompts, combiner, generate_answers
from accord.decoding.processor import TwoStreamLogitsProcessor, make_amulet_combiner
from accord.decoding.reference import reference_decode
from accord.errors import AccordError
from accord.lm.base import SamplingConfig

QUESTIONS = ["How do I learn Python?", "Name a color.", "Why is the sky blue, and what about sunsets?"]


def ids_of(lm, text):
    return lm.tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("method", ["base", "pref", "la", "amulet"])
def test_kv_cached_batch_equals_no_cache_reference(tiny_lm, method):
    config = MethodConfig(method=method, preference="concise")
    sampling = SamplingConfig(max_new_tokens=24)
    batched = generate_answers(tiny_lm, QUESTIONS, config, sampling)
    for question, generation in zip(QUESTIONS, batched):
        plain, pref = build_prompts(tiny_lm, question, config)
        if method in ("base", "pref"):
            expected = reference_decode(tiny_lm.model, ids_of(tiny_lm, plain if method == "base" else pref), None,
                                        None, 24, tiny_lm.stop_ids)
        else:
            expected = reference_decode(tiny_lm.model, ids_of(tiny_lm, plain), ids_of(tiny_lm, pref),
                                        combiner(config), 24, tiny_lm.stop_ids)
        assert generation.token_ids == expected


@pytest.mark.parametrize("method", ["base", "amulet"])
def test_left_padded_batch_equals_single_runs(tiny_lm, method):
    config = MethodConfig(method=method, preference="formal")
    sampling = SamplingConfig(max_new_tokens=20)
    batched = generate_answers(tiny_lm, QUESTIONS, config, sampling)
    singles = [generate_answers(tiny_lm, [q], config, sampling)[0] for q in QUESTIONS]
    assert [g.token_ids for g in batched] == [g.token_ids for g in singles]
    assert len({len(ids_of(tiny_lm, tiny_lm.chat_prompt(q))) for q in QUESTIONS}) > 1  # padding did occur


def test_base_equals_transformers_generate(tiny_lm):
    prompts = [tiny_lm.chat_prompt(q, system="You are a helpful assistant.") for q in QUESTIONS]
    ours = tiny_lm.generate(prompts, SamplingConfig(max_new_tokens=16))
    input_ids, attention_mask = tiny_lm.encode(prompts)
    theirs = tiny_lm.model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=16,
                                    do_sample=False, eos_token_id=sorted(tiny_lm.stop_ids),
                                    pad_token_id=tiny_lm.tokenizer.pad_token_id)
    for row, generation in enumerate(ours):
        expected = theirs[row, input_ids.shape[1]:].tolist()
        expected = [t for t in expected if t != tiny_lm.tokenizer.pad_token_id]
        if expected and expected[-1] in tiny_lm.stop_ids:
            expected = expected[:-1]
        assert generation.token_ids == expected


def test_logits_processor_equals_decoder(tiny_lm):
    config = MethodConfig(method="amulet", preference="concise")
    ours = generate_answers(tiny_lm, QUESTIONS, config, SamplingConfig(max_new_tokens=12))
    prompts = [build_prompts(tiny_lm, q, config) for q in QUESTIONS]
    plain_ids, plain_mask = tiny_lm.encode([p for p, _ in prompts])
    pref_ids, pref_mask = tiny_lm.encode([q for _, q in prompts])
    processor = TwoStreamLogitsProcessor(tiny_lm.model, plain_ids, plain_mask, make_amulet_combiner())
    out = tiny_lm.model.generate(input_ids=pref_ids, attention_mask=pref_mask, logits_processor=[processor],
                                 max_new_tokens=12, do_sample=False, eos_token_id=sorted(tiny_lm.stop_ids),
                                 pad_token_id=tiny_lm.tokenizer.pad_token_id)
    for row, generation in enumerate(ours):
        expected = [t for t in out[row, pref_ids.shape[1]:].tolist() if t != tiny_lm.tokenizer.pad_token_id]
        if expected and expected[-1] in tiny_lm.stop_ids:
            expected = expected[:-1]
        assert generation.token_ids == expected


def test_sampling_is_seeded(tiny_lm):
    config = MethodConfig(method="amulet", preference="concise")
    first = generate_answers(tiny_lm, QUESTIONS, config, SamplingConfig(max_new_tokens=16, temperature=1.0, top_p=0.9, seed=3))
    again = generate_answers(tiny_lm, QUESTIONS, config, SamplingConfig(max_new_tokens=16, temperature=1.0, top_p=0.9, seed=3))
    other = generate_answers(tiny_lm, QUESTIONS, config, SamplingConfig(max_new_tokens=16, temperature=1.0, top_p=0.9, seed=4))
    assert [g.token_ids for g in first] == [g.token_ids for g in again]
    assert [g.token_ids for g in first] != [g.token_ids for g in other]


def test_streaming_callback_sees_every_token(tiny_lm):
    seen = {}
    generations = generate_answers(tiny_lm, QUESTIONS[:2], MethodConfig(method="la", preference="short"),
                                   SamplingConfig(max_new_tokens=10),
                                   on_token=lambda row, text: seen.setdefault(row, []).append(text))
    for row, generation in enumerate(generations):
        assert len(seen.get(row, [])) == generation.num_tokens


def test_choice_logprobs_with_shared_prefix_equal_full_prompts(tiny_lm):
    prefix = "Background: a long shared context. "
    suffixes = ["Party A asks: rate it?", "B: rate?", "Party C, with a longer question: rate it now?"]
    choices = list("0123456789")
    shared = tiny_lm.choice_logprobs(suffixes, choices, prefix=prefix)
    separate = tiny_lm.choice_logprobs([prefix + s for s in suffixes], choices)
    full = [torch.log_softmax(tiny_lm.model(input_ids=torch.tensor([ids_of(tiny_lm, prefix + s)])).logits[0, -1], -1)
            for s in suffixes]
    choice_ids = tiny_lm.choice_token_ids(choices)
    for row in range(len(suffixes)):
        assert torch.allclose(torch.tensor(shared[row]), full[row][choice_ids], atol=1e-4)
        assert torch.allclose(torch.tensor(separate[row]), full[row][choice_ids], atol=1e-4)


def test_bad_requests(tiny_lm):
    with pytest.raises(AccordError):
        MethodConfig(method="amulet", preference="  ")
    with pytest.raises(AccordError):
        MethodConfig(method="magic", preference="concise")
    with pytest.raises(AccordError):
        generate_answers(tiny_lm, QUESTIONS, MethodConfig(method="base"), SamplingConfig(max_new_tokens=0))
    with pytest.raises(AccordError):
        tiny_lm.choice_token_ids(["a", "a"])


def test_choice_tokens_must_be_distinct_and_non_empty(tiny_lm):
    ids = tiny_lm.choice_token_ids(list("ABC"))
    assert ids == [ids_of(tiny_lm, c)[0] for c in "ABC"] and len(set(ids)) == 3
    with pytest.raises(AccordError, match="distinct"):
        tiny_lm.choice_token_ids(["A", "A"])
    with pytest.raises(AccordError, match="no token"):
        tiny_lm.choice_token_ids(["B", ""])


def test_no_deprecated_cache_keyword(tiny_lm, tmp_path):
    """Every forward pass of ours passes the KV cache under the keyword this transformers version expects
    (`cache` since 5.2x; `past_key_values` warns there): decoding (one and two streams, shared prefix),
    beam search, constrained choice, the logits processor and MPO's sampler."""
    import warnings

    from conftest import make_tiny_model, make_tiny_tokenizer

    from accord.lm.hf import CACHE_KEY
    from accord.train.mpo import MPOConfig, MPOTrainer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for method in ("base", "amulet"):
            generate_answers(tiny_lm, QUESTIONS[:2], MethodConfig(method=method, preference="concise"),
                             SamplingConfig(max_new_tokens=3))
        tiny_lm.generate_beam(QUESTIONS[:1], 2, SamplingConfig(max_new_tokens=3))
        tiny_lm.choice_logprobs(["Is it red?", "Blue?"], ["yes", "no"], prefix="Answer yes or no. ")
        test_logits_processor_equals_decoder(tiny_lm)
        tokenizer = make_tiny_tokenizer()
        trainer = MPOTrainer(make_tiny_model(len(tokenizer)), tokenizer, QUESTIONS[:2], judge=None,
                             config=MPOConfig(steps=1, prompts_per_step=2, max_new_tokens=3), out_dir=tmp_path)
        trainer.generate(QUESTIONS[:2], copies=1)
    messages = [str(w.message) for w in caught if "past_key_values" in str(w.message) or "cache_params" in str(w.message)]
    assert messages == [] or CACHE_KEY == "past_key_values", messages[:2]
