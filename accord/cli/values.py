"""`accord values`: value understanding (ValueDCG, Zhang et al. 2023, arXiv 2310.00378): know what
(does the model recognise the value?) against know why (can it explain it?), and the gap between them.

    accord values run                                   # shipped sample, default model judging itself
    accord values run --model qwen2.5-coder-0.5b --judge qwen2.5-coder-1.5b --values all --limit 50 --out runs/v
    accord values report runs/v                         # table + values.png + report.html
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    from accord.cli import add_model_arguments, positive_int

    parser = subparsers.add_parser("values", help="value understanding: know what vs know why (ValueDCG)")
    sub = parser.add_subparsers(dest="values_command", metavar="ACTION")

    run = sub.add_parser("run", help="ask, explain and judge; results append to OUT/results.jsonl (resumable)")
    add_model_arguments(run, role="model under test")
    run.add_argument("--judge", help="model that rates the explanations (default: the model itself)")
    run.add_argument("--values", default="all",
                     help="all, schwartz, ethics, or comma-separated names such as power,benevolence,justice "
                          "(default all)")
    run.add_argument("--data", help="directory of valuenet_<VALUE>.csv / ethics_<subset>.csv "
                                    "(default $ACCORD_VALUEDCG, else the shipped sample)")
    run.add_argument("--limit", type=positive_int, help="items per value (seeded random subset; default all rows)")
    run.add_argument("--shots", type=int, default=3, help="few-shot examples per question (default 3)")
    run.add_argument("--seed", type=int, default=0, help="seed of item selection, shots and bootstrap (default 0)")
    run.add_argument("--why-tokens", type=positive_int, default=48,
                     help="max new tokens per explanation part (default 48; parts are cut to 30 words)")
    run.add_argument("--batch-size", type=positive_int, default=4, help="items per batch (default 4)")
    run.add_argument("--out", default="runs/values", help="run directory (default runs/values)")
    run.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    run.set_defaults(func=run_command)

    report = sub.add_parser("report", help="table, PNG chart and self-contained HTML of a run directory")
    report.add_argument("run_dir", help="directory written by `accord values run`")
    report.add_argument("--json", action="store_true", help="print the summary as JSON instead of the table")
    report.set_defaults(func=report_command)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def run_command(args) -> int:
    from accord.lm import load_model
    from accord.runs import write_run_metadata
    from accord.values.report import write_report
    from accord.values.run import prepare, run_values

    plan = prepare(data=args.data, values=args.values, limit=args.limit, seed=args.seed, shots=args.shots,
                   why_tokens=args.why_tokens)
    judge_name = args.judge or args.model
    settings = plan.settings(model=args.model, judge=judge_name, backend=args.backend)
    write_run_metadata(args.out, settings)  # refuses changed settings before any model is loaded
    print(f"accord: {len(plan.items)} items over {len(plan.values)} values from {plan.directory}", flush=True)
    lm = load_model(args.model, backend=args.backend, device=args.device, dtype=args.dtype)
    judge = lm if judge_name == args.model else load_model(judge_name, backend=args.backend, device=args.device,
                                                           dtype=args.dtype)
    run_values(lm, judge, plan, args.out, batch_size=args.batch_size, settings=settings)
    if not args.no_report:
        summary = write_report(args.out)
        print(summary["table"])
        print(f"accord: wrote {args.out}/report.html, values.png, report.json")
    return 0


def report_command(args) -> int:
    from accord.values.report import write_report

    summary = write_report(args.run_dir)
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "table"}, indent=2))
    else:
        print(summary["table"])
        print(f"accord: wrote {args.run_dir}/report.html, values.png, report.json, report.md")
    return 0
