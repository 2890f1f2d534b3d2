"""Behaviour tests: each one fails when the behaviour it names is wrong (checked by putting the bug in).

- MPO: one step on a fixed pair moves log π(y) - log π(y') the judge's way (both losses); the KL to the
  magnet is ~0 right after a refresh and not before; an unchanged policy's win rate is exactly ½, and the
  win rate compares the current policy with the initial one.
- Judges read the right answer token: the MPO pairwise judge and the consensus digit judge on cases whose
  answer is known.
- Reports: numbers against values computed by hand (bootstrap interval ends, the values report's
  scale and paired gap).
- The consensus one-shot example reaches the drafting prompt.
"""

import numpy as np
import pytest
import torch

from accord.stats import bootstrap_ci
from accord.train.mpo import MPOConfig, MPOTrainer, token_logprobs
from test_mpo import PROMPTS, tiny_model, tiny_tokenizer


# ---- MPO ---------------------------------------------------------------------------------------------

def trainer_on_a_fixed_pair(tmp_path, **settings):
    """A trainer whose every step sees the same two responses to one prompt, the judge preferring the first."""
    config = MPOConfig(steps=1, prompts_per_step=1, max_new_tokens=6, eval_every=0, checkpoint_every=0, **settings)
    trainer = MPOTrainer(tiny_model(), tiny_tokenizer(), PROMPTS[:1], lambda p, a, b: 0.5, config, out_dir=tmp_path)
    pair = trainer.generate(PROMPTS[:1])
    preferred, other = pair[0]
    assert preferred != other
    trainer.judge = lambda prompt, a, b: 1.0 if (a, b) == (preferred, other) else 0.0 if (a, b) == (other, preferred) else 0.5
    trainer.generate = lambda prompts, copies=2: pair
    return trainer, pair


def log_ratio(trainer, pair) -> float:
    _, ids, attention, response_mask = pair
    with torch.no_grad():
        seq = token_logprobs(trainer.model, ids, attention, response_mask).sum(1)
    return float(seq[0] - seq[1])


@pytest.mark.parametrize("settings", [dict(loss="reinforce", optimizer="sgd", learning_rate=0.05),
                                      dict(loss="reinforce", optimizer="adamw", learning_rate=1e-3),
                                      dict(loss="mirror", learning_rate=1e-3, inner_steps=3)])
def test_one_mpo_step_moves_the_log_ratio_the_judges_way(tmp_path, settings):
    trainer, pair = trainer_on_a_fixed_pair(tmp_path, **settings)
    before = log_ratio(trainer, pair)
    row = trainer.train_step()
    assert row["mean_p"] == 1.0
    assert log_ratio(trainer, pair) > before + 1e-3


def test_an_indifferent_judge_leaves_the_policy_at_the_magnet(tmp_path):
    """With P = ½ the advantages are 0, and at step 1 the policy is the magnet: the loss has no gradient."""
    trainer, pair = trainer_on_a_fixed_pair(tmp_path, loss="reinforce", optimizer="sgd", learning_rate=0.5)
    trainer.judge = lambda prompt, a, b: 0.5
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_step()
    moved = max(float((a - b).abs().max()) for a, b in zip(before, trainer.model.parameters()))
    assert moved < 1e-5  # rounding only (a real advantage moves the weights by ~1e-2 here)


def test_token_logprobs_are_the_response_tokens_log_probabilities(tmp_path):
    trainer, (_, ids, attention, response_mask) = trainer_on_a_fixed_pair(tmp_path)
    with torch.no_grad():
        values = token_logprobs(trainer.model, ids, attention, response_mask)
        logits = trainer.model(input_ids=ids, attention_mask=attention).logits.float()
    expected = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    inside = response_mask[:, 1:].bool()
    assert torch.equal(values[:, 0], torch.zeros(len(ids))) and (values[:, 1:][~inside] == 0).all()
    torch.testing.assert_close(values[:, 1:][inside], expected[inside])


def test_kl_to_the_magnet_is_zero_right_after_a_refresh(tmp_path):
    trainer, _ = trainer_on_a_fixed_pair(tmp_path, magnet_every=2, learning_rate=1e-2)
    rows = [trainer.train_step() for _ in range(3)]
    assert [r["magnet_refreshed"] for r in rows] == [False, True, False]
    # the KL is measured before each step's update: step 2 sees a magnet one update old, step 3 a fresh one
    assert rows[1]["kl_to_magnet"] > 1e-4 and rows[2]["kl_to_magnet"] == pytest.approx(0.0, abs=1e-7)
    never, _ = trainer_on_a_fixed_pair(tmp_path / "never", magnet_every=0, learning_rate=1e-2)
    assert [never.train_step() for _ in range(3)][2]["kl_to_magnet"] > 1e-4


def test_magnet_refresh_and_evaluation_keep_their_period(tmp_path):
    """Refresh every 2 steps and evaluate every 3, over 6 steps: every period, not only the first."""
    trainer, _ = trainer_on_a_fixed_pair(tmp_path, magnet_every=2, learning_rate=1e-2)
    trainer.config.eval_every = 3
    trainer.win_rate = lambda: 0.5
    rows = [trainer.train_step() for _ in range(6)]
    assert [r["magnet_refreshed"] for r in rows] == [False, True, False, True, False, True]
    assert ["win_rate_vs_initial" in r for r in rows] == [False, False, True, False, False, True]


def test_mpo_loss_is_the_mean_over_response_tokens_by_hand():
    """With the magnet equal to the policy the KL term is 0 and the loss is -sum(A_i log pi(token)) / tokens."""
    from accord.train.mpo import mpo_loss

    torch.manual_seed(0)
    logp = torch.log_softmax(torch.randn(2, 3, 5), dim=-1)
    input_ids = torch.tensor([[0, 1, 4, 2], [0, 3, 0, 1]])
    response_mask = torch.tensor([[0, 1, 1, 1], [0, 1, 1, 0]])
    advantages = torch.tensor([0.5, -2.0])
    loss, kl = mpo_loss(logp, logp, input_ids, response_mask, advantages, kl_coef=0.3)
    by_hand = -(0.5 * (logp[0, 0, 1] + logp[0, 1, 4] + logp[0, 2, 2]) - 2.0 * (logp[1, 0, 3] + logp[1, 1, 0])) / 5
    assert float(loss) == pytest.approx(float(by_hand), rel=1e-6)
    assert float(kl) == pytest.approx(0.0, abs=1e-7)


def test_win_rate_of_an_unchanged_policy_is_one_half(tmp_path):
    config = MPOConfig(steps=1, prompts_per_step=1, max_new_tokens=6, eval_prompts=6)
    judge = lambda prompt, a, b: 0.5 if a == b else float(len(a) > len(b))  # noqa: E731
    trainer = MPOTrainer(tiny_model(), tiny_tokenizer(), PROMPTS, judge, config, out_dir=tmp_path)
    assert trainer.win_rate() == 0.5


def test_win_rate_compares_the_current_policy_with_the_initial_one(tmp_path):
    seen = []

    def recording_judge(prompt, a, b):
        seen.append((a, b))
        return 0.5

    config = MPOConfig(steps=1, prompts_per_step=1, max_new_tokens=6, eval_prompts=4)
    trainer = MPOTrainer(tiny_model(), tiny_tokenizer(), PROMPTS, recording_judge, config, out_dir=tmp_path)
    with torch.no_grad():
        for parameter in trainer.model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)  # the policy moved away from the initial one
    state = trainer.generator.get_state()
    trainer.win_rate()
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(4)]
    trainer.generator.set_state(state)
    current = trainer.generate(prompts, copies=1)[0]
    trainer.generator.set_state(state)
    with trainer.initial:
        initial = trainer.generate(prompts, copies=1)[0]
    assert current != initial
    assert seen == list(zip(current, initial))


# ---- judges read the right token ------------------------------------------------------------------------

class ScriptedJudgeLM:
    """A judge model that knows the answers: for a pairwise question it puts 0.9 on the letter of the
    response that says "Paris"; for a digit rating it puts 0.8 on the digit written after "rate:"."""

    name, backend = "scripted", "test"

    def chat_prompt(self, user, system=None):
        return f"{system or ''}\n{user}"

    def choice_logprobs(self, prompts, choices, prefix=""):
        rows = []
        for text in (prefix + p for p in prompts):
            probs = np.full(len(choices), 0.1 / (len(choices) - 1))
            if choices == ["A", "B"]:
                probs[0 if "Response A: Paris" in text else 1] = 0.9
            else:
                probs[choices.index(text.split("rate:")[1].strip()[0])] = 0.8
                probs /= probs.sum()
            rows.append(np.log(probs))
        return np.array(rows)


def test_pairwise_judge_prefers_the_known_right_answer():
    from accord.train.judges import LMJudge

    judge = LMJudge(ScriptedJudgeLM())
    assert judge("The capital of France?", "Paris", "Lyon") == pytest.approx(0.9)
    assert judge("The capital of France?", "Lyon", "Paris") == pytest.approx(0.1)


def test_consensus_judge_reads_the_digit_the_model_gives():
    from accord.consensus.data import SAMPLE_DIR, load_tasks
    from accord.consensus.judge import judge_resolution

    task = load_tasks(SAMPLE_DIR, 2)[0]
    for digit in (2, 7):
        votes, _ = judge_resolution(ScriptedJudgeLM(), task, f"A resolution. rate: {digit}")
        assert [v.score for v in votes] == [digit, digit]
        probs = np.full(10, 0.1 / 9)
        probs[digit] = 0.8
        probs /= probs.sum()
        assert votes[0].expected == pytest.approx(float(probs @ np.arange(10)))


# ---- reports against hand-computed values -------------------------------------------------------------

def test_bootstrap_interval_known_answer():
    # nine 0s and one 100: a resample's mean is 10 x Binomial(10, 0.1); P(X = 0) = 0.35 > 2.5 %, and the
    # 97.5 % quantile of X is 3 (P(X <= 2) = 0.930, P(X <= 3) = 0.987): the interval is [0, 30]
    assert bootstrap_ci([0] * 9 + [100], seed=0) == (10.0, 0.0, 30.0)
    mean, low, high = bootstrap_ci([0, 1], level=0.95, seed=3)  # resample means 0, 0.5, 1 w.p. 1/4, 1/2, 1/4
    assert (mean, low, high) == (0.5, 0.0, 1.0)
    assert all(np.isnan(bootstrap_ci([])))


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_bootstrap_interval_is_the_percentile_interval_of_resampled_means(level):
    values = np.arange(20.0) ** 2
    draws = np.random.default_rng(1).integers(0, 20, size=(500, 20))  # the resamples bootstrap_ci draws
    means = np.sort(values[draws].mean(axis=1))
    tail = (1 - level) / 2
    expected = (np.quantile(means, tail), np.quantile(means, 1 - tail))
    assert bootstrap_ci(values, resamples=500, level=level, seed=1)[1:] == pytest.approx(expected)
    median = bootstrap_ci(values, statistic=np.median, resamples=500, level=level, seed=1)
    assert median[0] == np.median(values) and median[1:] == pytest.approx(
        np.quantile(np.median(values[draws], axis=1), [tail, 1 - tail]))


def test_values_report_numbers_by_hand():
    from accord.values.report import PARTS, summarize, summarize_records

    def record(answer, pred, why, confidence):
        return {"answer": answer, "pred": pred, "correct": answer == pred, "why": why, "confidence": confidence,
                "why_argmax": {p: why for p in PARTS}, "why_expected": {p: why for p in PARTS}}

    records = [record("A", "A", 5.0, 0.9), record("B", "A", 2.5, 0.6), record("C", "C", 0.0, 0.8),
               record("A", "B", 5.0, 0.7)]
    summary = summarize_records(records, resamples=200)
    assert summary["know_what"] == 0.5
    assert summary["know_why"] == pytest.approx((1 + 0.5 + 0 + 1) / 4)  # scores / 5
    assert summary["gap"] == pytest.approx(((1 - 1) + (0.5 - 0) + (0 - 1) + (1 - 0)) / 4)  # paired, per item
    assert summary["answers"] == {"A": 2, "B": 1, "C": 1}
    assert summary["know_why_argmax"] == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    for r, value in zip(records, ["b", "a", "b", "c"]):
        r["value"] = value
    per_value = summarize(records)["values"]
    assert {name: s["n"] for name, s in per_value.items()} == {"b": 2, "a": 1, "c": 1}
    assert per_value["b"]["know_what"] == 1.0 and per_value["a"]["know_what"] == 0.0
    for key in ("know_what_ci", "know_why_ci", "gap_ci"):
        low, high = summary[key]
        assert low <= high


def test_consensus_summary_by_hand():
    from accord.consensus.report import summarize

    records = [{"goal": "veto", "parties": 2, "topic": "t", "value": v, "expected_value": e, "usable": True}
               for v, e in ((1.0, 0.8), (0.0, 0.4), (1.0, 0.9), (1.0, 0.7))]
    records.insert(1, {"goal": "veto", "parties": 2, "topic": "t", "value": 0.0, "usable": False})
    row = next(r for r in summarize(records) if r["topic"] == "all topics")
    assert row["n"] == 4 and row["mean"] == 0.75 and row["other"] == pytest.approx(0.7)
    assert (row["low"], row["high"]) == bootstrap_ci([1.0, 0.0, 1.0, 1.0], seed=0)[1:] and row["low"] < row["high"]


def test_seat_favour_by_hand():
    from accord.consensus.report import _pearson, seat_favour

    assert _pearson(np.array([1.0, 2.0]), np.array([3.0, 5.0])) is None  # two points always correlate fully
    assert _pearson(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0])) == pytest.approx(
        np.corrcoef([1, 2, 3], [2, 4, 7])[0, 1])
    records = [{"usable": True, "votes": [{"seat_weight": w, "score": s} for w, s in zip(weights, scores)]}
               for weights, scores in (([0.7, 0.3], [8, 2]), ([0.4, 0.6], [3, 7]), ([0.2, 0.8], [4, 6]))]
    favour = seat_favour(records, resamples=200)
    weights = [0.7, 0.3, 0.4, 0.6, 0.2, 0.8]
    assert favour["r"] == pytest.approx(np.corrcoef(weights, [8, 2, 3, 7, 4, 6])[0, 1])
    assert favour["low"] is not None and favour["low"] <= favour["r"] <= favour["high"]
    assert favour["largest_gap"] == pytest.approx(((8 - 2) + (7 - 3) + (6 - 4)) / 3) and favour["n"] == 3

    # a resolution whose two largest parties tie has no single largest party: left out of the gap
    tied = records + [{"usable": True, "votes": [{"seat_weight": 0.5, "score": 9}, {"seat_weight": 0.5, "score": 1}]}]
    assert seat_favour(tied, resamples=50)["largest_gap"] == pytest.approx(((8 - 2) + (7 - 3) + (6 - 4)) / 3)
    # one resolution: a correlation but no interval (nothing to resample over)
    single = [{"usable": True, "votes": [{"seat_weight": w, "score": s} for w, s in ((0.5, 7), (0.3, 5), (0.2, 2))]}]
    alone = seat_favour(single, resamples=50)
    assert alone["r"] is not None and alone["low"] is None and alone["high"] is None
    # the resampling draws every resolution: with one anti-correlated record the interval reaches below 0
    mixed = single + [{"usable": True, "votes": [{"seat_weight": w, "score": s}
                                                 for w, s in ((0.5, 1), (0.3, 5), (0.2, 9))]}]
    both = seat_favour(mixed, resamples=200)
    assert both["low"] < 0 < both["high"]



def test_consensus_summary_row_order():
    """Rows follow the goals' order, then party count, then the all-topics row before the topics A-Z."""
    from accord.consensus.goals import GOALS
    from accord.consensus.report import ALL, summarize

    records = [{"usable": True, "goal": goal, "parties": parties, "topic": topic, "value": 1.0}
               for goal in reversed(GOALS[:2]) for parties in (4, 2) for topic in ("zoo", "art")]
    keys = [(row["goal"], row["parties"], row["topic"]) for row in summarize(records)]
    expected = [(goal, parties, topic) for goal in GOALS[:2] for parties in (2, 4) for topic in (ALL, "art", "zoo")]
    assert keys == expected


def test_seat_favour_interval_is_the_95_percentile_interval_of_resampled_resolutions():
    """An independent resampling with the same seed: the interval is the 2.5th and 97.5th percentiles."""
    from accord.consensus.report import seat_favour

    rng = np.random.default_rng(3)
    records = [{"usable": True, "votes": [{"seat_weight": float(w), "score": float(s)}
                                          for w, s in zip(rng.dirichlet([1, 1, 1]), rng.integers(0, 10, 3))]}
               for _ in range(12)]
    favour = seat_favour(records, resamples=300, seed=0)
    weights = [np.array([v["seat_weight"] for v in r["votes"]]) for r in records]
    scores = [np.array([v["score"] for v in r["votes"]]) for r in records]
    draw_rng = np.random.default_rng(0)
    draws = []
    for _ in range(300):
        rows = draw_rng.integers(0, len(records), len(records))
        x, y = np.concatenate([weights[i] for i in rows]), np.concatenate([scores[i] for i in rows])
        if x.std() > 0 and y.std() > 0:
            draws.append(np.corrcoef(x, y)[0, 1])
    assert (favour["low"], favour["high"]) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])), abs=1e-9)


# ---- the one-shot example reaches the prompt -----------------------------------------------------------

class RecordingLM:
    """Wraps a model and keeps every prompt it is asked to continue."""

    def __init__(self, lm):
        self.lm, self.prompts = lm, []
        self.name, self.backend, self.source = lm.name, lm.backend, ""

    def __getattr__(self, name):
        return getattr(self.lm, name)

    def generate(self, prompts, sampling, on_token=None):
        self.prompts.extend(prompts)
        return self.lm.generate(prompts, sampling, on_token)


def test_one_shot_example_reaches_the_drafting_prompt(tiny_lm, tmp_path):
    from accord.consensus.run import RunConfig, run_consensus
    from test_sampling import FlatJudge, write_small_eurocon

    root = write_small_eurocon(tmp_path / "eurocon")
    drafter = RecordingLM(tiny_lm)
    config = RunConfig(data=str(root), parties=[2], goals=["veto"], method="base", model="tiny", max_new_tokens=2,
                       one_shot=True, limit=3)
    store = run_consensus(config, tmp_path / "run", drafter, judge=FlatJudge(), progress=False)
    assert len(drafter.prompts) == len(store.records) == 3
    by_title = {r["title"]: r for r in store.records}
    for prompt in drafter.prompts:
        title = next(t for t in by_title if f"{t}\n" in prompt or f"{t}." in prompt or t in prompt)
        own = by_title[title]
        example = own["example_id"]
        assert example is not None and str(example) != str(own["id"])
        assert f"Resolved {example}x." in prompt and f"Resolved {own['id']}x." not in prompt


# ---- run stores ----------------------------------------------------------------------------------------

def test_result_store_drops_a_crashed_tail_and_refuses_a_corrupt_middle(tmp_path):
    from accord.errors import AccordError
    from accord.runs import ResultStore

    path = tmp_path / "results.jsonl"
    path.write_text('{"key": "a"}\n{"key": "b"}\n{"key": "c", "val')  # cut mid-line by a crash
    assert [r["key"] for r in ResultStore(path).records] == ["a", "b"]
    assert path.read_text() == '{"key": "a"}\n{"key": "b"}\n'  # the cut line is gone from the file too
    path.write_text('{"key": "a"}\n{"key": \n')  # a complete but garbled last line: also a crash tail
    assert ResultStore(path).done == {"a"} and path.read_text() == '{"key": "a"}\n'
    path.write_text('{"key": "a"}\nnot json\n{"key": "c"}\n')
    with pytest.raises(AccordError, match="corrupt line 2"):
        ResultStore(path)


def test_data_hash_covers_every_file(tmp_path):
    from accord.runs import sha256_files

    files = [tmp_path / "a.json", tmp_path / "b.json"]
    for f in files:
        f.write_text("[]")
    before = sha256_files(files)
    files[1].write_text("[1]")
    assert sha256_files(files) != before and sha256_files(files[::-1]) == sha256_files(files)
