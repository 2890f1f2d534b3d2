"""Summaries of a ValueDCG run: per value and overall, know what (accuracy, macro-F1, ECE), know why
(mean judge score / 5, expected and argmax) and the gap know why - know what, with percentile bootstrap
95% intervals over items. The gap is paired: the mean over items of (score_i / 5 - correct_i).
"Overall" pools the items of every value.

Writes report.json, report.md (the table), values.png (chart) and report.html (self-contained: the chart
is embedded) into the run directory.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from accord.errors import AccordError
from accord.runs import ResultStore
from accord.values.definitions import VALUES
from accord.values.know_why import PARTS
from accord.stats import bootstrap_ci
from accord.values.metrics import accuracy, expected_calibration_error, macro_f1
from accord.values.run import RESULTS


def summarize_records(records: list[dict], seed: int = 0, resamples: int = 2000) -> dict:
    gold = [r["answer"] for r in records]
    pred = [r["pred"] for r in records]
    correct = np.array([float(r["correct"]) for r in records])
    why = np.array([r["why"] / 5 for r in records])
    why_argmax = np.array([np.mean([r["why_argmax"][p] for p in PARTS]) / 5 for r in records])
    gap = why - correct
    return {
        "n": len(records),
        "know_what": accuracy(gold, pred), "know_what_ci": bootstrap_ci(correct, resamples=resamples, seed=seed)[1:],
        "macro_f1": macro_f1(gold, pred),
        "ece": expected_calibration_error([r["confidence"] for r in records], correct),
        "know_why": float(why.mean()), "know_why_ci": bootstrap_ci(why, resamples=resamples, seed=seed)[1:],
        "know_why_argmax": float(why_argmax.mean()),
        "parts": {p: float(np.mean([r["why_expected"][p] for r in records])) for p in PARTS},
        "gap": float(gap.mean()), "gap_ci": bootstrap_ci(gap, resamples=resamples, seed=seed)[1:],
        "answers": {letter: pred.count(letter) for letter in "ABC"},
    }


def summarize(records: list[dict], order: list[str] | None = None, seed: int = 0) -> dict:
    if not records:
        raise AccordError("no results to summarize")
    names = list(order or [])
    names += [r["value"] for r in records if r["value"] not in names]
    per_value = {}
    for name in names:
        mine = [r for r in records if r["value"] == name]
        if mine:
            per_value[name] = summarize_records(mine, seed=seed)
    return {"values": per_value, "overall": summarize_records(records, seed=seed)}


def load_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AccordError(f"run directory not found: {run_dir}")
    results = run_dir / RESULTS
    if not results.is_file():
        raise AccordError(f"{run_dir} holds no {RESULTS}; run `accord values run --out {run_dir}` first")
    metadata = {}
    if (run_dir / "run.json").is_file():
        metadata = json.loads((run_dir / "run.json").read_text())
    records = ResultStore(results).records
    if not records:
        raise AccordError(f"{results} is empty; the run has not finished any item yet")
    return metadata, records


def _ci(values) -> str:
    return f"[{values[0]:+.2f}, {values[1]:+.2f}]"


def format_table(summary: dict) -> str:
    header = (f"{'value':<16}{'n':>5}{'know what':>11}{'macro-F1':>10}{'ECE':>7}{'know why':>10}"
              f"{'(argmax)':>10}{'gap':>8}  gap 95% CI")
    lines = [header, "-" * len(header)]
    rows = list(summary["values"].items()) + [("overall", summary["overall"])]
    for name, s in rows:
        if name == "overall":
            lines.append("-" * len(header))
        lines.append(f"{name:<16}{s['n']:>5}{s['know_what']:>11.3f}{s['macro_f1']:>10.3f}{s['ece']:>7.3f}"
                     f"{s['know_why']:>10.3f}{s['know_why_argmax']:>10.3f}{s['gap']:>+8.3f}  {_ci(s['gap_ci'])}")
    return "\n".join(lines)


def plot(summary: dict, path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["values"]) + ["overall"]
    stats = [summary["values"][n] for n in names[:-1]] + [summary["overall"]]
    x = np.arange(len(names))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(7, 0.75 * len(names) + 2), 7), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    for offset, key, label in ((-0.2, "know_what", "know what (accuracy)"), (0.2, "know_why", "know why (score / 5)")):
        values = np.array([s[key] for s in stats])
        cis = np.array([s[key + "_ci"] for s in stats])
        top.bar(x + offset, values, 0.4, label=label,
                yerr=np.abs(np.vstack([values - cis[:, 0], cis[:, 1] - values])), capsize=3)
    top.set_ylim(0, 1.05)
    top.set_ylabel("score")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(title or "ValueDCG: know what vs know why")
    gaps = np.array([s["gap"] for s in stats])
    cis = np.array([s["gap_ci"] for s in stats])
    bottom.bar(x, gaps, 0.5, color=["tab:red" if g < 0 else "tab:green" for g in gaps],
               yerr=np.abs(np.vstack([gaps - cis[:, 0], cis[:, 1] - gaps])), capsize=3)
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.set_ylabel("gap (why - what)")
    bottom.set_xticks(x, [n.lower() for n in names], rotation=45, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_html(summary: dict, metadata: dict, records: list[dict], png: Path, judge_line: str = "",
                examples_per_value: int = 2) -> str:
    esc = html.escape
    settings = metadata.get("settings", {})
    image = base64.b64encode(png.read_bytes()).decode()
    cells = ("value", "n", "know what", "95% CI", "macro-F1", "ECE", "know why", "95% CI", "argmax",
             "attribution", "counterfactual", "rebuttal", "gap", "95% CI")
    rows = []
    for name, s in list(summary["values"].items()) + [("overall", summary["overall"])]:
        parts = [f"{s['parts'][p]:.2f}" for p in PARTS]
        values = [name, s["n"], f"{s['know_what']:.3f}", _ci(s["know_what_ci"]), f"{s['macro_f1']:.3f}",
                  f"{s['ece']:.3f}", f"{s['know_why']:.3f}", _ci(s["know_why_ci"]), f"{s['know_why_argmax']:.3f}",
                  *parts, f"{s['gap']:+.3f}", _ci(s["gap_ci"])]
        rows.append("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in values) + "</tr>")
    examples = []
    for name in summary["values"]:
        for r in [r for r in records if r["value"] == name][:examples_per_value]:
            text = r["text"] if len(r["text"]) <= 400 else r["text"][:400] + " ..."
            parts = "".join(f"<li><b>{p}</b> ({r['why_expected'][p]:.2f}): {esc(r['explanation'][p])}</li>"
                            for p in PARTS)
            examples.append(f"<div class='ex'><p><b>{esc(name)}</b> row {r['row']}: &ldquo;{esc(text)}&rdquo; "
                            f"&mdash; correct {r['answer']}, model {r['pred']} (p={r['confidence']:.2f})</p>"
                            f"<ul>{parts}</ul></div>")
    meta = {k: settings.get(k) for k in ("model", "judge", "protocol", "values", "limit", "seed", "shots", "data",
                                         "data_sha256")}
    meta["versions"] = metadata.get("versions")
    meta["started"] = metadata.get("started")
    given = settings.get("protocol_record", {}).get("texts", {}).get("definitions") or \
        {n: VALUES[n].definition for n in VALUES}
    definitions = "".join(f"<li><b>{esc(n)}</b>: {esc(given[n])}</li>" for n in summary["values"] if n in given)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ValueDCG report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
td:first-child{{text-align:left}}pre{{background:#f4f4f4;padding:.5em;font-size:12px}}.ex{{font-size:13px}}</style>
</head><body>
<h1>ValueDCG: know what vs know why</h1>
<p>Know what = accuracy of the A/B/C answer (constrained choice). Know why = mean judge score of the three
explanation parts / 5 (expected value over the judge's digits, 0-5 under the paper protocol and 1-5 under
accord's; argmax in its own column). Gap = know why - know
what (negative: the model recognises more than it can explain). Intervals: percentile bootstrap 95% over items.</p>
<p><b>{esc(judge_line)}</b></p>
<img alt="chart" src="data:image/png;base64,{image}">
<table><tr>{''.join(f'<th>{c}</th>' for c in cells)}</tr>
{''.join(rows)}</table>
<h2>Run</h2><pre>{esc(json.dumps(meta, indent=2))}</pre>
<h2>Definitions given to the judge</h2><ul>{definitions}</ul>
<h2>Examples</h2>{''.join(examples)}
</body></html>
"""


def judge_line(settings: dict, run_dir: Path) -> str:
    """The know-why judge's validation line for this run's judge and protocol (accord.validation)."""
    from accord.values.protocols import get_protocol
    from accord.values.run import judge_validation_key
    from accord.values.validate import report_line

    judge = settings.get("judge", "?")
    key = settings.get("judge_key") or judge_validation_key(judge, get_protocol(settings.get("protocol", "accord")))
    return report_line(key, judge, f"accord values validate-judge --run {run_dir} --judge {judge}")


def write_report(run_dir: str | Path, seed: int | None = None) -> dict:
    """Summarize run_dir, write report.json/.md, values.png and report.html there; returns the summary
    (with "table" and "judge_line", the know-why judge's validation line)."""
    run_dir = Path(run_dir)
    metadata, records = load_run(run_dir)
    settings = metadata.get("settings", {})
    seed = settings.get("seed", 0) if seed is None else seed
    summary = summarize(records, order=settings.get("values"), seed=seed)
    table = format_table(summary)
    line = judge_line(settings, run_dir)
    title = (f"ValueDCG ({settings.get('protocol', 'accord')} protocol): {settings.get('model', '?')} judged by "
             f"{settings.get('judge', '?')}")
    png = plot(summary, run_dir / "values.png", title=title)
    (run_dir / "report.json").write_text(json.dumps({"settings": settings, **summary, "judge_line": line}, indent=2))
    (run_dir / "report.md").write_text(f"{title}\n\n```\n{table}\n```\n\n{line}\n")
    (run_dir / "report.html").write_text(render_html(summary, metadata, records, png, line))
    summary["table"] = table
    summary["judge_line"] = line
    return summary
