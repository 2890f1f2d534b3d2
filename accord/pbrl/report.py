"""Report of a PEARL run directory: success rate per method with a bootstrap interval over seeds, the reward
models' pair accuracy on held-out target pairs, the transferred labels' accuracy, and a bar chart.

    summary = summarise(records)          # records of OUT/results.jsonl
    print(format_table(summary))
    plot(summary, "OUT/pbrl.png")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accord.pbrl.experiment import METHODS
from accord.stats import bootstrap_ci

LABELS = {"pearl": "PEARL (RPT, transferred labels)", "pt": "PT, transferred labels",
          "mlp": "MLP BT, transferred labels", "oracle": "PT, target teacher labels (oracle)",
          "bc": "behaviour cloning", "true_reward": "IQL, true env. reward (ceiling)"}


def summarise(records: list[dict]) -> dict:
    """{"methods": {method: {seeds, success (mean, low, high), reward_accuracy (...)}}, "transfer": (...)}."""
    methods = {}
    for method in METHODS:
        rows = sorted((r for r in records if r["method"] == method), key=lambda r: r["seed"])
        if not rows:
            continue
        entry = {"seeds": [r["seed"] for r in rows], "success": bootstrap_ci([r["success"] for r in rows]),
                 "success_per_seed": [r["success"] for r in rows]}
        if any("reward_accuracy" in r for r in rows):
            entry["reward_accuracy"] = bootstrap_ci([r["reward_accuracy"] for r in rows if "reward_accuracy" in r])
        methods[method] = entry
    by_seed = {r["seed"]: r["transfer_accuracy"] for r in records if "transfer_accuracy" in r}
    return {"methods": methods, "transfer_accuracy": bootstrap_ci(list(by_seed.values())),
            "seeds": sorted(by_seed)}


def _interval(triple, percent=True) -> str:
    mean, low, high = triple
    scale = 100 if percent else 1
    return f"{mean * scale:5.1f} [{low * scale:5.1f}, {high * scale:5.1f}]"


def format_table(summary: dict) -> str:
    lines = [f"seeds: {summary['seeds']}   (mean [95% bootstrap interval over seeds], in %)",
             f"transferred-label accuracy vs target true-return labels: {_interval(summary['transfer_accuracy'])}",
             "", f"{'method':38s} {'success rate':22s} {'reward pair accuracy':22s} per-seed success"]
    for method, entry in summary["methods"].items():
        accuracy = _interval(entry["reward_accuracy"]) if "reward_accuracy" in entry else "-"
        per_seed = " ".join(f"{value:.2f}" for value in entry["success_per_seed"])
        lines.append(f"{LABELS[method]:38s} {_interval(entry['success']):22s} {accuracy:22s} {per_seed}")
    return "\n".join(lines)


def plot(summary: dict, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(summary["methods"])
    means = np.array([summary["methods"][m]["success"][0] for m in methods])
    lows = np.array([summary["methods"][m]["success"][1] for m in methods])
    highs = np.array([summary["methods"][m]["success"][2] for m in methods])
    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.bar(range(len(methods)), means, yerr=[means - lows, highs - means], capsize=4,
             color=["tab:red" if m == "pearl" else "tab:gray" if m in ("oracle", "true_reward") else "tab:blue"
                    for m in methods])
    axis.set_xticks(range(len(methods)), [m.replace("_", " ") for m in methods])
    axis.set_ylabel("target success rate")
    axis.set_ylim(0, 1.05)
    mean, low, high = summary["transfer_accuracy"]
    axis.set_title(f"seeds {len(summary['seeds'])}; transferred-label accuracy {mean:.2f} [{low:.2f}, {high:.2f}]",
                   fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)
