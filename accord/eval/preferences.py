"""Does a decoding method make the answers follow the user's preference? An LM-judge evaluation.

For each question of a question set (e.g. the Amulet paper's HelpSteer questions) every method answers;
a local judge model then reads (question, answer) and is asked "Does this answer follow the preference
'<p>' while answering the question?". The score is the judge's P("Yes") / (P("Yes") + P("No")), read by
constrained choice from its next-token distribution (never parsed from text). Answer length in tokens is
kept as a cheap proxy (lower is better for "concise", higher for "verbose").

Reported: mean score per method with bootstrap 95% intervals, Amulet's pairwise win rate against each
other method (per question, win = 1, tie = 1/2) with bootstrap intervals, a table and a PNG plot.

    accord eval preferences --data ../shared/data/amulet/HelpSteer_train.json --limit 50 \
        --preference concise --methods base,pref,la,amulet --judge qwen2.5-coder-1.5b --out runs/eval-concise

Phases (each resumable; results are appended as they finish): generate -> judge -> summarize.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accord.errors import AccordError
from accord.stats import bootstrap_ci

JUDGE_QUESTION = ("Here is a question and an answer.\n\nQuestion: {question}\n\nAnswer: {answer}\n\n"
                  "Does this answer follow the preference '{preference}' while answering the question? "
                  "Reply with Yes or No.")
JUDGE_CHOICES = ["Yes", "No"]
LENGTH_DIRECTION = {"concise": -1, "brief": -1, "short": -1, "verbose": 1, "detailed": 1, "elaborate": 1}


@dataclass
class PreferenceEvalConfig:
    preference: str
    """The preference every method is asked to follow (e.g. "concise")."""
    methods: tuple[str, ...] = ("base", "pref", "la", "amulet")
    """Methods to compare; win rates are reported for the last one against the others."""
    model: str = "qwen2.5-coder-0.5b"
    """Generator model."""
    judge: str = "qwen2.5-coder-1.5b"
    """Judge model (any model of the model layer)."""
    limit: int = 50
    """Number of questions (the first ones of the file)."""
    batch_size: int = 4
    """Questions decoded together."""


def judge_prompt(judge_lm, question: str, answer: str, preference: str) -> str:
    return judge_lm.chat_prompt(JUDGE_QUESTION.format(question=question, answer=answer.strip() or "(empty)",
                                                      preference=preference))


def judge_scores(judge_lm, items: list[dict], preference: str) -> list[float]:
    """P(Yes) / (P(Yes) + P(No)) of the judge for each {question, answer}."""
    from accord.lm.base import normalize_choices

    prompts = [judge_prompt(judge_lm, item["question"], item["answer"], preference) for item in items]
    return normalize_choices(judge_lm.choice_logprobs(prompts, JUDGE_CHOICES))[:, 0].tolist()


def generate_phase(lm, questions, method_configs, sampling, store, batch_size: int, progress) -> None:
    from accord.decoding.methods import generate_answers

    for config in method_configs:
        todo = [q for q in questions if f"{config.method}:{q['id']}" not in store.done]
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            for item, generation in zip(chunk, generate_answers(lm, [q["question"] for q in chunk], config, sampling)):
                store.append({"key": f"{config.method}:{item['id']}", "id": item["id"], "method": config.method,
                              "question": item["question"], "answer": generation.text,
                              "num_tokens": generation.num_tokens, "finish_reason": generation.finish_reason})
            progress.update(len(chunk))


def judge_phase(judge_lm, answers: list[dict], preference: str, store, batch_size: int, progress) -> None:
    todo = [a for a in answers if a["key"] not in store.done]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        for item, score in zip(chunk, judge_scores(judge_lm, chunk, preference)):
            store.append({"key": item["key"], "id": item["id"], "method": item["method"], "judge_score": score,
                          "num_tokens": item["num_tokens"]})
        progress.update(len(chunk))


def summarize(scores: list[dict], methods: list[str], preference: str, seed: int = 0) -> dict:
    """Mean judge score and length per method, and the last method's win rates against the others."""
    by_method = {m: {s["id"]: s for s in scores if s["method"] == m} for m in methods}
    common = sorted(set.intersection(*(set(v) for v in by_method.values())))
    if not common:
        raise AccordError("no question has scores for every method yet")
    summary = {"preference": preference, "questions": len(common), "methods": {}, "win_rates": {}}
    for method in methods:
        judge = [by_method[method][i]["judge_score"] for i in common]
        length = [by_method[method][i]["num_tokens"] for i in common]
        mean, low, high = bootstrap_ci(judge, seed=seed)
        summary["methods"][method] = {"judge_mean": mean, "judge_ci": [low, high],
                                      "tokens_mean": float(np.mean(length))}
    challenger = methods[-1]
    for baseline in methods[:-1]:
        outcomes = []
        for i in common:
            a, b = by_method[challenger][i]["judge_score"], by_method[baseline][i]["judge_score"]
            outcomes.append(1.0 if a > b + 1e-9 else 0.5 if abs(a - b) <= 1e-9 else 0.0)
        rate, low, high = bootstrap_ci(outcomes, seed=seed)
        summary["win_rates"][f"{challenger} vs {baseline}"] = {"rate": rate, "ci": [low, high]}
    return summary


def format_table(summary: dict) -> str:
    direction = LENGTH_DIRECTION.get(summary["preference"].strip().lower())
    hint = " (lower = more concise)" if direction == -1 else " (higher = more verbose)" if direction == 1 else ""
    lines = [f"preference: {summary['preference']}   questions: {summary['questions']}", "",
             f"| method | judge score (95% CI) | mean tokens{hint} |", "|---|---|---|"]
    for method, row in summary["methods"].items():
        low, high = row["judge_ci"]
        lines.append(f"| {method} | {row['judge_mean']:.3f} ({low:.3f}-{high:.3f}) | {row['tokens_mean']:.1f} |")
    lines += ["", "| pairwise | win rate (95% CI) |", "|---|---|"]
    for pair, row in summary["win_rates"].items():
        lines.append(f"| {pair} | {row['rate']:.3f} ({row['ci'][0]:.3f}-{row['ci'][1]:.3f}) |")
    return "\n".join(lines)


def plot_summary(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(summary["methods"])
    means = [summary["methods"][m]["judge_mean"] for m in methods]
    errors = np.array([[m - summary["methods"][k]["judge_ci"][0], summary["methods"][k]["judge_ci"][1] - m]
                       for k, m in zip(methods, means)]).T
    tokens = [summary["methods"][m]["tokens_mean"] for m in methods]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.bar(methods, means, yerr=errors, capsize=4, color="#4c72b0")
    left.set_ylim(0, 1)
    left.set_ylabel("judge P(follows preference)")
    left.set_title(f"'{summary['preference']}': judge score (95% CI)")
    right.bar(methods, tokens, color="#dd8452")
    right.set_ylabel("mean answer length (tokens)")
    right.set_title(f"{summary['questions']} questions")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_preference_eval(questions, config: PreferenceEvalConfig, method_configs, sampling, out: Path,
                        settings: dict, load) -> dict:
    """All three phases. `load(name)` returns a model-layer object (so tests can pass tiny models)."""
    from tqdm import tqdm

    from accord.runs import ResultStore, write_run_metadata

    write_run_metadata(out, settings)
    answers = ResultStore(out / "answers.jsonl")
    total = len(questions) * len(method_configs)
    if len(answers.done) < total:
        with tqdm(total=total, initial=len(answers.done), desc="generate", unit="answer") as progress:
            lm = load(config.model)
            generate_phase(lm, questions, method_configs, sampling, answers, config.batch_size, progress)
            del lm
            gc.collect()
    scores = ResultStore(out / "scores.jsonl")
    if len(scores.done) < len(answers.records):
        with tqdm(total=len(answers.records), initial=len(scores.done), desc="judge", unit="answer") as progress:
            judge_lm = load(config.judge)
            judge_phase(judge_lm, answers.records, config.preference, scores, config.batch_size, progress)
            del judge_lm
            gc.collect()
    summary = summarize(scores.records, [c.method for c in method_configs], config.preference)
    summary["settings"] = settings
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    table = format_table(summary)
    (out / "table.md").write_text(table + "\n")
    plot_summary(summary, out / "summary.png")
    return summary
