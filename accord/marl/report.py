"""Learning curves and final tables over seeds for `accord marl train` runs.

Each run folder holds run.json (settings) and curve.jsonl (one evaluation per line: env_steps, success,
team_return). Runs are grouped by (env, credit); the band is the 95% bootstrap interval of the mean over
seeds at each evaluation (accord.stats.bootstrap_ci), the table gives the final evaluation and the mean
over all evaluations (area under the curve), each with its interval over seeds, and for learned credit
the median over evaluations and seeds of `reward_r2` (the reward model's R² on fresh episodes).

    runs = load_runs(["runs/ab"])              # every folder below that holds run.json
    rows = final_table(runs)
    plot_curves(runs, "runs/ab/curves.png")
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from accord.errors import AccordError
from accord.stats import bootstrap_ci

METRICS = {"alice-bob": ("success", "team_return"), "mpe-spread": ("team_return",)}   # first one is plotted
ORDER = ("stas", "stas-ml", "arel", "temporal", "uniform", "episodic")


def load_runs(paths) -> dict:
    """{(env, credit): [curve, ...]}, a curve being a list of evaluation records sorted by env steps."""
    groups = defaultdict(list)
    folders = []
    for path in map(Path, paths):
        if not path.exists():
            raise AccordError(f"{path}: no such run folder")
        folders += sorted(p.parent for p in path.rglob("run.json"))
    for folder in folders:
        settings = json.loads((folder / "run.json").read_text())["settings"]
        curve_path = folder / "curve.jsonl"
        if not curve_path.exists():
            continue
        curve = [json.loads(line) for line in curve_path.read_text().splitlines() if line.strip()]
        curve.sort(key=lambda r: r["env_steps"])
        groups[(settings["env"], settings["credit"])].append({"seed": settings["seed"], "curve": curve,
                                                              "folder": str(folder)})
    if not groups:
        raise AccordError(f"no finished evaluations under {', '.join(map(str, paths))} (run `accord marl train`)")
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], ORDER.index(kv[0][1]) if kv[0][1] in ORDER else 99)))


def final_table(runs: dict) -> list[dict]:
    rows = []
    for (env, credit), seeds in runs.items():
        n = min(len(s["curve"]) for s in seeds)          # compare seeds at the same number of evaluations
        for metric in METRICS[env]:
            final = [s["curve"][n - 1][metric] for s in seeds]
            area = [np.mean([r[metric] for r in s["curve"][:n]]) for s in seeds]
            mean, low, high = bootstrap_ci(final)
            amean, alow, ahigh = bootstrap_ci(area)
            fits = [r["reward_r2"] for s in seeds for r in s["curve"][:n] if r.get("reward_r2") is not None]
            rows.append({"env": env, "credit": credit, "metric": metric, "seeds": len(seeds),
                         "reward_r2": float(np.median(fits)) if fits else None,
                         "env_steps": seeds[0]["curve"][n - 1]["env_steps"], "final": mean, "final_low": low,
                         "final_high": high, "auc": amean, "auc_low": alow, "auc_high": ahigh,
                         "per_seed": final})
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["| env | credit | metric | seeds | env steps | final (95% CI) | mean over curve (95% CI) | "
             "reward-model R² (median) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fit = "—" if r.get("reward_r2") is None else f"{r['reward_r2']:.2f}"
        lines.append(f"| {r['env']} | {r['credit']} | {r['metric']} | {r['seeds']} | {r['env_steps']} | "
                     f"{r['final']:.3f} [{r['final_low']:.3f}, {r['final_high']:.3f}] | "
                     f"{r['auc']:.3f} [{r['auc_low']:.3f}, {r['auc_high']:.3f}] | {fit} |")
    return "\n".join(lines)


def differences(runs: dict, reference: str = "stas", resamples: int = 2000, seed: int = 0) -> list[dict]:
    """Final value of `reference` minus each other credit's, per env on its first metric, with a 95%
    percentile-bootstrap interval (the seeds of each credit resampled independently)."""
    rng = np.random.default_rng(seed)
    rows = []
    for env in sorted({env for env, _ in runs}):
        if (env, reference) not in runs:
            continue
        metric = METRICS[env][0]
        finals = {credit: np.array([s["curve"][min(len(x["curve"]) for x in seeds) - 1][metric] for s in seeds])
                  for (run_env, credit), seeds in runs.items() if run_env == env}
        ours = finals[reference]
        for credit, theirs in finals.items():
            if credit == reference:
                continue
            draws = (ours[rng.integers(0, len(ours), (resamples, len(ours)))].mean(axis=1)
                     - theirs[rng.integers(0, len(theirs), (resamples, len(theirs)))].mean(axis=1))
            low, high = np.percentile(draws, [2.5, 97.5])
            rows.append({"env": env, "metric": metric, "credit": credit, "difference": float(ours.mean() - theirs.mean()),
                         "low": float(low), "high": float(high), "seeds": (len(ours), len(theirs))})
    return rows


def format_differences(rows: list[dict], reference: str = "stas") -> str:
    lines = [f"| env | metric | {reference} minus | final difference (95% CI) | seeds |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['env']} | {r['metric']} | {r['credit']} | {r['difference']:.3f} "
                     f"[{r['low']:.3f}, {r['high']:.3f}] | {r['seeds'][0]} vs {r['seeds'][1]} |")
    return "\n".join(lines)


def plot_curves(runs: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({env for env, _ in runs})
    fig, axes = plt.subplots(1, len(envs), figsize=(6 * len(envs), 4), squeeze=False)
    for ax, env in zip(axes[0], envs):
        for (run_env, credit), seeds in runs.items():
            if run_env != env:
                continue
            n = min(len(s["curve"]) for s in seeds)
            steps = np.array([r["env_steps"] for r in seeds[0]["curve"][:n]])
            values = np.array([[r[METRICS[env][0]] for r in s["curve"][:n]] for s in seeds])   # (seeds, evals)
            bands = np.array([bootstrap_ci(column)[1:] for column in values.T])
            ax.plot(steps, values.mean(axis=0), label=f"{credit} ({len(seeds)} seeds)")
            ax.fill_between(steps, bands[:, 0], bands[:, 1], alpha=0.2)
        ax.set_title(env)
        ax.set_xlabel("env steps")
        ax.set_ylabel(METRICS[env][0].replace("_", " "))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
