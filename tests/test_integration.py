"""Integration on the real packaged smollm2-135m (loaded once per session; skipped if not installed)."""

from accord.decoding.methods import MethodConfig, build_prompts, combiner, generate_answers
from accord.decoding.reference import reference_decode
from accord.lm.base import SamplingConfig, normalize_choices


def test_amulet_on_real_model_matches_reference(smollm):
    config = MethodConfig(method="amulet", preference="concise")
    question = "How do I learn Python?"
    generation = generate_answers(smollm, [question], config, SamplingConfig(max_new_tokens=12))[0]
    plain, pref = build_prompts(smollm, question, config)
    encode = lambda text: smollm.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    expected = reference_decode(smollm.model, encode(plain), encode(pref), combiner(config), 12, smollm.stop_ids)
    assert generation.token_ids == expected
    assert generation.text.strip()


def test_base_answers_a_question(smollm):
    generation = generate_answers(smollm, ["What is the capital of France?"], MethodConfig(method="base"),
                                  SamplingConfig(max_new_tokens=16))[0]
    assert "Paris" in generation.text


def test_choice_scoring_equals_full_forward(smollm):
    import torch

    prompts = [smollm.chat_prompt("Is Paris the capital of France? Answer Yes or No."),
               smollm.chat_prompt("Is 7 a prime number? Answer Yes or No.")]
    scores = smollm.choice_logprobs(prompts, ["Yes", "No"])
    yes_no = smollm.choice_token_ids(["Yes", "No"])
    for row, prompt in enumerate(prompts):
        ids = torch.tensor([smollm.tokenizer(prompt, add_special_tokens=False)["input_ids"]])
        expected = torch.log_softmax(smollm.model(input_ids=ids).logits[0, -1].float(), -1)[yes_no]
        assert torch.allclose(torch.tensor(scores[row]), expected, atol=1e-3)
    probs = normalize_choices(scores)
    assert abs(probs.sum(axis=1) - 1).max() < 1e-9
