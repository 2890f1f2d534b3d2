"""Held-out evaluation of the persuasion Advisor under the paper's three conditions, and its report.

Bai, Wang, Zhang et al. (2024), arXiv 2405.18718, compare the Receiver's accuracy

  none     no extra context (the question alone)
  prior    information sampled from the prior: the information item ω′ of a randomly drawn *training*
           task, shown where the signal would go (the Receiver gets information, but not about this task)
  advisor  the trained Advisor's signal about this task (one sample from its signalling scheme)

and, as an option of ours, `initial`: the signal of the Advisor before training (same prompt, same seed),
which separates what the Advisor's access to ω gives from what training adds.

on problems the Advisor never trained on. Results are appended to results.jsonl one (condition, task) at a
time (a rerun resumes); the report gives accuracy per condition with percentile-bootstrap 95% intervals
(accord.stats) and the paired difference advisor − none, and draws accuracy bars and the training curve.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from accord.persuasion.advisor import PersuasionConfig, receiver_success
from accord.persuasion.tasks import Task, states_answer
from accord.runs import ResultStore
from accord.stats import bootstrap_ci

CONDITIONS = ("none", "prior", "advisor", "initial")
COLOURS = {"none": "#999999", "prior": "#6f9fd8", "advisor": "#d8794f", "initial": "#e8b89f"}


def prior_signals(tasks: list[Task], train_tasks: list[Task], seed: int = 0) -> list[str]:
    """ω′ ~ prior for each task: the information item of a uniformly drawn training task (seeded)."""
    rng = random.Random(seed)
    return [rng.choice(train_tasks).info.strip() for _ in tasks]


def advisor_signals(trainer, condition: str, tasks: list[Task], store: ResultStore, seed: int = 0
                    ) -> list[str | None]:
    """One signal per task from the trainer's current Advisor (its scheme, seeded), drawn only for the tasks
    not yet answered under `condition` (None for the answered ones)."""
    missing = [t for t in tasks if f"{condition}:{t.task_id}" not in store.done]
    drawn = dict(zip([t.task_id for t in missing], trainer.signals(missing, seed) if missing else []))
    return [drawn.get(t.task_id) for t in tasks]


def evaluate(receiver, tasks: list[Task], store: ResultStore, signals_by_condition: dict[str, list],
             config: PersuasionConfig, batch: int = 8, progress=None) -> list[dict]:
    """Ask the Receiver every (condition, task) not yet in `store`, in batches; returns the store's records.

    signals_by_condition maps a condition to one signal per task (None = no extra context)."""
    for condition, signals in signals_by_condition.items():
        todo = [(t, s) for t, s in zip(tasks, signals) if f"{condition}:{t.task_id}" not in store.done]
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            success, replies = receiver_success(receiver, [t for t, _ in chunk], [s for _, s in chunk], config)
            for (task, signal), ok, reply in zip(chunk, success, replies):
                store.append({"key": f"{condition}:{task.task_id}", "condition": condition, "task": task.task_id,
                              "success": bool(ok), "signal": signal, "reply": reply,
                              "states_answer": states_answer(task, signal)})
            if progress:
                progress(len(chunk))
    return store.records


def _condition_order(condition: str) -> int:
    return CONDITIONS.index(condition) if condition in CONDITIONS else len(CONDITIONS)


def _revelation(records: list[dict]) -> dict:
    """Per condition (math): the share of signals that state the answer, and the Receiver's accuracy when
    they do and when they do not (None where no record of that kind exists)."""
    out: dict[str, dict] = {}
    for condition in sorted({r["condition"] for r in records}, key=_condition_order):
        rows = [r for r in records if r["condition"] == condition and r.get("states_answer") is not None]
        if not rows:
            continue
        stated = [r["success"] for r in rows if r["states_answer"]]
        other = [r["success"] for r in rows if not r["states_answer"]]
        out[condition] = {"n": len(rows), "states_answer": len(stated) / len(rows),
                          "accuracy_when_stated": float(np.mean(stated)) if stated else None,
                          "accuracy_otherwise": float(np.mean(other)) if other else None}
    return out


def _paired(by_condition: dict[str, dict[str, float]], condition: str, baseline: str) -> dict:
    """condition − baseline on the tasks both answered, with a 95% bootstrap interval."""
    shared = sorted(set(by_condition[condition]) & set(by_condition[baseline]))
    mean, low, high = bootstrap_ci([by_condition[condition][t] - by_condition[baseline][t] for t in shared])
    return {"n": len(shared), "difference": mean, "ci95": [low, high]}


def summarize(records: list[dict]) -> dict:
    """Accuracy per condition with 95% bootstrap intervals, paired differences to `none` (and advisor −
    initial: what training adds, when both were run), and (math) how often each signal states the answer."""
    by_condition: dict[str, dict[str, float]] = {}
    for record in records:
        by_condition.setdefault(record["condition"], {})[record["task"]] = float(record["success"])
    summary = {"conditions": {}, "paired_vs_none": {}}
    for condition in sorted(by_condition, key=_condition_order):
        values = list(by_condition[condition].values())
        mean, low, high = bootstrap_ci(values)
        summary["conditions"][condition] = {"n": len(values), "accuracy": mean, "ci95": [low, high]}
        if condition != "none" and "none" in by_condition:
            summary["paired_vs_none"][condition] = _paired(by_condition, condition, "none")
    if "advisor" in by_condition and "initial" in by_condition:
        summary["advisor_vs_initial"] = _paired(by_condition, "advisor", "initial")
    summary["signal_states_answer"] = _revelation(records)
    return summary


def _training_axes(rows: list[dict], reward_ax, kl_ax) -> None:
    steps = [r["step"] for r in rows]
    reward = np.array([r["reward"] for r in rows])
    window = max(1, len(rows) // 10)
    reward_ax.plot(steps, reward, ".", alpha=0.3)
    reward_ax.plot(steps[window - 1:], np.convolve(reward, np.ones(window) / window, mode="valid"))
    reward_ax.set_title(f"training reward (moving mean of {window})")
    kl_ax.plot(steps, [r["kl_to_initial"] for r in rows], marker=".")
    kl_ax.set_title("KL to the initial Advisor (per token)")
    for ax in (reward_ax, kl_ax):
        ax.set_xlabel("step")


def _read_log(log_path) -> list[dict]:
    if log_path is None or not Path(log_path).is_file():
        return []
    return [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]


def plot_training(log_path: Path, png: Path) -> None:
    """Training reward and KL to the initial Advisor against step (out_dir/curves.png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _read_log(log_path)
    if not rows:
        return
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.2))
    _training_axes(rows, *axes)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def plot_report(summary: dict, log_path: Path | None, png: Path, title: str = "") -> None:
    """Accuracy bars with intervals per condition, and (when a training log exists) reward and KL per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _read_log(log_path)
    fig, axes = plt.subplots(1, 3 if rows else 1, figsize=(12 if rows else 4.5, 3.4), squeeze=False)
    axes = axes[0]
    names = list(summary["conditions"])
    acc = [summary["conditions"][c]["accuracy"] for c in names]
    err = np.array([[a - summary["conditions"][c]["ci95"][0], summary["conditions"][c]["ci95"][1] - a]
                    for c, a in zip(names, acc)]).T
    axes[0].bar(names, acc, yerr=err, capsize=4, color=[COLOURS.get(c, "#777777") for c in names])
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("Receiver accuracy (95% CI)")
    axes[0].set_title(title or "held-out accuracy")
    if rows:
        _training_axes(rows, axes[1], axes[2])
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _paired_line(label: str, row: dict, note: str = "") -> str:
    return (f"{label} (paired, n={row['n']}{note}): {row['difference']:+.3f} "
            f"[{row['ci95'][0]:+.3f}, {row['ci95'][1]:+.3f}]")


def format_summary(summary: dict) -> str:
    """A small text table."""
    lines = ["condition  n    accuracy  95% CI"]
    for condition, row in summary["conditions"].items():
        lines.append(f"{condition:9s} {row['n']:4d}  {row['accuracy']:.3f}     [{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]")
    for condition, row in summary["paired_vs_none"].items():
        lines.append(_paired_line(f"{condition} - none", row))
    if "advisor_vs_initial" in summary:
        lines.append(_paired_line("advisor - initial", summary["advisor_vs_initial"], "; what training adds"))
    for condition, row in summary.get("signal_states_answer", {}).items():
        lines.append(f"{condition}: the signal states the answer in {row['states_answer']:.2f} of {row['n']} tasks; "
                     f"accuracy {_share(row['accuracy_when_stated'])} when it does, "
                     f"{_share(row['accuracy_otherwise'])} when not")
    return "\n".join(lines)
