"""`accord pbrl`: zero-shot preference transfer across tasks (PEARL, Liu et al. ICML 2024, arXiv 2306.03615).

    accord pbrl transfer                                     # GW label transfer on the point-mass pair: accuracy
    accord pbrl run --seeds 3 --out runs/pbrl                # every method, resumable; then the report
    accord pbrl report runs/pbrl                             # table + runs/pbrl/pbrl.png
    accord pbrl run --env metaworld --pair "button-press-topdown-v3->button-press-v3"   # needs accord[metaworld]
"""

from __future__ import annotations

import json


def _seeds(text: str) -> list[int]:
    """"3" -> [0, 1, 2]; "4,7" -> [4, 7]."""
    import argparse

    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a comma-separated list of seeds, got {text!r}") from None
    if count <= 0:
        raise argparse.ArgumentTypeError(f"need at least one seed, got {count}")
    return list(range(count))


def _add_data_arguments(parser) -> None:
    from accord.cli import positive_int

    parser.add_argument("--env", default="pointmass", help="pointmass | metaworld (default pointmass)")
    parser.add_argument("--pair", default="", help="task pair SOURCE->TARGET (metaworld; default the env's own)")
    parser.add_argument("--episodes", type=positive_int, default=200, help="episodes per domain (default 200)")
    parser.add_argument("--segment-length", type=positive_int, default=20, help="steps per segment (default 20)")
    parser.add_argument("--data-mix", default="standard",
                        help="scripted data mix: standard, or decoy (metaworld: the harder level; default standard)")
    parser.add_argument("--source-flip", type=float, default=0.0,
                        help="probability of flipping each scripted source label (default 0)")
    parser.add_argument("--target-pairs", type=positive_int, default=2000,
                        help="target pairs given transferred labels (default 2000)")


def register(subparsers) -> None:
    from accord.cli import positive_float, positive_int

    parser = subparsers.add_parser("pbrl", help="zero-shot preference transfer across tasks (PEARL)")
    sub = parser.add_subparsers(dest="pbrl_command", metavar="ACTION")

    transfer = sub.add_parser("transfer", help="GW label transfer only: accuracy and time of exact/entropic GW")
    _add_data_arguments(transfer)
    transfer.add_argument("--gw", default="exact,entropic", help="GW solvers to compare (default exact,entropic)")
    transfer.add_argument("--gw-epsilon", type=positive_float, default=5e-3, help="entropic regularisation")
    transfer.add_argument("--seeds", type=_seeds, default=[0], help="count or list of seeds (default 1)")
    transfer.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    transfer.set_defaults(func=transfer_command)

    run = sub.add_parser("run", help="PEARL and baselines per seed; results append to OUT/results.jsonl")
    _add_data_arguments(run)
    run.add_argument("--gw", default="exact", choices=["exact", "entropic"], help="GW solver (default exact)")
    run.add_argument("--gw-epsilon", type=positive_float, default=5e-3, help="entropic regularisation")
    run.add_argument("--seeds", type=_seeds, default=list(range(3)), help="count or list of seeds (default 3)")
    run.add_argument("--methods", default="pearl,pt,mlp,oracle,bc,true_reward",
                     help="comma-separated subset of pearl,pt,mlp,oracle,bc,true_reward")
    run.add_argument("--reward-epochs", type=positive_int, default=30, help="reward-model epochs (default 30)")
    run.add_argument("--embed-dim", type=positive_int, default=64, help="transformer width (default 64)")
    run.add_argument("--std-level", type=positive_float, default=0.1,
                     help="PEARL: reward std the uncertainty regulariser holds steps above (default 0.1)")
    run.add_argument("--uncertainty-weight", type=float, default=0.1, help="PEARL: lambda of L_U (default 0.1)")
    run.add_argument("--iql-steps", type=positive_int, default=3000, help="IQL/BC gradient steps (default 3000)")
    run.add_argument("--hidden", type=positive_int, default=128, help="IQL/BC hidden width (default 128)")
    run.add_argument("--eval-episodes", type=positive_int, default=100, help="evaluation episodes (default 100)")
    run.add_argument("--threads", type=positive_int, default=1,
                     help="torch threads (default 1: small networks run faster on one core, and a shared CPU)")
    run.add_argument("--out", default="runs/pbrl", help="run directory (default runs/pbrl)")
    run.add_argument("--no-report", action="store_true", help="do not print/write the report at the end")
    run.set_defaults(func=run_command)

    report = sub.add_parser("report", help="table and PNG chart of a run directory")
    report.add_argument("run_dir", help="directory written by `accord pbrl run`")
    report.add_argument("--json", action="store_true", help="print the summary as JSON")
    report.set_defaults(func=report_command)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def _config(args):
    from accord.errors import AccordError
    from accord.pbrl.experiment import ExperimentConfig
    from accord.pbrl.iql import IQLConfig
    from accord.pbrl.rewards import RewardConfig

    if not 0.0 <= args.source_flip <= 1.0:
        raise AccordError(f"--source-flip must be a probability in [0, 1], got {args.source_flip}")
    reward, iql = RewardConfig(), IQLConfig()
    if hasattr(args, "reward_epochs"):
        reward = RewardConfig(epochs=args.reward_epochs, embed_dim=args.embed_dim, std_level=args.std_level,
                              uncertainty_weight=args.uncertainty_weight)
        iql = IQLConfig(steps=args.iql_steps, hidden=args.hidden)
    return ExperimentConfig(env=args.env, pair=args.pair, episodes=args.episodes, data_mix=args.data_mix,
                            segment_length=args.segment_length,
                            source_flip=args.source_flip, target_pairs=args.target_pairs,
                            gw_method=args.gw if args.gw in ("exact", "entropic") else "exact",
                            gw_epsilon=args.gw_epsilon, eval_episodes=getattr(args, "eval_episodes", 100),
                            reward=reward, iql=iql)


def transfer_command(args) -> int:
    from dataclasses import replace

    from accord.errors import AccordError
    from accord.pbrl.experiment import prepare_transfer

    solvers = [name.strip() for name in args.gw.split(",") if name.strip()]
    unknown = [name for name in solvers if name not in ("exact", "entropic")]
    if unknown or not solvers:
        raise AccordError(f"unknown GW solver(s) {', '.join(unknown) or '(none)'}; choose exact and/or entropic")
    config = _config(args)
    for seed in args.seeds:
        for solver in solvers:
            prepared = prepare_transfer(replace(config, gw_method=solver), seed)
            row = {"seed": seed, "gw": solver, "transfer_accuracy": round(prepared["transfer_accuracy"], 4),
                   "seconds": round(prepared["transfer_seconds"], 2), "target_pairs": len(prepared["target_pairs"])}
            print(json.dumps(row) if args.json else
                  f"seed {seed}  {solver:8s}  transferred-label accuracy {row['transfer_accuracy']:.3f}  "
                  f"({row['target_pairs']} target pairs, GW {row['seconds']:.1f} s)", flush=True)
    return 0


def run_command(args) -> int:
    import torch

    from accord.pbrl.experiment import run_experiment

    torch.set_num_threads(args.threads)
    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    run_experiment(_config(args), args.out, args.seeds, methods)
    if not args.no_report:
        return report_command(type("Args", (), {"run_dir": args.out, "json": False})())
    return 0


def report_command(args) -> int:
    from pathlib import Path

    from accord.errors import AccordError
    from accord.pbrl.report import format_table, plot, summarise
    from accord.runs import ResultStore

    path = Path(args.run_dir) / "results.jsonl"
    if not path.exists():
        raise AccordError(f"{args.run_dir} holds no results.jsonl (run `accord pbrl run --out {args.run_dir}` first)")
    records = ResultStore(path).records
    if not records:
        raise AccordError(f"{path} is empty: no finished (seed, method) yet")
    summary = summarise(records)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(format_table(summary))
    print(f"plot: {plot(summary, Path(args.run_dir) / 'pbrl.png')}")
    return 0
