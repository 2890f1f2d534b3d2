"""`accord values`: value understanding (ValueDCG, Zhang et al. 2023, arXiv 2310.00378): know what
(does the model recognise the value?) against know why (can it explain it?), and the gap between them.

    accord values run                                   # paper protocol, shipped sample, 0.5B judged by 1.5B
    accord values run --values schwartz --limit 20 --data ../shared/data/valuedcg --out runs/v
    accord values run --protocol accord ...             # accord's earlier prompts (see docs/values.md)
    accord values validate-judge --run runs/v           # known-answer check of the know-why judge
    accord values report runs/v                         # table, judge validation line, values.png, report.html
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    from accord.cli import add_model_arguments, positive_int
    from accord.values.protocols import PROTOCOLS

    parser = subparsers.add_parser("values", help="value understanding: know what vs know why (ValueDCG)")
    sub = parser.add_subparsers(dest="values_command", metavar="ACTION")

    run = sub.add_parser("run", help="ask, explain and judge; results append to OUT/results.jsonl (resumable)")
    add_model_arguments(run, role="model under test")
    run.add_argument("--judge", help="model that rates the explanations (default: a packaged model other than "
                                     "--model: qwen2.5-coder-1.5b, or qwen2.5-coder-0.5b when that is --model)")
    run.add_argument("--protocol", choices=PROTOCOLS, default="paper",
                     help="paper (ValueDCG's prompts, 0-5 judge; default) or accord (earlier accord prompts)")
    run.add_argument("--values", default="all",
                     help="all, schwartz, ethics, or comma-separated names such as power,benevolence,justice "
                          "(default all)")
    run.add_argument("--data", help="directory of valuenet_<VALUE>.csv / ethics_<subset>.csv "
                                    "(default $ACCORD_VALUEDCG, else the shipped sample)")
    run.add_argument("--limit", type=positive_int, help="items per value (seeded random subset; default all rows)")
    run.add_argument("--shots", type=int, help="few-shot examples per question (default: paper 4, accord 3)")
    run.add_argument("--seed", type=int, default=0, help="seed of item selection, shots and bootstrap (default 0)")
    run.add_argument("--why-tokens", type=positive_int,
                     help="max new tokens per explanation (paper: the whole answer, default 200; accord: per "
                          "part, default 48, cut to 30 words)")
    run.add_argument("--batch-size", type=positive_int, default=4, help="items per batch (default 4)")
    run.add_argument("--out", default="runs/values", help="run directory (default runs/values)")
    run.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    run.set_defaults(func=run_command)

    check = sub.add_parser("validate-judge", help="known-answer check of the know-why judge: own explanation vs "
                                                  "one written for another item / another value")
    add_model_arguments(check, role="judge", default="qwen2.5-coder-1.5b", flag="--judge")
    check.add_argument("--run", help="take items, explanations and protocol from this finished run")
    check.add_argument("--writer", help="without --run: the model that writes the explanations "
                                        "(default qwen2.5-coder-0.5b)")
    check.add_argument("--protocol", choices=PROTOCOLS, default="paper", help="without --run (default paper)")
    check.add_argument("--values", default="schwartz", help="without --run: values to draw items from")
    check.add_argument("--data", help="without --run: data directory (default $ACCORD_VALUEDCG, else the sample)")
    check.add_argument("--limit", type=positive_int, default=40, help="items (default 40)")
    check.add_argument("--seed", type=int, default=0, help="seed of item and contrast choice (default 0)")
    check.add_argument("--batch-size", type=positive_int, default=8,
                       help="items per judge batch, three prompts each (default 8)")
    check.set_defaults(func=validate_command)

    report = sub.add_parser("report", help="table, PNG chart and self-contained HTML of a run directory")
    report.add_argument("run_dir", help="directory written by `accord values run`")
    report.add_argument("--json", action="store_true", help="print the summary as JSON instead of the table")
    report.set_defaults(func=report_command)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def default_judge(model: str) -> str:
    """A packaged model other than the model under test: the 1.5B, or the 0.5B when the 1.5B is tested."""
    return "qwen2.5-coder-0.5b" if model == "qwen2.5-coder-1.5b" else "qwen2.5-coder-1.5b"


def run_command(args) -> int:
    from accord.lm import load_model
    from accord.runs import write_run_metadata
    from accord.values.report import write_report
    from accord.values.run import prepare, run_values

    plan = prepare(data=args.data, values=args.values, limit=args.limit, seed=args.seed, shots=args.shots,
                   why_tokens=args.why_tokens, protocol=args.protocol)
    judge_name = args.judge or default_judge(args.model)
    settings = plan.settings(model=args.model, judge=judge_name, backend=args.backend)
    write_run_metadata(args.out, settings)  # refuses changed settings before any model is loaded
    print(f"accord: {len(plan.items)} items over {len(plan.values)} values from {plan.directory}; protocol "
          f"{plan.protocol.name}; judge {judge_name}" + (" (the model under test judges itself)"
                                                        if judge_name == args.model else ""), flush=True)
    lm = load_model(args.model, backend=args.backend, device=args.device, dtype=args.dtype)
    judge = lm if judge_name == args.model else load_model(judge_name, backend=args.backend, device=args.device,
                                                           dtype=args.dtype)
    run_values(lm, judge, plan, args.out, batch_size=args.batch_size, settings=settings)
    if not args.no_report:
        summary = write_report(args.out)
        print(summary["table"])
        print(summary["judge_line"])
        print(f"accord: wrote {args.out}/report.html, values.png, report.json")
    return 0


def validate_command(args) -> int:
    from accord.lm import load_model
    from accord.values import know_why, know_why_paper
    from accord.values.definitions import resolve_values
    from accord.values.protocols import get_protocol
    from accord.values.run import judge_validation_key, prepare
    from accord.values.validate import format_checks, items_from_run, report_line, validate_judge

    if args.run:
        settings, items, explanations, own = items_from_run(args.run, limit=args.limit)
        protocol = get_protocol(settings.get("protocol", "accord"))
        source = {"run": str(args.run), "writer": settings.get("model")}
    else:
        per_value = -(-args.limit // len(resolve_values(args.values)))  # round robin: every value is represented
        plan = prepare(data=args.data, values=args.values, limit=per_value, seed=args.seed, protocol=args.protocol)
        protocol = plan.protocol
        items = plan.items[:args.limit]
        writer_name = args.writer or "qwen2.5-coder-0.5b"
        source = {"writer": writer_name, "data": str(plan.directory), "values": plan.values}
    key = judge_validation_key(args.judge, protocol)
    # the run's own ratings are this judge's when its setting is the same: only the contrasts are scored
    own_scores = own if args.run and settings.get("judge_key") == key else None
    print(f"accord: validating judge {args.judge} ({protocol.name} protocol) on {len(items)} items", flush=True)
    if not args.run:
        writer = load_model(writer_name, backend=args.backend, device=args.device, dtype=args.dtype)
        if protocol.one_explanation:
            explanations = know_why_paper.explain(writer, items, protocol)
        else:
            explanations = know_why.explain(writer, items)
    judge = load_model(args.judge, backend=args.backend, device=args.device, dtype=args.dtype)
    result = validate_judge(judge, args.judge, protocol, items, explanations, key, seed=args.seed,
                            batch_size=args.batch_size, progress=True, extra={"source": source},
                            own_scores=own_scores)
    print(format_checks(result["checks"]))
    print(f"mean score (0-5 scale of the protocol): own explanation {result['own_mean']:.3f}, "
          f"other explanations {result['other_mean']:.3f}")
    print(report_line(key, args.judge, "accord values validate-judge"))
    print(f"accord: wrote {result['path']}")
    return 0



def report_command(args) -> int:
    from accord.values.report import write_report

    summary = write_report(args.run_dir)
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "table"}, indent=2))
    else:
        print(summary["table"])
        print(summary["judge_line"])
        print(f"accord: wrote {args.run_dir}/report.html, values.png, report.json, report.md")
    return 0
