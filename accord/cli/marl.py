"""`accord marl`: multi-agent credit assignment (STAS and baselines) with independent PPO.

Chen, Zhang, Yang, Du, "STAS: Spatial-Temporal Return Decomposition for Multi-agent Reinforcement
Learning", AAAI 2024, arXiv 2304.07520; code in accord/marl/.

    accord marl train --env alice-bob --credit stas --seed 0 --steps 2000000 --out runs/ab/stas-0
    accord marl train --env mpe-spread --credit uniform --scale cpu --steps 40000 --out runs/mpe/uniform-0
    accord marl report runs/ab runs/mpe            # table (stdout + report.md) and curves.png

Rerunning a train command after a kill resumes from the last checkpoint in --out.
"""

from __future__ import annotations

from pathlib import Path

from accord.errors import AccordError


def register(subparsers) -> None:
    from accord.cli import positive_int
    from accord.marl.credit import CREDITS
    from accord.marl.presets import PAPER, SCALES

    parser = subparsers.add_parser("marl", help="multi-agent credit assignment: STAS and baselines with PPO")
    sub = parser.add_subparsers(dest="marl_command", metavar="ACTION")
    train = sub.add_parser("train", help="train independent PPO on one environment with one credit scheme")
    train.add_argument("--env", required=True, choices=list(PAPER), help="alice-bob | mpe-spread")
    train.add_argument("--credit", default="stas", choices=list(CREDITS),
                       help="stas (default) | stas-ml | arel | temporal | uniform | episodic")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--steps", type=positive_int, default=100_000, help="env-step budget (default 100000)")
    train.add_argument("--scale", default="paper", choices=list(SCALES),
                       help="paper: the paper's model and PPO settings (default); cpu: a smaller reward model "
                            "for 2 CPU cores (docs/marl.md)")
    train.add_argument("--out", required=True, help="run folder: run.json, curve.jsonl, checkpoint.pt")
    train.add_argument("--eval-every", type=positive_int, default=None, help="iterations between evaluations")
    train.add_argument("--eval-episodes", type=positive_int, default=None,
                       help="episodes per evaluation (default 50, as the paper)")
    train.add_argument("--reward-updates", type=positive_int, default=None,
                       help="reward-model updates per PPO iteration (default: the scale's, 50 paper / 10 cpu)")
    train.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1)")
    train.set_defaults(func=run_train)
    report = sub.add_parser("report", help="curves with bands over seeds (PNG) and a final table with intervals")
    report.add_argument("runs", nargs="+", help="run folders, or folders holding run folders")
    report.add_argument("--out", default=None, help="folder for curves.png and report.md (default: the first RUNS)")
    report.set_defaults(func=run_report)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def run_train(args) -> int:
    from dataclasses import asdict

    import torch

    from accord.marl.ppo import train
    from accord.marl.presets import make_config
    from accord.runs import write_run_metadata

    torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in (("eval_every", args.eval_every), ("eval_episodes", args.eval_episodes))
                 if v is not None}
    config = make_config(args.env, args.credit, args.scale, args.seed, args.steps, **overrides)
    if args.reward_updates:
        config.reward_model.updates_per_iteration = args.reward_updates
    settings = {**asdict(config), "scale": args.scale, "method": "stas-marl",
                "paper": "arXiv 2304.07520"}
    write_run_metadata(args.out, settings)
    records = train(config, args.out, progress=True)
    last = records[-1]
    print(f"{args.env} {args.credit} seed {args.seed}: {last['env_steps']} env steps, "
          f"success {last['success']:.2f}, team return {last['team_return']:.2f} -> {args.out}")
    return 0


def run_report(args) -> int:
    from accord.marl.report import differences, final_table, format_differences, format_table, load_runs, plot_curves

    runs = load_runs(args.runs)
    out = Path(args.out or args.runs[0])
    if out.exists() and not out.is_dir():
        raise AccordError(f"{out} is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    table = format_table(final_table(runs))
    contrasts = differences(runs)
    if contrasts:
        table += "\n\n" + format_differences(contrasts)
    plot_curves(runs, out / "curves.png")
    (out / "report.md").write_text(table + "\n")
    print(table)
    print(f"curves: {out / 'curves.png'}; table: {out / 'report.md'}")
    return 0
