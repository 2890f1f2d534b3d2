"""The preference evaluation: the judges' readings and summaries by hand, fake judges with known answers,
the reward-model scorer on a tiny random sequence-classification model, judge validation, and end-to-end
runs + resume on a tiny model."""

import json

import numpy as np
import pytest

from accord.decoding.methods import generate_answers
from accord.decoding.protocols import OPPOSITE_PREFERENCES, PAPER_PREFERENCES, PROTOCOLS
from accord.errors import AccordError
from accord.eval import judge_check
from accord.eval.judges import PAIRWISE, combine_orders, order_verdict, pairwise_verdicts, pointwise_scores
from accord.eval.preferences import PreferenceEvalConfig, pairwise_summary, pointwise_summary, run_preference_eval
from accord.lm.base import SamplingConfig
from accord.runs import ResultStore

QUESTIONS = [{"id": str(i), "question": q} for i, q in enumerate(["What is 2+2?", "Name a fruit.", "Hi?"])]


class FakeJudge:
    """Answers constrained choices by rule: pairwise, the response containing `marker` is better (or always
    "A" when `position_biased`); pointwise, Yes exactly when the answer contains `marker`."""

    backend = "fake"

    def __init__(self, marker="GOOD", position_biased=False):
        self.marker, self.position_biased = marker, position_biased

    def chat_prompt(self, user, system=None):
        return user

    def choice_logprobs(self, prompts, choices, prefix=""):
        rows = []
        for prompt in (prefix + p for p in prompts):
            if choices[0] == "A":
                first = prompt.split("Response A:")[1].split("Response B:")[0]
                second = prompt.split("Response B:")[1]
                if self.position_biased:
                    pick = 0
                else:
                    pick = 0 if self.marker in first else 1 if self.marker in second else 2
                rows.append([0.0 if k == pick else -5.0 for k in range(3)])
            else:
                rows.append([0.0, -3.0] if self.marker in prompt.split("Answer:")[1] else [-3.0, 0.0])
        return np.array(rows)


def test_presets_and_opposites():
    assert len(PAPER_PREFERENCES) == 8 and set(OPPOSITE_PREFERENCES) == set(PAPER_PREFERENCES)
    assert OPPOSITE_PREFERENCES["concise"] == "verbose" and OPPOSITE_PREFERENCES["verbose"] == "concise"


@pytest.mark.parametrize("forward, backward, expected", [
    (1, -1, 1), (1, 0, 1), (0, -1, 1), (1, 1, 0), (0, 0, 0), (-1, -1, 0), (-1, 1, -1), (0, 1, -1), (-1, 0, -1)])
def test_both_orders_combine(forward, backward, expected):
    assert combine_orders(forward, backward) == expected


def test_order_verdict_reads_the_argmax():
    assert [order_verdict(p) for p in ([0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7])] == [1, -1, 0]


def test_pairwise_verdicts_with_known_answers():
    items = [("q", "a GOOD answer", "a bad answer"), ("q", "bad", "GOOD"), ("q", "bad", "also bad")]
    assert [v["verdict"] for v in pairwise_verdicts(FakeJudge(), items, "Be good.")] == [1, -1, 0]
    # A judge that always says "A" is going by position: both orders cancel into ties.
    assert [v["verdict"] for v in pairwise_verdicts(FakeJudge(position_biased=True), items, "x")] == [0, 0, 0]


def test_pointwise_scores_with_known_answers():
    scores = pointwise_scores(FakeJudge(), [("q", "GOOD"), ("q", "bad")], "concise")
    assert scores[0] == pytest.approx(1 / (1 + np.exp(-3))) and scores[1] == pytest.approx(1 / (1 + np.exp(3)))


def test_pairwise_summary_by_hand():
    verdicts = [{"baseline": "base", "verdict": v} for v in (1, 1, 0, -1)]
    table = pairwise_summary(verdicts, ["base"])
    assert [table["base"][k][0] for k in ("win", "tie", "lose")] == [0.5, 0.25, 0.25]
    assert table["base"]["n"] == 4 and table["base"]["win"][1] <= 0.5 <= table["base"]["win"][2]


def test_pointwise_summary_by_hand():
    scores = []
    for qid, (base, amulet) in enumerate([(0.2, 0.9), (0.5, 0.5), (0.8, 0.1), (0.3, 0.6)]):
        scores.append({"id": str(qid), "method": "base", "judge_score": base})
        scores.append({"id": str(qid), "method": "amulet", "judge_score": amulet})
    summary = pointwise_summary(scores, ["base", "amulet"])
    assert summary["means"]["base"][0] == pytest.approx(0.45)
    assert summary["win_rates"]["base"][0] == pytest.approx(0.625)  # win, tie, loss, win


def make_tiny_reward_model(tmp_path):
    import torch
    from conftest import make_tiny_tokenizer
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tokenizer = make_tiny_tokenizer()
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, num_labels=2, pad_token_id=0, max_position_embeddings=256))
    folder = tmp_path / "rm"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model.eval(), tokenizer


def test_reward_model_scorer_on_a_tiny_random_model(tmp_path):
    import torch

    from accord.eval.reward_model import RewardModelScorer

    folder, model, tokenizer = make_tiny_reward_model(tmp_path)
    scorer = RewardModelScorer(folder, head=1)
    items = [("Name a fruit.", "An apple."), ("Name a fruit.", "A long answer about bananas and pears.")]
    scores = scorer.score(items, "Be concise.")
    for (question, answer), score in zip(items, scores):  # independent: the conversation by hand
        text = f"<|im_start|>user\n{question} Be concise.<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n"
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            assert score == pytest.approx(float(model(input_ids=ids).logits[0, 1]), abs=1e-5)
    assert scores[0] != pytest.approx(scores[1])
    with pytest.raises(AccordError, match="reward head"):
        RewardModelScorer(folder, head=5).score(items[:1], "x")
    with pytest.raises(AccordError, match="not found"):
        RewardModelScorer(tmp_path / "missing")


def test_contrasts_are_written_with_the_preference_and_its_opposite(tiny_lm, tmp_path):
    protocol, sampling = PROTOCOLS["paper"], SamplingConfig(max_new_tokens=5)
    store = ResultStore(tmp_path / "contrasts.jsonl")
    contrasts = judge_check.write_contrasts(tiny_lm, QUESTIONS[:2], ["concise", "formal"], protocol, sampling, store)
    assert [(c["preference"], c["id"]) for c in contrasts] == [("concise", "0"), ("concise", "1"),
                                                                ("formal", "0"), ("formal", "1")]
    expected = generate_answers(tiny_lm, [q["question"] for q in QUESTIONS[:2]],
                                protocol.method_config("pref", "casual and informal"), sampling)
    assert [c["opposes"] for c in contrasts[2:]] == [g.text for g in expected]
    # resumed: nothing is written again (no model is needed)
    again = judge_check.write_contrasts(None, QUESTIONS[:2], ["concise", "formal"], protocol, sampling, store)
    assert again == contrasts and len(store.records) == 4


def test_validation_with_known_judges():
    contrasts = [{"preference": p, "question": "q", "follows": f"GOOD {i}", "opposes": f"bad {i}"}
                 for i, p in enumerate(["concise", "concise", "formal"])]
    sentence = "Your answer should be as {} as possible.".format
    for reading in ("pairwise", "pointwise"):
        checks, outcomes = judge_check.validate(FakeJudge(), contrasts, reading, sentence)
        assert outcomes == [1.0, 1.0, 1.0] and checks[0].rate == 1.0 and checks[0].n == 3
        assert [c.check for c in checks] == ["preference-contrast", "preference-contrast:concise",
                                             "preference-contrast:formal"]
        _, wrong = judge_check.validate(FakeJudge(marker="bad"), contrasts, reading, sentence)
        assert wrong == [0.0, 0.0, 0.0]
    _, biased = judge_check.validate(FakeJudge(position_biased=True), contrasts, "pairwise", sentence)
    assert biased == [0.5, 0.5, 0.5]


def test_identical_answer_pairs_are_no_contrast():
    contrasts = [{"preference": "concise", "question": "q", "follows": "GOOD", "opposes": "bad"},
                 {"preference": "concise", "question": "q", "follows": "same ", "opposes": "same"}]
    checks, outcomes = judge_check.validate(FakeJudge(), contrasts, "pairwise", "Be {}.".format)
    assert outcomes == [1.0] and checks[0].n == 1
    with pytest.raises(AccordError, match="identical"):
        judge_check.validate(FakeJudge(), contrasts[1:], "pointwise", "Be {}.".format)


def test_writer_check_counts_shorter_concise_answers():
    contrasts = [{"preference": "concise", "tokens_follows": 3, "tokens_opposes": 9},
                 {"preference": "verbose", "tokens_follows": 4, "tokens_opposes": 8},
                 {"preference": "formal", "tokens_follows": 1, "tokens_opposes": 9}]
    assert judge_check.writer_check(contrasts) == {"concise_is_shorter": 0.5, "n": 2}


@pytest.mark.parametrize("reading", ["pairwise", "pointwise"])
def test_end_to_end_and_resume(tiny_lm, tmp_path, reading):
    folder, model, tokenizer = make_tiny_reward_model(tmp_path)
    from accord.eval.reward_model import RewardModelScorer

    loads = []

    def load(name):
        loads.append(name)
        return tiny_lm

    protocol = PROTOCOLS["paper"]
    config = PreferenceEvalConfig(preferences=("concise", "formal"), methods=("base", "bs", "amulet"), model="tiny",
                                  judge="tiny", reading=reading, reward_model=str(folder),
                                  sentences={p: f"Be {p}." for p in ("concise", "formal")})

    def make(method, preference):
        return protocol.method_config(method, preference, num_beams=2)

    def run():
        return run_preference_eval(QUESTIONS, config, make, SamplingConfig(max_new_tokens=5), tmp_path / "run",
                                   {"x": 1}, load, lambda: RewardModelScorer(folder))

    summary = run()
    # base is shared by both preferences: 3 + 2 x 2 x 3 answers
    assert len((tmp_path / "run" / "answers.jsonl").read_text().splitlines()) == 15
    judged = (tmp_path / "run" / "judgements.jsonl").read_text().splitlines()
    assert len(judged) == (2 * 3 * 2 if reading == "pairwise" else 2 * 3 * 3)
    row = summary["preferences"]["formal"]
    if reading == "pairwise":
        for baseline in ("base", "bs"):
            assert sum(row["pairwise"][baseline][k][0] for k in ("win", "tie", "lose")) == pytest.approx(1)
    else:
        assert set(row["pointwise"]["means"]) == {"base", "bs", "amulet"}
    assert set(row["reward"]) == {"base", "bs", "amulet"}
    assert (tmp_path / "run" / "summary.png").stat().st_size > 0
    assert "formal" in (tmp_path / "run" / "table.md").read_text()
    loads.clear()
    again = run()
    assert loads == [] and again["preferences"] == summary["preferences"]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["settings"] == {"x": 1}


def test_pairwise_judge_text_has_every_rule():
    for part in ("answers the question", "preference", "unnecessary or irrelevant", "most people", "A, B or Tie"):
        assert part in PAIRWISE.question


def test_pairwise_judge_through_an_openai_compatible_endpoint():
    """The same known-answer verdicts from a fake OpenAI-compatible server (completions API, top_logprobs)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from accord.lm import load_model

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["prompt"]
            first = prompt.split("Response A:")[1].split("Response B:")[0]
            second = prompt.split("Response B:")[1]
            best = "A" if "GOOD" in first else "B" if "GOOD" in second else "Tie"
            top = {token: (-0.1 if token == best else -4.0) for token in ("A", "B", "Tie")}
            body = json.dumps({"choices": [{"index": 0, "text": best, "logprobs": {
                "tokens": [best], "token_logprobs": [top[best]], "top_logprobs": [top]}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        judge = load_model(f"http://127.0.0.1:{httpd.server_address[1]}/v1#fake")
        items = [("q", "GOOD", "bad"), ("q", "bad", "GOOD"), ("q", "bad", "bad")]
        assert [v["verdict"] for v in pairwise_verdicts(judge, items, "Be good.")] == [1, -1, 0]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_pairwise_judge_phase_on_llamacpp_shares_each_question_s_head_with_the_same_verdicts(tmp_path):
    """One question's comparisons go to the judge together (the instructions, question and first response
    evaluated once; the second order reuses the first's head with keep_prefix): with a float32 cache the
    probabilities equal those of every prompt scored whole, and fewer tokens are evaluated."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    pytest.importorskip("gguf", reason="the gguf package is not installed")
    from test_llamacpp_keep_prefix import counting
    from test_loading import write_tiny_gguf

    from accord.eval.preferences import answer_key, judge_phase
    from accord.lm.base import normalize_choices
    from accord.lm.llamacpp import EXACT_CONTEXT, LlamaCppLM

    path = write_tiny_gguf(tmp_path / "tiny.gguf", context_length=4096)
    judge, fresh = (LlamaCppLM(path, n_ctx=4096, n_threads=1, context_overrides=EXACT_CONTEXT) for _ in range(2))
    config = PreferenceEvalConfig(preferences=("concise",), sentences={"concise": "Be concise."})
    answers = {answer_key("concise", method, q["id"]): {"answer": f"{method} says {q['question'][:5]} {i}"}
               for i, q in enumerate(QUESTIONS[:2]) for method in config.methods}
    evaluated = counting(judge)
    store = ResultStore(tmp_path / "judged.jsonl")

    class Bar:
        total = n = 0

        def refresh(self):
            pass

        def update(self, k):
            self.n += k

    judge_phase(judge, QUESTIONS[:2], config, answers, store, Bar())
    assert judge.keep_prefix is False and len(store.records) == 8
    prompts, whole_tokens = [], 0
    for record in store.records:
        q = QUESTIONS[int(record["id"])]["question"]
        ours, theirs = answers[answer_key("concise", "amulet", record["id"])]["answer"], \
            answers[answer_key("concise", record["baseline"], record["id"])]["answer"]
        for (first, second), key in (((ours, theirs), "probs_xy"), ((theirs, ours), "probs_yx")):
            prompt = fresh.chat_prompt(PAIRWISE.question.format(question=q, first=first, second=second,
                                                                preference="Be concise."), system=PAIRWISE.system)
            want = normalize_choices(fresh.choice_logprobs([prompt], list(PAIRWISE.choices)))[0]
            np.testing.assert_allclose(record[key], want, atol=1e-5)
            whole_tokens += len(fresh.tokenize(prompt))
    assert sum(evaluated) < 0.6 * whole_tokens


def test_two_shards_fill_one_folder_with_the_rows_of_one_process(tiny_lm, tmp_path):
    """--shard 1/2 and 2/2 (run here one after the other) write the answers and judgements of a single
    process, none twice; the first to finish returns None (no table yet), the last writes the table."""
    from dataclasses import replace

    protocol = PROTOCOLS["paper"]
    config = PreferenceEvalConfig(preferences=("concise",), methods=("base", "pref", "amulet"), model="tiny",
                                  judge="tiny", sentences={"concise": "Be concise."})

    def run(folder, shard):
        return run_preference_eval(QUESTIONS, replace(config, shard=shard),
                                   lambda method, preference: protocol.method_config(method, preference),
                                   SamplingConfig(max_new_tokens=5), tmp_path / folder, {"x": 1}, lambda name: tiny_lm)

    whole = run("one", (1, 1))
    assert run("two", (1, 2)) is None
    split = run("two", (2, 2))
    assert split["preferences"] == whole["preferences"]
    for name in ("answers.jsonl", "judgements.jsonl"):
        rows = [json.loads(line) for line in (tmp_path / "two" / name).read_text().splitlines()]
        want = [json.loads(line) for line in (tmp_path / "one" / name).read_text().splitlines()]
        assert len({r["key"] for r in rows}) == len(rows)
        assert sorted(rows, key=lambda r: r["key"]) == sorted(want, key=lambda r: r["key"])
    with pytest.raises(AccordError, match="shard"):
        run("three", (3, 2))
