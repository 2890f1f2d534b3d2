"""Benchmark of the consensus pipeline: the constrained-choice judge vs a naive free-text judge, and
drafting speed of base vs amulet, on the same model and tasks.

- constrained: one `choice_logprobs` call per resolution; background + resolution are the shared prefix
  (computed once), each party's stance + question a suffix; the score is read from the ten digit
  log-probabilities (never unusable).
- naive (like the benchmark's original code): every party is asked separately with the full prompt,
  generates a short answer, a digit is parsed from it; an answer without a digit is asked again (sampled,
  up to --retries times in all) and counts as unusable if none gives a digit.

Both judge the adopted resolution of each task (the same texts for both), after one untimed warm-up call
of each (the first call sizes llama.cpp's buffers). Drafting: the same tasks with
the two_thirds goal, one batch per method. Results go to benchmarks/results/consensus.json.

    python benchmarks/consensus.py                                 # qwen2.5-coder-0.5b, sample, 4 and 6 parties
    python benchmarks/consensus.py --data /work/shared/data/eurocon --limit 3 --parties 4,6
    python benchmarks/consensus.py --model smollm2-135m --skip-drafts

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
from accord.consensus.drafting import draft_resolutions  # noqa: E402
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


def bench_drafts(lm, tasks, args) -> dict:
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens)
    found = {}
    for method in ("base", "amulet"):
        start = time.perf_counter()
        drafts = draft_resolutions(lm, tasks, ["two_thirds"] * len(tasks), method, sampling)
        seconds = time.perf_counter() - start
        tokens = sum(d.num_tokens for d in drafts)
        found[method] = {"drafts": len(drafts), "seconds": round(seconds, 3),
                         "drafts_per_s": round(len(drafts) / seconds, 4), "tokens_per_s": round(tokens / seconds, 2)}
    found["amulet_cost"] = round(found["amulet"]["seconds"] / found["base"]["seconds"], 2)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--data", help="EuroCon folder (default: $ACCORD_EUROCON or the shipped sample)")
    parser.add_argument("--parties", default="4,6", help="party counts, comma list (default 4,6)")
    parser.add_argument("--limit", type=int, default=3, help="tasks per party count (default 3)")
    parser.add_argument("--naive-tokens", type=int, default=8, help="naive judge answer length (default 8)")
    parser.add_argument("--retries", type=int, default=10, help="naive judge attempts per party (default 10)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="draft length (default 48)")
    parser.add_argument("--skip-drafts", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "consensus.json"))
    args = parser.parse_args(argv)

    root = resolve_data_dir(args.data)
    lm = load_model(args.model, backend=args.backend)
    report = {"model": args.model, "backend": lm.backend, "data": str(root), "versions": versions(),
              "cpus": os.cpu_count(), "load_average_before": os.getloadavg(), "judges": {}, "drafts": {}}
    for k in [int(part) for part in args.parties.split(",")]:
        tasks = load_tasks(root, k)[:args.limit]
        report["judges"][str(k)] = result = bench_judges(lm, tasks, args)
        print(f"{k} parties: constrained {result['constrained']['judgements_per_s']} judgements/s, naive "
              f"{result['naive']['judgements_per_s']} -> {result['speedup']}x; naive invalid answers "
              f"{result['naive']['invalid_rate']:.1%}, unusable {result['naive']['unusable']} vs "
              f"{result['constrained']['unusable']}; agreement {result['agreement']}", flush=True)
        if not args.skip_drafts:
            report["drafts"][str(k)] = drafts = bench_drafts(lm, tasks, args)
            print(f"{k} parties: drafts/s base {drafts['base']['drafts_per_s']}, amulet "
                  f"{drafts['amulet']['drafts_per_s']} (amulet costs {drafts['amulet_cost']}x)", flush=True)
    report["load_average_after"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
