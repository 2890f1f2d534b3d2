"""Benchmark of the consensus pipeline under the paper's protocol: the constrained-choice judge (banded
rubric) vs a naive free-text judge for each judge model, and drafting speed of the two-stream methods (la,
amulet) against pref, with and without the shared-prefix KV reuse of the llama.cpp backend.

- constrained: one `choice_logprobs` call per resolution; background + resolution + the banded rubric are
  the shared prefix (computed once), each party's stance + answer cue a suffix; the score is read from the
  ten digit log-probabilities (never unusable).
- naive (like the benchmark's original code): every party is asked separately with the full prompt,
  generates a short answer, a digit is parsed from it; an answer without a digit is asked again (sampled,
  up to --retries times in all) and counts as unusable if none gives a digit.

Both judge the adopted resolution of each task (the same texts for both), after one untimed warm-up call
of each (the first call sizes llama.cpp's buffers). Drafting (--draft-parties, default 4): the same tasks
with the two_thirds goal and the paper's one-shot example, one batch per run of --draft-runs, after an
untimed warm-up; la and amulet are timed with the shared prefix (`share_prefix`) and without it, with stop
tokens ignored (--fixed-length, default) so that every run drafts the same number of tokens, and each run
is split into prefill and decoding steps. --lengths N drafts again with stop tokens honoured (where do
la/amulet stop?), also with the plausibility option (`la_plausible`, `amulet_plausible`).
Results go to benchmarks/results/consensus.json.

    python benchmarks/consensus.py --data /work/shared/data/eurocon --limit 3 --parties 2,4,6 \
        --judges qwen2.5-coder-0.5b,qwen2.5-coder-1.5b --out benchmarks/results/consensus_paper_real.json
    python benchmarks/consensus.py --judges smollm2-135m --model smollm2-135m    # quick look on the sample

The load average before and after is recorded: timings on a shared machine are only comparable within
one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accord.consensus.data import load_tasks, resolve_data_dir  # noqa: E402
from accord.consensus.drafting import draft_resolutions, pick_example  # noqa: E402
from accord.consensus.judge import JUDGE_SYSTEM, judge_resolution, judge_texts  # noqa: E402
from accord.lm import load_model  # noqa: E402
from accord.lm.base import SamplingConfig  # noqa: E402
from accord.runs import versions  # noqa: E402

DIGIT = re.compile(r"(?<![0-9])([0-9])(?![0-9])")


def parse_digit(text: str) -> int | None:
    match = DIGIT.search(text)
    return int(match.group(1)) if match else None


def naive_judge(lm, task, resolution: str, tokens: int, retries: int, seed: int) -> dict:
    """Ask each party separately; re-ask (sampled) on an answer without a digit."""
    common, specifics = judge_texts(task, resolution)
    scores, answers, invalid = [], 0, 0
    for party, specific in enumerate(specifics):
        prompt = lm.chat_prompt(common + specific, system=JUDGE_SYSTEM)
        score = None
        for attempt in range(retries):
            sampling = SamplingConfig(max_new_tokens=tokens, temperature=0.0 if attempt == 0 else 0.7,
                                      seed=seed + 1000 * party + attempt)
            text = lm.generate([prompt], sampling)[0].text
            answers += 1
            score = parse_digit(text)
            if score is not None:
                break
            invalid += 1
        scores.append(score)
    return {"scores": scores, "answers": answers, "invalid": invalid,
            "unusable": sum(score is None for score in scores)}


def bench_judges(lm, tasks, args) -> dict:
    judgements = sum(task.k for task in tasks)
    # warm-up, untimed: the first calls size llama.cpp's context and batch buffers
    judge_resolution(lm, tasks[0], tasks[0].resolution)
    naive_judge(lm, tasks[0], tasks[0].resolution, args.naive_tokens, 1, args.seed)
    start = time.perf_counter()
    constrained = [judge_resolution(lm, task, task.resolution)[0] for task in tasks]
    constrained_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = [naive_judge(lm, task, task.resolution, args.naive_tokens, args.retries, args.seed) for task in tasks]
    naive_s = time.perf_counter() - start
    pairs = [(vote.score, score) for votes, result in zip(constrained, naive)
             for vote, score in zip(votes, result["scores"]) if score is not None]
    answers = sum(r["answers"] for r in naive)
    return {
        "tasks": len(tasks), "judgements": judgements,
        "constrained": {"seconds": round(constrained_s, 3), "judgements_per_s": round(judgements / constrained_s, 3),
                        "unusable": sum(v.score is None for votes in constrained for v in votes)},
        "naive": {"seconds": round(naive_s, 3), "judgements_per_s": round(judgements / naive_s, 3),
                  "answers": answers, "invalid_answers": sum(r["invalid"] for r in naive),
                  "invalid_rate": round(sum(r["invalid"] for r in naive) / max(answers, 1), 4),
                  "unusable": sum(r["unusable"] for r in naive), "max_attempts": args.retries,
                  "answer_tokens": args.naive_tokens},
        "speedup": round(naive_s / constrained_s, 2),
        "agreement": round(sum(a == b for a, b in pairs) / len(pairs), 3) if pairs else None,
    }


DRAFT_RUNS = {"pref": ("pref", True, {}), "la": ("la", True, {}), "amulet": ("amulet", True, {}),
              "la_unshared": ("la", False, {}), "amulet_unshared": ("amulet", False, {}),
              "la_plausible": ("la", True, {"plausibility": 0.1}),
              "amulet_plausible": ("amulet", True, {"plausibility": 0.1})}
"""name -> (method, share_prefix, method options) of the drafting runs."""


def timed_drafts(lm, tasks, goals, examples, name, sampling):
    method, share, options = DRAFT_RUNS[name]
    if hasattr(lm, "share_prefix"):
        lm.share_prefix = share
    start = time.perf_counter()
    drafts = draft_resolutions(lm, tasks, goals, method, sampling, examples, method_overrides=options)
    seconds = time.perf_counter() - start
    if hasattr(lm, "share_prefix"):
        lm.share_prefix = True
    return drafts, seconds


def bench_drafts(lm, tasks, pool, args) -> dict:
    """Each drafting run of --draft-runs on the same tasks (two_thirds goal, the paper's one-shot example).

    Speed (--fixed-length, the default): stop tokens are ignored, so every draft has exactly --max-new-tokens
    tokens and the runs do the same number of steps; each run is also timed with one new token (its prefill),
    which splits its time into prefill and decoding steps. Costs are relative to pref. Whether sharing changed
    any token is checked on the fixed-length drafts. Lengths (--lengths): the drafts with stop tokens honoured,
    their token counts and texts (where la/amulet end)."""
    import random

    examples = [pick_example(task, pool, random.Random(f"{args.seed}|{task.key}")) for task in tasks]
    goals = ["two_thirds"] * len(tasks)
    names = [name for name in args.draft_runs.split(",") if name]
    draft_resolutions(lm, tasks[:1], goals[:1], "amulet", SamplingConfig(max_new_tokens=2), examples[:1])  # warm-up
    found = {"fixed_length": args.fixed_length, "max_new_tokens": args.max_new_tokens, "tasks": len(tasks)}
    texts = {}
    stop_ids = lm.stop_ids
    if args.fixed_length:
        lm.stop_ids = set()  # every draft runs the whole budget: equal token counts for every method
    try:
        for name in names if args.max_new_tokens > 0 else []:  # --max-new-tokens 0: lengths only
            _, prefill = timed_drafts(lm, tasks, goals, examples, name, SamplingConfig(max_new_tokens=1))
            drafts, seconds = timed_drafts(lm, tasks, goals, examples, name,
                                           SamplingConfig(max_new_tokens=args.max_new_tokens))
            texts[name] = [d.text for d in drafts]
            count = sum(d.num_tokens for d in drafts)
            steps = max(max(d.num_tokens for d in drafts) - 1, 1)
            found[name] = {"drafts": len(drafts), "seconds": round(seconds, 3), "tokens": count,
                           "prefill_seconds": round(prefill, 3),
                           "seconds_per_step": round((seconds - prefill) / steps, 4),
                           "seconds_per_token": round(seconds / max(count, 1), 4)}
            print(f"  {name}: {found[name]}", flush=True)
    finally:
        lm.stop_ids = stop_ids
    if "pref" in found:
        for name in [name for name in names if name in found]:
            if name != "pref":
                found[f"{name}_cost_vs_pref"] = round(found[name]["seconds"] / found["pref"]["seconds"], 2)
                found[f"{name}_step_cost_vs_pref"] = round(found[name]["seconds_per_step"]
                                                           / found["pref"]["seconds_per_step"], 2)
    for method in ("la", "amulet"):
        if method in texts and f"{method}_unshared" in texts:
            found[f"{method}_same_text_with_sharing"] = texts[method] == texts[f"{method}_unshared"]
    if args.lengths:
        found["lengths"] = {}
        for name in names:
            if name.endswith("_unshared"):
                continue
            drafts, seconds = timed_drafts(lm, tasks, goals, examples, name,
                                           SamplingConfig(max_new_tokens=args.lengths))
            found["lengths"][name] = {"tokens": [d.num_tokens for d in drafts],
                                      "finish": [d.finish_reason for d in drafts],
                                      "texts": [d.text for d in drafts]}
            print(f"  {name} lengths: {found['lengths'][name]['tokens']}", flush=True)
    return found


def bench_judge_model(name, root, args) -> dict:
    lm = load_model(name, backend=args.backend)
    found = {"backend": lm.backend}
    for k in [int(part) for part in args.parties.split(",")]:
        tasks = load_tasks(root, k)[:args.limit]
        found[str(k)] = result = bench_judges(lm, tasks, args)
        print(f"judge {name}, {k} parties: constrained {result['constrained']['judgements_per_s']} judgements/s, "
              f"naive {result['naive']['judgements_per_s']} -> {result['speedup']}x; naive invalid answers "
              f"{result['naive']['invalid_rate']:.1%}, unusable {result['naive']['unusable']} vs "
              f"{result['constrained']['unusable']}; agreement {result['agreement']}", flush=True)
    close = getattr(lm, "close", None)
    if close:
        close()
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="drafting model")
    parser.add_argument("--judges", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b",
                        help="judge models, comma list (default both packaged Qwen models)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--data", help="EuroCon folder (default: $ACCORD_EUROCON or the shipped sample)")
    parser.add_argument("--parties", default="2,4,6", help="party counts of the judge benchmark (default 2,4,6)")
    parser.add_argument("--draft-parties", type=int, default=4, help="party count of the drafting benchmark")
    parser.add_argument("--limit", type=int, default=3, help="tasks per party count (default 3)")
    parser.add_argument("--naive-tokens", type=int, default=8, help="naive judge answer length (default 8)")
    parser.add_argument("--retries", type=int, default=10, help="naive judge attempts per party (default 10)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="draft length of the timed runs (default 48; 0: no timing, --lengths only)")
    parser.add_argument("--draft-runs", default="pref,la,amulet,la_unshared,amulet_unshared",
                        help=f"drafting runs, comma list of {', '.join(DRAFT_RUNS)}")
    parser.add_argument("--fixed-length", action=argparse.BooleanOptionalAction, default=True,
                        help="time drafts with stop tokens ignored, so every run has the same tokens (default on)")
    parser.add_argument("--lengths", type=int, default=0,
                        help="also draft with stop tokens honoured, up to this many tokens, and record lengths")
    parser.add_argument("--skip-drafts", action="store_true")
    parser.add_argument("--skip-judges", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "consensus.json"))
    args = parser.parse_args(argv)
    unknown = [name for name in args.draft_runs.split(",") if name and name not in DRAFT_RUNS]
    if unknown:
        parser.error(f"unknown drafting run(s) {', '.join(unknown)}; choose from {', '.join(DRAFT_RUNS)}")

    root = resolve_data_dir(args.data)
    report = {"protocol": "paper", "drafter": args.model, "data": str(root), "versions": versions(),
              "cpus": os.cpu_count(), "load_average_before": os.getloadavg(), "judges": {}, "drafts": {},
              "settings": vars(args)}
    if not args.skip_drafts:
        lm = load_model(args.model, backend=args.backend)
        pool = load_tasks(root, args.draft_parties)
        report["drafts"] = drafts = bench_drafts(lm, pool[:args.limit], pool, args)
        report["drafts"]["parties"] = args.draft_parties
        report["drafts"]["threads"] = getattr(lm, "n_threads", None)
        print(f"drafting ({args.draft_parties} parties, {args.limit} tasks, {lm.backend}): "
              + ", ".join(f"{k} {v}" for k, v in drafts.items() if "cost" in k or "same" in k), flush=True)
        if getattr(lm, "close", None):
            lm.close()
    if not args.skip_judges:
        for name in [part for part in args.judges.split(",") if part]:
            report["judges"][name] = bench_judge_model(name, root, args)
    report["load_average_after"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
