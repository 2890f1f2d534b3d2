"""`accord consensus`: the political consensus benchmark (EuroCon / PoliCon, Zhang et al., arXiv 2505.19558).

    accord consensus run                     # the shipped sample, the paper's protocol, drafter qwen2.5-coder-0.5b,
                                             # judge qwen2.5-coder-1.5b, method pref, all five goals
    accord consensus run --data PATH --parties 2 --goal two_thirds --method amulet \\
        --model qwen2.5-coder-0.5b --judge qwen2.5-coder-1.5b --limit 20 --out runs/x
    accord consensus validate-judge --judge qwen2.5-coder-1.5b --data PATH --limit 30
    accord consensus rejudge runs/x --judge qwen2.5-coder-1.5b --out runs/x-judge1.5b
    accord consensus report runs/x
    accord consensus build-tasks --data PATH --out DIR --seed 0     # tasks/{2,4,6} from topics/

A model may also be an OpenAI-compatible server: --model http://127.0.0.1:8080/v1#model-name.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from accord.errors import AccordError


def parse_parties(text: str) -> list[int]:
    from accord.consensus.data import PARTY_COUNTS

    if text.strip() == "all":
        return list(PARTY_COUNTS)
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise AccordError(f"--parties expects 2, 4, 6, a comma list or all; got {text!r}") from None
    if not counts or any(k not in PARTY_COUNTS for k in counts):
        raise AccordError(f"--parties expects 2, 4, 6, a comma list or all; got {text!r}")
    return list(dict.fromkeys(counts))


def register(subparsers) -> None:
    from accord.cli import add_model_arguments, parse_shard, positive_int
    from accord.consensus.protocols import DEFAULT_PROTOCOL, PROTOCOLS
    from accord.consensus.run import DEFAULT_JUDGE, DEFAULT_VOTE, VOTE_READINGS
    from accord.decoding.methods import METHODS

    parser = subparsers.add_parser("consensus", help="political consensus benchmark (EuroCon): draft and vote")
    sub = parser.add_subparsers(dest="consensus_command", metavar="ACTION")

    run = sub.add_parser("run", help="draft resolutions and let the parties vote (resumable)")
    run.add_argument("--data", help="EuroCon folder (tasks/{2,4,6}, topics/); default $ACCORD_EUROCON, "
                                    "else the shipped fictional sample")
    run.add_argument("--parties", default="2", help="2, 4, 6, a comma list or all (default 2)")
    run.add_argument("--goal", default="all", help="simple_majority, two_thirds, veto, rawlsian, utilitarian, "
                                                   "a comma list or all (default all)")
    run.add_argument("--protocol", choices=list(PROTOCOLS), default=DEFAULT_PROTOCOL,
                     help="prompts and defaults: paper (the paper's, default) or accord (this project's earlier texts)")
    run.add_argument("--method", choices=METHODS, default="pref",
                     help="drafting method (default pref; la and amulet contrast the prompt with the goal against "
                          "the same prompt without it, two streams)")
    add_model_arguments(run, role="drafter")
    run.add_argument("--judge", default=DEFAULT_JUDGE,
                     help=f"judge model (default {DEFAULT_JUDGE}, the best-validated packaged judge; the drafter "
                          "judges only when named here)")
    run.add_argument("--vote", choices=VOTE_READINGS, default=DEFAULT_VOTE,
                     help=f"how a vote is read from the judge's digit probabilities (default {DEFAULT_VOTE})")
    run.add_argument("--limit", type=positive_int, help="at most N tasks per party count (the first N in file order)")
    run.add_argument("--sample", action="store_true",
                     help="with --limit: a seeded random subset of N tasks, across topics, instead of the first N")
    run.add_argument("--seed", type=int, default=0, help="seed (task building, sampling, examples; default 0)")
    run.add_argument("--max-new-tokens", type=positive_int,
                     help="draft length cap (default: the protocol's, 512 for paper, 120 for accord)")
    run.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    run.add_argument("--batch-size", type=positive_int, default=16, help="drafts decoded together (default 16)")
    run.add_argument("--plausibility", type=float, default=0.0, metavar="BETA",
                     help="la / amulet: keep only tokens the goal stream finds plausible, p >= BETA * max p "
                          "(Contrastive Decoding's constraint; default 0 = off, the published update)")
    run.add_argument("--shard", type=parse_shard, default=(1, 1), metavar="K/N",
                     help="run every N-th task from the K-th, so N processes (one per core) can fill one --out "
                          "folder together (default 1/1: all tasks)")
    run.add_argument("--one-shot", action=argparse.BooleanOptionalAction, default=None,
                     help="show the adopted resolution of another record of the same topic as an example "
                          "(default: the protocol's, on for paper)")
    run.add_argument("--candidates", type=positive_int, default=1,
                     help="drafts per task and goal; above 1 every party's judge scores each and --select keeps "
                          "one (needs --temperature > 0; docs/consensus.md, selection)")
    run.add_argument("--select", default="auto", metavar="RULE",
                     help="with --candidates > 1: auto (matched to the goal), seat-weighted, utilitarian, rawlsian, "
                          "nash, plurality, borda, copeland, condorcet, kemeny or maximal-lottery")
    run.add_argument("--skip-invalid", action="store_true", help="skip malformed records with a warning")
    run.add_argument("--from-topics", action="store_true", help="build tasks from topics/ (seeded) instead of tasks/")
    run.add_argument("--out", help="run folder (default runs/consensus/<data>-<settings>)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=run_command)

    report = sub.add_parser("report", help="tables, bootstrap intervals, chart and HTML page of a run")
    report.add_argument("run_dir", help="the run folder")
    report.add_argument("--no-topics", action="store_true", help="only the all-topics rows")
    report.add_argument("--json", action="store_true", help="print the summary as JSON")
    report.set_defaults(func=report_command)

    rejudge = sub.add_parser("rejudge", help="let another judge (or the current judge prompt) vote again on the "
                                             "drafts of a run, into a new run folder (resumable)")
    rejudge.add_argument("run_dir", help="the run whose drafts are judged")
    add_model_arguments(rejudge, role="judge", default=DEFAULT_JUDGE, flag="--judge")
    rejudge.add_argument("--out", required=True, help="new run folder")
    rejudge.add_argument("--no-progress", action="store_true", help="no progress bar")
    rejudge.set_defaults(func=rejudge_command)

    check = sub.add_parser("validate-judge", help="check a judge on known-answer contrasts (side, relevance, real "
                                                  "votes) for both vote readings; cached, shown by run and report")
    add_model_arguments(check, role="judge", default=DEFAULT_JUDGE, flag="--judge")
    check.add_argument("--protocol", choices=list(PROTOCOLS), default=DEFAULT_PROTOCOL,
                       help="whose judge texts (default paper)")
    check.add_argument("--data", help="EuroCon folder (default $ACCORD_EUROCON, else the shipped sample)")
    check.add_argument("--limit", type=positive_int, default=30,
                       help="two-party tasks, a seeded random subset across topics (default 30)")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--out", help="folder for validation.json, validation.txt and items.jsonl (appended as "
                                     "tasks finish; a rerun resumes) (default runs/validate-judge/<judge>-<protocol>)")
    check.add_argument("--no-progress", action="store_true", help="no progress bar")
    check.set_defaults(func=validate_command)

    build = sub.add_parser("build-tasks", help="write tasks/{2,4,6} from topics/ with the benchmark's rule")
    build.add_argument("--data", help="folder with topics/ (default $ACCORD_EUROCON or the sample)")
    build.add_argument("--out", required=True, help="folder to write tasks/ into")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--skip-invalid", action="store_true", help="skip malformed records with a warning")
    build.set_defaults(func=build_command)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", Path(text.split("#")[-1]).name if "://" in text else Path(text).name).strip("-")


def run_command(args) -> int:
    from accord.consensus.data import resolve_data_dir
    from accord.consensus.goals import parse_goals
    from accord.consensus.report import make_report
    from accord.consensus.run import RunConfig, run_consensus
    from accord.lm import load_model

    config = RunConfig(data=args.data, parties=parse_parties(args.parties), goals=parse_goals(args.goal),
                       protocol=args.protocol, vote=args.vote,
                       method=args.method, model=args.model, judge=args.judge, backend=args.backend,
                       dtype=args.dtype, limit=args.limit, sample=args.sample, seed=args.seed,
                       max_new_tokens=args.max_new_tokens,
                       temperature=args.temperature, batch_size=args.batch_size, one_shot=args.one_shot,
                       candidates=args.candidates, select_rule=args.select,
                       skip_invalid=args.skip_invalid, from_topics=args.from_topics, shard=args.shard,
                       plausibility=args.plausibility)
    root = resolve_data_dir(config.data)
    out = args.out or str(Path("runs") / "consensus" / "-".join([
        _slug(str(root)), "p" + "+".join(map(str, config.parties)),
        "all" if len(config.goals) == 5 else "+".join(config.goals), config.protocol, config.method,
        _slug(config.model), _slug(config.judge), config.vote, f"s{config.seed}"]
        + ([f"{'r' if config.sample else 'n'}{config.limit}"] if config.limit else [])
        + ([f"c{config.candidates}-{config.select_rule}"] if config.candidates > 1 else [])))
    drafter = load_model(config.model, backend=config.backend, dtype=config.dtype, device=args.device)
    judge = drafter if config.judge == config.model else load_model(
        config.judge, backend=config.backend, dtype=config.dtype, device=args.device)
    run_consensus(config, out, drafter, judge, progress=not args.no_progress)
    text, _ = make_report(out, seed=config.seed, topics=False)
    print(f"results: {Path(out) / 'results.jsonl'}")
    print(text)
    return 0


def rejudge_command(args) -> int:
    from accord.consensus.report import make_report
    from accord.consensus.run import rejudge_run, source_run_settings
    from accord.lm import load_model

    source_run_settings(args.run_dir, args.out)  # a bad folder fails before the model loads
    judge = load_model(args.judge, backend=args.backend, dtype=args.dtype, device=args.device)
    rejudge_run(args.run_dir, args.out, judge, progress=not args.no_progress)
    text, _ = make_report(args.out, topics=False)
    print(f"results: {Path(args.out) / 'results.jsonl'}")
    print(text)
    return 0


def report_command(args) -> int:
    import json

    from accord.consensus.report import make_report

    text, summary = make_report(args.run_dir, topics=not args.no_topics)
    print(json.dumps(summary, indent=1) if args.json else text)
    return 0


def validate_command(args) -> int:
    import json
    from dataclasses import asdict

    from accord.consensus.protocols import get_protocol
    from accord.consensus.run import model_settings
    from accord.consensus.validate import format_validation, validate_judge
    from accord.lm import load_model

    protocol = get_protocol(args.protocol)
    out = Path(args.out or Path("runs") / "validate-judge" / f"{_slug(args.judge)}-{protocol.name}")
    judge = load_model(args.judge, backend=args.backend, dtype=args.dtype, device=args.device)
    result = validate_judge(judge, model_settings(judge), protocol, data=args.data, limit=args.limit,
                            seed=args.seed, progress=not args.no_progress, out_dir=out)
    table = format_validation(result["checks"], result["correlations"])
    record = dict(result, judge=model_settings(judge), checks=[asdict(c) for c in result["checks"]])
    (out / "validation.json").write_text(json.dumps(record, indent=1, ensure_ascii=False))
    (out / "validation.txt").write_text(table + "\n")
    print(f"judge {judge.name} · protocol {protocol.name} · {result['tasks']} two-party tasks from {result['data']}")
    print(table)
    print(f"written: {out / 'validation.json'}, {out / 'validation.txt'}; cached: {result['cache']}")
    return 0


def build_command(args) -> int:
    from accord.consensus.data import load_topics, resolve_data_dir, write_tasks

    root = resolve_data_dir(args.data)
    written = write_tasks(load_topics(root, skip_invalid=args.skip_invalid), args.out, seed=args.seed)
    print(f"wrote {len(written)} task files under {Path(args.out) / 'tasks'}")
    return 0
