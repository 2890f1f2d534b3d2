"""Does a decoding method make the answers follow the user's preference? The Amulet paper's evaluation
(arXiv 2502.19148, section 5): every method answers each question of a question set (e.g. the paper's
HelpSteer questions) under each preference, then

- pairwise (the paper's main table, protocol "paper"): a judge compares Amulet's answer with each
  baseline's answer, in both orders (accord.eval.judges), giving win / tie / lose per baseline and
  preference, with bootstrap 95% intervals of each share;
- pointwise (protocol "accord"): a judge's P(Yes) that the answer follows the preference, its mean per
  method and Amulet's per-question win rate against each baseline;
- optionally a local sequence-classification reward model's mean score per method (accord.eval.reward_model);
- always the mean answer length in tokens (a cheap proxy for concise / verbose).

    accord eval preferences --data ../shared/data/amulet/HelpSteer_train.json --limit 30 \\
        --preference concise --preference verbose --judge qwen2.5-coder-1.5b --out runs/eval

Phases (each resumable; results are appended as they finish): generate -> judge -> reward -> summarize.
The base answer does not depend on the preference and is generated once per question.
"""

from __future__ import annotations

import contextlib
import gc
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accord.errors import AccordError
from accord.stats import bootstrap_ci

LENGTH_DIRECTION = {"concise": -1, "brief": -1, "short": -1, "verbose": 1, "detailed": 1, "elaborate": 1}


@dataclass
class PreferenceEvalConfig:
    preferences: tuple[str, ...]
    """The preferences every method is asked to follow, one after the other (e.g. ("concise", "formal"))."""
    methods: tuple[str, ...] = ("base", "pref", "bs", "la", "amulet")
    """Methods to compare; the last one (Amulet) is compared with each of the others."""
    model: str = "qwen2.5-coder-0.5b"
    """Generator model."""
    judge: str = "qwen2.5-coder-1.5b"
    """Judge model (any model of the model layer, an OpenAI-compatible endpoint included)."""
    reading: str = "pairwise"
    """"pairwise" (win/tie/lose over both orders) or "pointwise" (P(Yes))."""
    reward_model: str | None = None
    """Folder of a local sequence-classification reward model (optional third metric)."""
    reward_head: int = 0
    """Which output of the reward model is the score."""
    batch_size: int = 4
    """Questions decoded together (and judged together by the pointwise judge; the pairwise judge takes one
    question's comparisons per call)."""
    sentences: dict = field(default_factory=dict)
    """The preference sentence shown to the pairwise judge and the reward model, per preference."""
    shard: tuple[int, int] = (1, 1)
    """(K, N): this process generates and judges every N-th question from the K-th, so N processes (one per
    core) fill one run folder together; not a setting of the results."""


def answer_key(preference: str, method: str, question_id: str) -> str:
    return f"{'*' if method == 'base' else preference}:{method}:{question_id}"


def generate_phase(lm, questions, config: PreferenceEvalConfig, make_config, sampling, store, progress) -> None:
    from accord.decoding.methods import generate_answers

    for preference in config.preferences:
        for method in config.methods:
            method_config = make_config(method, preference)
            todo = [q for q in questions if answer_key(preference, method, q["id"]) not in store.done]
            for start in range(0, len(todo), config.batch_size):
                chunk = todo[start:start + config.batch_size]
                generations = generate_answers(lm, [q["question"] for q in chunk], method_config, sampling)
                for item, generation in zip(chunk, generations):
                    store.append({"key": answer_key(preference, method, item["id"]), "id": item["id"],
                                  "method": method, "preference": preference if method != "base" else "*",
                                  "question": item["question"], "answer": generation.text,
                                  "num_tokens": generation.num_tokens, "finish_reason": generation.finish_reason})
                progress.update(len(chunk))


def answer_keys(questions, config: PreferenceEvalConfig) -> list[str]:
    """The keys of every answer the generation phase writes for these questions."""
    return ([answer_key("*", "base", q["id"]) for q in questions] if "base" in config.methods else []) + [
        answer_key(p, m, q["id"]) for p in config.preferences for m in config.methods if m != "base"
        for q in questions]


def judgement_keys(questions, config: PreferenceEvalConfig) -> list[str]:
    """The keys of every judgement: pairwise, Amulet (the last method) against each other method per question;
    pointwise, every answer."""
    if config.reading == "pairwise":
        return [f"{p}:{config.methods[-1]}>{b}:{q['id']}" for p in config.preferences for q in questions
                for b in config.methods[:-1]]
    return [f"{p}:{m}:{q['id']}" for p in config.preferences for q in questions for m in config.methods]


def judge_phase(judge_lm, questions, config: PreferenceEvalConfig, answers: dict, store, progress) -> None:
    """Pairwise: Amulet against each baseline per question (both orders), one question's comparisons per call
    so that the judge evaluates their common prompt head once; pointwise: every answer, batch_size at a time."""
    from accord.eval.judges import pairwise_verdicts, pointwise_scores
    from accord.lm.base import keeping_prefix

    challenger = config.methods[-1]
    jobs = []  # (key, preference, record fields, judge input)
    for preference in config.preferences:
        for q in questions:
            if config.reading == "pairwise":
                ours = answers[answer_key(preference, challenger, q["id"])]["answer"]
                for baseline in config.methods[:-1]:
                    theirs = answers[answer_key(preference, baseline, q["id"])]["answer"]
                    jobs.append((f"{preference}:{challenger}>{baseline}:{q['id']}", preference,
                                 {"baseline": baseline}, (q["question"], ours, theirs)))
            else:
                for method in config.methods:
                    jobs.append((f"{preference}:{method}:{q['id']}", preference, {"method": method},
                                 (q["question"], answers[answer_key(preference, method, q["id"])]["answer"])))
    todo = [job for job in jobs if job[0] not in store.done]
    progress.total, progress.n = len(jobs), len(jobs) - len(todo)
    progress.refresh()
    chunks = []
    for preference in config.preferences:
        mine = [job for job in todo if job[1] == preference]
        if config.reading == "pairwise":  # one question's comparisons together: they share the judge prompt's head
            by_question: dict[str, list] = {}
            for job in mine:
                by_question.setdefault(job[0].rsplit(":", 1)[1], []).append(job)
            chunks += list(by_question.values())
        else:
            chunks += [mine[start:start + config.batch_size] for start in range(0, len(mine), config.batch_size)]
    # pairwise on llama.cpp: the second order reuses the first order's head
    with keeping_prefix(judge_lm) if config.reading == "pairwise" else contextlib.nullcontext():
        for chunk in chunks:
            preference = chunk[0][1]
            inputs = [job[3] for job in chunk]
            if config.reading == "pairwise":
                results = pairwise_verdicts(judge_lm, inputs, config.sentences[preference])
            else:
                results = [{"judge_score": s} for s in pointwise_scores(judge_lm, inputs, preference)]
            for (key, _, fields, _), result in zip(chunk, results):
                store.append({"key": key, "preference": preference, "id": key.rsplit(":", 1)[1], **fields, **result})
            progress.update(len(chunk))


def reward_phase(scorer, questions, config: PreferenceEvalConfig, answers: dict, store, progress) -> None:
    for preference in config.preferences:
        for method in config.methods:
            todo = [q for q in questions if f"{preference}:{method}:{q['id']}" not in store.done]
            for start in range(0, len(todo), config.batch_size):
                chunk = todo[start:start + config.batch_size]
                items = [(q["question"], answers[answer_key(preference, method, q["id"])]["answer"]) for q in chunk]
                for q, reward in zip(chunk, scorer.score(items, config.sentences[preference])):
                    store.append({"key": f"{preference}:{method}:{q['id']}", "preference": preference,
                                  "method": method, "id": q["id"], "reward": reward})
                progress.update(len(chunk))


def share_with_interval(indicators, seed: int = 0) -> list[float]:
    return list(bootstrap_ci(indicators, seed=seed))


def pairwise_summary(verdicts: list[dict], baselines: list[str], seed: int = 0) -> dict:
    """{baseline: {"win"|"tie"|"lose": [share, low, high], "n": questions}} from per-question verdicts."""
    table = {}
    for baseline in baselines:
        values = np.array([v["verdict"] for v in verdicts if v["baseline"] == baseline])
        if values.size == 0:
            raise AccordError(f"no judged pair for baseline {baseline!r} yet")
        table[baseline] = {name: share_with_interval(values == sign, seed)
                           for name, sign in (("win", 1), ("tie", 0), ("lose", -1))}
        table[baseline]["n"] = int(values.size)
    return table


def pointwise_summary(scores: list[dict], methods: list[str], seed: int = 0) -> dict:
    """Mean judge score per method with intervals, and the last method's per-question win rate (a tie
    counts one half) against each of the others."""
    by_method = {m: {s["id"]: s["judge_score"] for s in scores if s["method"] == m} for m in methods}
    common = sorted(set.intersection(*(set(v) for v in by_method.values())))
    if not common:
        raise AccordError("no question has scores for every method yet")
    summary = {"means": {m: share_with_interval([by_method[m][i] for i in common], seed) for m in methods},
               "win_rates": {}}
    for baseline in methods[:-1]:
        outcomes = [1.0 if a > b + 1e-9 else 0.5 if abs(a - b) <= 1e-9 else 0.0
                    for a, b in ((by_method[methods[-1]][i], by_method[baseline][i]) for i in common)]
        summary["win_rates"][baseline] = share_with_interval(outcomes, seed)
    return summary


def summarize(config: PreferenceEvalConfig, answers: dict, judged: list[dict], rewards: list[dict],
              questions: list[dict]) -> dict:
    methods = list(config.methods)
    summary = {"reading": config.reading, "questions": len(questions), "challenger": methods[-1], "preferences": {}}
    for preference in config.preferences:
        row: dict = {"tokens": {m: float(np.mean([answers[answer_key(preference, m, q["id"])]["num_tokens"]
                                                  for q in questions])) for m in methods}}
        mine = [j for j in judged if j["preference"] == preference]
        if config.reading == "pairwise":
            row["pairwise"] = pairwise_summary(mine, methods[:-1])
        else:
            row["pointwise"] = pointwise_summary(mine, methods)
        if rewards:
            row["reward"] = {m: share_with_interval([r["reward"] for r in rewards
                                                     if r["preference"] == preference and r["method"] == m])
                             for m in methods}
        summary["preferences"][preference] = row
    return summary


def _percent(cell) -> str:
    return f"{100 * cell[0]:.0f}"


def format_table(summary: dict) -> str:
    challenger = summary["challenger"]
    lines = [f"{summary['questions']} questions per preference; {summary['reading']} judge", ""]
    first = next(iter(summary["preferences"].values()))
    methods = list(first["tokens"])
    baselines = methods[:-1]
    if summary["reading"] == "pairwise":
        lines += [f"{challenger} against each baseline: win / tie / lose % (both orders; 95% CI of the win share)", "",
                  "| preference | " + " | ".join(f"vs {b}" for b in baselines) + " |",
                  "|---|" + "---|" * len(baselines)]
        for preference, row in summary["preferences"].items():
            cells = [f"{_percent(c['win'])} / {_percent(c['tie'])} / {_percent(c['lose'])} "
                     f"[{_percent([c['win'][1]])}-{_percent([c['win'][2]])}]"
                     for c in (row["pairwise"][b] for b in baselines)]
            lines.append(f"| {preference} | " + " | ".join(cells) + " |")
    else:
        lines += ["mean judge P(follows) per method (95% CI); last column: "
                  f"{challenger}'s win rate against base", "",
                  "| preference | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for preference, row in summary["preferences"].items():
            means = row["pointwise"]["means"]
            lines.append(f"| {preference} | " + " | ".join(
                f"{means[m][0]:.3f} ({means[m][1]:.3f}-{means[m][2]:.3f})" for m in methods) + " |")
        lines += ["", f"{challenger}'s per-question win rate (tie = 1/2; 95% CI)", "",
                  "| preference | " + " | ".join(f"vs {b}" for b in baselines) + " |",
                  "|---|" + "---|" * len(baselines)]
        for preference, row in summary["preferences"].items():
            rates = row["pointwise"]["win_rates"]
            lines.append(f"| {preference} | " + " | ".join(
                f"{rates[b][0]:.2f} ({rates[b][1]:.2f}-{rates[b][2]:.2f})" for b in baselines) + " |")
    lines += ["", "mean answer length in tokens", "", "| preference | " + " | ".join(methods) + " |",
              "|---|" + "---|" * len(methods)]
    for preference, row in summary["preferences"].items():
        lines.append(f"| {preference} | " + " | ".join(f"{row['tokens'][m]:.1f}" for m in methods) + " |")
    if "reward" in first:
        lines += ["", "mean reward-model score (95% CI)", "", "| preference | " + " | ".join(methods) + " |",
                  "|---|" + "---|" * len(methods)]
        for preference, row in summary["preferences"].items():
            lines.append(f"| {preference} | " + " | ".join(
                f"{row['reward'][m][0]:.3f} ({row['reward'][m][1]:.3f}-{row['reward'][m][2]:.3f})"
                for m in methods) + " |")
    return "\n".join(lines)


def plot_summary(summary: dict, path: Path) -> None:
    """Pairwise: stacked win/tie/lose bars per preference and baseline; pointwise: mean scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    preferences = list(summary["preferences"])
    fig, axes = plt.subplots(1, len(preferences), figsize=(3.2 * len(preferences), 3.4), squeeze=False)
    for ax, preference in zip(axes[0], preferences):
        row = summary["preferences"][preference]
        if summary["reading"] == "pairwise":
            baselines = list(row["pairwise"])
            bottom = np.zeros(len(baselines))
            for name, color in (("win", "#55a868"), ("tie", "#cccccc"), ("lose", "#c44e52")):
                values = np.array([row["pairwise"][b][name][0] for b in baselines])
                ax.bar(baselines, values, bottom=bottom, color=color, label=name)
                bottom += values
            ax.set_ylabel(f"{summary['challenger']} vs baseline")
        else:
            means = row["pointwise"]["means"]
            ax.bar(list(means), [means[m][0] for m in means], color="#4c72b0")
            ax.set_ylabel("judge P(follows)")
        ax.set_ylim(0, 1)
        ax.set_title(preference)
    axes[0][0].legend(fontsize=7) if summary["reading"] == "pairwise" else None
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_preference_eval(questions, config: PreferenceEvalConfig, make_config, sampling, out: Path,
                        settings: dict, load, load_scorer=None) -> dict | None:
    """All phases. `make_config(method, preference)` gives a MethodConfig; `load(name)` a model-layer object
    and `load_scorer()` a reward-model scorer (so tests can pass tiny models). Returns the summary, or None
    when this shard (`config.shard`) is done but another shard's questions are not."""
    from tqdm import tqdm

    from accord.runs import ResultStore, check_shard, write_run_metadata

    if config.reading not in ("pairwise", "pointwise"):
        raise AccordError(f"unknown judge reading {config.reading!r}; choose pairwise or pointwise")
    index, count = check_shard(config.shard)
    mine = questions[index - 1::count]  # this shard's questions
    write_run_metadata(out, settings)
    store = ResultStore(out / "answers.jsonl")
    mine_answers = answer_keys(mine, config)
    done = sum(key in store.done for key in mine_answers)
    if done < len(mine_answers):
        with tqdm(total=len(mine_answers), initial=done, desc="generate", unit="answer") as progress:
            lm = load(config.model)
            generate_phase(lm, mine, config, make_config, sampling, store, progress)
            del lm
            gc.collect()
    judged = ResultStore(out / "judgements.jsonl")
    if any(key not in judged.done for key in judgement_keys(mine, config)):
        answers = {record["key"]: record for record in store.records}  # this shard's answers are all here
        with tqdm(desc="judge", unit="judgement") as progress:
            judge_lm = load(config.judge)
            judge_phase(judge_lm, mine, config, answers, judged, progress)
            del judge_lm
            gc.collect()
    if count > 1:  # the other shards write to the same files: read them again for the table
        store, judged = ResultStore(out / "answers.jsonl"), ResultStore(out / "judgements.jsonl")
        if (any(key not in store.done for key in answer_keys(questions, config))
                or any(key not in judged.done for key in judgement_keys(questions, config))):
            return None  # another shard's work is still running: the table needs every answer and judgement
    answers = {record["key"]: record for record in store.records}
    rewards = None
    if config.reward_model:
        rewards = ResultStore(out / "rewards.jsonl")
        if len(rewards.done) < len(questions) * len(config.preferences) * len(config.methods):
            with tqdm(total=len(questions) * len(config.preferences) * len(config.methods),
                      initial=len(rewards.done), desc="reward", unit="answer") as progress:
                reward_phase(load_scorer(), questions, config, answers, rewards, progress)
    summary = summarize(config, answers, judged.records, rewards.records if rewards else [], questions)
    summary["settings"] = settings
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "table.md").write_text(format_table(summary) + "\n")
    plot_summary(summary, out / "summary.png")
    return summary
