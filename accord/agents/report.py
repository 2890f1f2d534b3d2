"""Report of Overcooked evaluation cells: mean return with a 95% bootstrap interval per layout x agent x
partner x seat, with the cost columns (model calls, seconds, re-plans, fallbacks per episode), as a text
table, a PNG and an HTML page.

    rows = load_cells(["runs/oc"])               # episodes.py
    table = summarize(rows)
    write_report(table, "runs/oc")               # report.md, report.png, report.html
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

import numpy as np

from accord.stats import bootstrap_ci

GROUP = ("layout", "agent", "partner", "seat")
COSTS = ("model_calls", "seconds", "replans", "fallbacks", "unparsed")


def summarize(rows: list[dict]) -> list[dict]:
    """One line per (layout, agent, partner, seat): episodes, mean return and its interval, mean soups, costs."""
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row.get(k) for k in GROUP)].append(row)
    table = []
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        items = groups[key]
        mean, low, high = bootstrap_ci([r["return"] for r in items])
        line = dict(zip(GROUP, key), episodes=len(items), return_mean=mean, return_low=low, return_high=high,
                    soups=float(np.mean([r["soups"] for r in items])))
        for cost in COSTS:
            line[cost] = float(np.mean([r.get(cost, 0) for r in items]))
        table.append(line)
    return table


def format_table(table: list[dict]) -> str:
    """A markdown table of `summarize`'s lines."""
    head = ("| layout | agent | partner | seat | episodes | return (95% CI) | soups | calls/ep | s/ep | re-plans/ep "
            "| fallbacks/ep | unparsed/ep |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for t in table:
        interval = f"{t['return_mean']:.1f} [{t['return_low']:.1f}, {t['return_high']:.1f}]"
        lines.append(f"| {t['layout']} | {t['agent']} | {t['partner']} | {t['seat']} | {t['episodes']} | {interval} "
                     f"| {t['soups']:.1f} | {t['model_calls']:.0f} | {t['seconds']:.0f} | {t['replans']:.1f} "
                     f"| {t['fallbacks']:.1f} | {t['unparsed']:.1f} |")
    return "\n".join(lines)


def plot(table: list[dict], path: Path) -> None:
    """Bars of mean return with interval whiskers, one panel per layout, one bar per agent/partner/seat."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layouts = sorted({t["layout"] for t in table})
    fig, axes = plt.subplots(1, len(layouts), figsize=(max(4.0, 3.2 * len(layouts)), 4.2), squeeze=False)
    for ax, layout in zip(axes[0], layouts):
        lines = [t for t in table if t["layout"] == layout]
        labels = [f"{t['agent']}\n+{t['partner']} s{t['seat']}" for t in lines]
        means = np.array([t["return_mean"] for t in lines])
        err = np.array([[t["return_mean"] - t["return_low"] for t in lines],
                        [t["return_high"] - t["return_mean"] for t in lines]])
        ax.bar(range(len(lines)), means, yerr=err, capsize=3, color="tab:blue")
        ax.set_xticks(range(len(lines)), labels, rotation=90, fontsize=6)
        ax.set_title(layout, fontsize=9)
        ax.set_ylabel("return (20 per soup)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(table: list[dict], out: str | Path) -> dict:
    """report.md, report.png and report.html in `out`; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = format_table(table)
    paths = {"md": out / "report.md", "png": out / "report.png", "html": out / "report.html"}
    paths["md"].write_text(text + "\n")
    plot(table, paths["png"])
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell.strip())}</td>" for cell in line.strip("|").split("|"))
                   + "</tr>\n" for line in text.splitlines()[2:])
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in text.splitlines()[0].strip("|").split("|"))
    paths["html"].write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Overcooked report</title></head><body>\n"
        "<h1>Overcooked: mean return per layout, agent, partner and seat</h1>\n"
        "<p>95% percentile-bootstrap intervals over episodes; costs are means per episode.</p>\n"
        f"<table border='1' cellspacing='0' cellpadding='3'><tr>{head}</tr>\n{rows}</table>\n"
        f"<p><img src='{paths['png'].name}' alt='returns'></p></body></html>\n")
    return paths


def save_frame_strip(mdp, states: list, path: str | Path, title: str = "") -> Path:
    """A strip of rendered frames (the package's pygame StateVisualizer) of (t, state) pairs, one PNG."""
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pygame
    from overcooked.visualization.state_visualizer import StateVisualizer

    visualizer = StateVisualizer()
    fig, axes = plt.subplots(1, len(states), figsize=(2.2 * len(states), 2.2), squeeze=False)
    for ax, (t, state) in zip(axes[0], states):
        surface = visualizer.render_state(state, grid=mdp.terrain_mtx)
        ax.imshow(pygame.surfarray.array3d(surface).transpose(1, 0, 2))
        ax.set_title(f"t={t}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
