"""Reports of a consensus run: pass rate (voting goals) or mean value (rawlsian / utilitarian) by
goal x party count x topic with percentile-bootstrap 95% intervals, and how much the drafts favoured the
large parties (Pearson correlation of each party's score with its seat share, with a bootstrap interval
over resolutions). Writes report.json, a PNG chart (matplotlib, Agg) and a self-contained HTML page.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from accord.consensus.goals import GOALS, VOTING_GOALS
from accord.consensus.validate import run_validation_line
from accord.errors import AccordError
from accord.runs import ResultStore
from accord.stats import bootstrap_ci

ALL = "all topics"


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if x.size < 3 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def seat_favour(records: list[dict], resamples: int = 1000, seed: int = 0, score: str = "score") -> dict:
    """Correlation of party score with seat share over all (resolution, party) pairs; interval by
    resampling resolutions. Also the mean score gap between each resolution's largest party and the rest.
    score: "score" (the judge's argmax digit) or "expected" (the expected digit under its distribution,
    which still varies when a small judge gives every party the same argmax)."""
    usable = [r for r in records if r.get("usable") and all(score in v for v in r["votes"])]
    pairs = [(np.array([v["seat_weight"] for v in r["votes"]]), np.array([v[score] for v in r["votes"]], float))
             for r in usable]
    if not pairs:
        return {"r": None, "low": None, "high": None, "largest_gap": None, "n": 0}

    def corr(rows) -> float | None:
        return _pearson(np.concatenate([pairs[i][0] for i in rows]), np.concatenate([pairs[i][1] for i in rows]))

    r = corr(range(len(pairs)))
    gaps = []
    for weights, scores in pairs:
        top = int(np.argmax(weights))
        if (weights == weights[top]).sum() == 1:
            gaps.append(scores[top] - np.delete(scores, top).mean())
    low = high = None
    if r is not None and len(pairs) > 1:
        rng = np.random.default_rng(seed)
        draws = [corr(rng.integers(0, len(pairs), len(pairs))) for _ in range(resamples)]
        draws = [d for d in draws if d is not None]
        if draws:
            low, high = (float(v) for v in np.percentile(draws, [2.5, 97.5]))
    return {"r": r, "low": low, "high": high, "largest_gap": float(np.mean(gaps)) if gaps else None,
            "n": len(pairs)}


def summarize(records: list[dict], seed: int = 0, vote: str = "argmax") -> list[dict]:
    """One row per (goal, parties, topic), plus an all-topics row per (goal, parties). `vote` is the reading
    the intervals are computed on ("argmax" digit or "expected" digit); `other` is the metric under the
    other reading."""
    main, second = ("expected_value", "value") if vote == "expected" else ("value", "expected_value")
    groups: dict[tuple, list[float]] = {}
    others: dict[tuple, list[float]] = {}
    for record in records:
        if not record.get("usable"):
            continue
        for topic in (ALL, record["topic"]):
            groups.setdefault((record["goal"], record["parties"], topic), []).append(
                record.get(main, record["value"]))
            others.setdefault((record["goal"], record["parties"], topic), []).append(
                record.get(second, record["value"]))
    order = {goal: i for i, goal in enumerate(GOALS)}
    rows = []
    for (goal, parties, topic), values in sorted(groups.items(),
                                                 key=lambda kv: (order[kv[0][0]], kv[0][1], kv[0][2] != ALL, kv[0][2])):
        mean, low, high = bootstrap_ci(values, seed=seed)
        rows.append({"goal": goal, "parties": parties, "topic": topic, "metric": metric_name(goal),
                     "n": len(values), "mean": mean, "low": low, "high": high, "vote": vote,
                     "other": float(np.mean(others[(goal, parties, topic)]))})
    return rows


def metric_name(goal: str) -> str:
    return "pass rate" if goal in VOTING_GOALS else ("min score" if goal == "rawlsian" else "mean score")


def format_table(rows: list[dict], topics: bool = True) -> str:
    """The summary table on the run's vote reading; the last column is the same metric on the other reading."""
    shown = [r for r in rows if topics or r["topic"] == ALL]
    if not shown:
        return "(no usable results)"
    other = "argmax" if shown[0].get("vote") == "expected" else "E-score"
    header = f"{'goal':<16} {'parties':>7} {'topic':<34} {'metric':<10} {'n':>4} {'value':>6}  {'95% CI':<14} {other:>7}"
    lines = [header, "-" * len(header)]
    for r in shown:
        interval = f"[{r['low']:.2f}, {r['high']:.2f}]"
        lines.append(f"{r['goal']:<16} {r['parties']:>7} {r['topic'][:34]:<34} {r['metric']:<10} {r['n']:>4} "
                     f"{r['mean']:>6.2f}  {interval:<14} {r['other']:>7.2f}")
    return "\n".join(lines)


def format_favour(favour: dict, label: str = "score") -> str:
    if favour["r"] is None:
        return f"seat-share favour ({label}): not enough varied scores to correlate"
    interval = f" [{favour['low']:.2f}, {favour['high']:.2f}]" if favour["low"] is not None else ""
    gap = f"; largest party scores {favour['largest_gap']:+.2f} vs the others" if favour["largest_gap"] is not None else ""
    return (f"seat-share favour ({label}): r(score, seat share) = {favour['r']:+.2f}{interval} over "
            f"{favour['n']} resolutions{gap}")


def format_favours(favours: dict) -> str:
    return "\n".join(format_favour(favours[key], label) for key, label in
                     (("score", "argmax digit"), ("expected", "expected digit")))


def load_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    run_dir = Path(run_dir)
    results = run_dir / "results.jsonl"
    if not results.is_file():
        raise AccordError(f"no results in {run_dir} (expected {results.name}); run `accord consensus run` first")
    metadata = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    return metadata, ResultStore(results).records


def chart_png(rows: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    overall = [r for r in rows if r["topic"] == ALL]
    goals = [g for g in GOALS if any(r["goal"] == g for r in overall)]
    counts = sorted({r["parties"] for r in overall})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    for ax, kind in zip(axes, ("vote", "value")):
        shown = [g for g in goals if (g in VOTING_GOALS) == (kind == "vote")]
        if not shown:  # e.g. a run of one goal: say so instead of an empty frame (and an empty legend)
            ax.text(0.5, 0.5, f"no {'voting goal' if kind == 'vote' else 'welfare principle'} in this run",
                    ha="center", va="center", color="#777777")
            ax.set_axis_off()
            continue
        width = 0.8 / max(len(counts), 1)
        for j, k in enumerate(counts):
            xs, ys, errs = [], [], [[], []]
            for i, goal in enumerate(shown):
                row = next((r for r in overall if r["goal"] == goal and r["parties"] == k), None)
                if row:
                    xs.append(i + j * width)
                    ys.append(row["mean"])
                    errs[0].append(row["mean"] - row["low"])
                    errs[1].append(row["high"] - row["mean"])
            if xs:
                ax.bar(xs, ys, width, yerr=errs, capsize=3, label=f"{k} parties")
        ax.set_xticks([i + width * (len(counts) - 1) / 2 for i in range(len(shown))], shown)
        ax.set_ylabel("pass rate" if kind == "vote" else "score (0-9)")
        ax.set_ylim(0, 1.05 if kind == "vote" else 9.5)
        ax.set_title("voting goals" if kind == "vote" else "welfare principles")
        if counts:
            ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def html_page(metadata: dict, rows: list[dict], favour: dict, png: bytes, records: list[dict]) -> str:
    settings = metadata.get("settings", {})
    header = "".join(f"<th>{h}</th>" for h in ("goal", "parties", "topic", "metric", "n", "value", "95% CI"))
    body = "".join(
        f"<tr{' class=all' if r['topic'] == ALL else ''}><td>{html.escape(r['goal'])}</td><td>{r['parties']}</td>"
        f"<td>{html.escape(r['topic'])}</td><td>{r['metric']}</td><td>{r['n']}</td><td>{r['mean']:.2f}</td>"
        f"<td>[{r['low']:.2f}, {r['high']:.2f}]</td></tr>" for r in rows)
    examples = "".join(
        f"<details><summary>{html.escape(r['goal'])} · {r['parties']} parties · {html.escape(r['topic'])} "
        f"#{html.escape(str(r['id']))} · {'pass' if r.get('passed') else ('fail' if r.get('passed') is False else r.get('value'))}"
        f"</summary><p>{html.escape(r['draft'])}</p><p>"
        + ", ".join(f"{html.escape(v['party'])} ({v['seat_weight']:.0%}): {v['score']}" for v in r["votes"])
        + "</p></details>" for r in records[:200])
    about = html.escape(json.dumps({k: settings.get(k) for k in ("drafter", "judge", "method", "method_parameters",
                                                                    "sampling", "seed", "data", "data_sha256", "limit")},
                                   indent=1, default=str))
    image = base64.b64encode(png).decode()
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>accord consensus report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}}tr.all{{font-weight:bold}}
pre{{background:#f6f6f6;padding:8px}}</style></head><body>
<h1>Political consensus (EuroCon)</h1>
<img alt="results chart" src="data:image/png;base64,{image}">
<table><tr>{header}</tr>{body}</table>
<p>{html.escape(format_favours(favour)).replace(chr(10), "<br>")}</p>
<h2>Run</h2><pre>{about}</pre><h2>Drafts</h2>{examples}</body></html>
"""


def make_report(run_dir: str | Path, seed: int = 0, topics: bool = True) -> tuple[str, dict]:
    """Text report; writes report.json, report.png and report.html into the run folder."""
    run_dir = Path(run_dir)
    metadata, records = load_run(run_dir)
    settings = metadata.get("settings", {})
    vote = settings.get("vote", "argmax")
    rows = summarize(records, seed, vote)
    favour = {key: seat_favour(records, seed=seed, score=key) for key in ("score", "expected")}
    unusable = sum(1 for r in records if not r.get("usable"))
    png = chart_png(rows)
    (run_dir / "report.png").write_bytes(png)
    (run_dir / "report.html").write_text(html_page(metadata, rows, favour, png, records), encoding="utf-8")
    summary = {"rows": rows, "seat_favour": favour, "records": len(records), "unusable": unusable}
    (run_dir / "report.json").write_text(json.dumps(summary, indent=1))
    head = (f"{len(records)} resolutions · protocol {settings.get('protocol', 'accord')} · drafter "
            f"{settings.get('drafter', {}).get('name', '?')} ({settings.get('method', '?')}) · judge "
            f"{settings.get('judge', {}).get('name', '?')} · vote {vote} digit")
    summary["judge_validation"] = run_validation_line(settings)
    (run_dir / "report.json").write_text(json.dumps(summary, indent=1))
    text = "\n".join([head, summary["judge_validation"], format_table(rows, topics), format_favours(favour)]
                     + ([f"{unusable} resolutions had an unusable judgement and are left out"] if unusable else [])
                     + [f"chart: {run_dir / 'report.png'}  page: {run_dir / 'report.html'}"])
    return text, summary
