"""`accord persuade train|eval`: the Bayesian-persuasion Advisor for black-box Receivers.

Bai, Wang, Zhang et al. 2024, "Efficient Model-agnostic Alignment via Bayesian Persuasion", arXiv
2405.18718 (a reconstruction; docs/persuasion.md lists every choice). Code in accord/persuasion/.

    accord persuade train --task math --receiver qwen2.5-coder-1.5b --advisor smollm2-135m --steps 200 --out runs/adv
    accord persuade eval --advisor-run runs/adv --limit 100 --out runs/adv/eval
    accord persuade eval --task code --receiver qwen2.5-coder-1.5b --conditions none,prior --out runs/code-base
    accord persuade finite problem.json --json      # the learner on a finite problem against the exact LP

Both resume: rerunning the same command continues after the last finished step / answered task.
"""

from __future__ import annotations

import json
from pathlib import Path

from accord.errors import AccordError

SPLIT_KEYS = ("task", "n", "test_fraction", "split_seed")


def register(subparsers) -> None:
    from accord.cli import add_model_arguments, positive_float, positive_int

    parser = subparsers.add_parser("persuade", help="train / evaluate a persuasion Advisor for a black-box Receiver")
    sub = parser.add_subparsers(dest="persuade_command", metavar="ACTION")

    def common(p):
        add_model_arguments(p, "Receiver (black box, text in / text out)", "qwen2.5-coder-1.5b", flag="--receiver")
        p.add_argument("--task", choices=["math", "code"], default="math",
                       help="math: generated arithmetic word problems (not GSM8K); code: HumanEval (default math)")
        p.add_argument("--n", type=positive_int, default=200, help="math: problems generated in all (default 200)")
        p.add_argument("--test-fraction", type=positive_float, default=0.5,
                       help="share of the problems held out from training (default 0.5)")
        p.add_argument("--split-seed", type=int, default=0, help="seed of the problem set and of the split")
        p.add_argument("--receiver-max-tokens", type=positive_int, default=384, help="Receiver answer length limit")
        p.add_argument("--out", required=True, help="run folder")

    train = sub.add_parser("train", help="train the Advisor's signalling strategy on Receiver success")
    common(train)
    train.add_argument("--advisor", default="smollm2-135m", help="trainable Advisor model (default smollm2-135m)")
    train.add_argument("--steps", type=positive_int, default=100, help="optimizer steps (default 100)")
    train.add_argument("--batch", type=positive_int, default=4, help="tasks per step (default 4)")
    train.add_argument("--group", type=positive_int, default=4, help="signals per task (default 4)")
    train.add_argument("--signal-tokens", type=positive_int, default=48, help="signal length limit (default 48)")
    train.add_argument("--lr", type=positive_float, default=1e-5, help="learning rate (default 1e-5)")
    train.add_argument("--kl", type=float, default=0.05, help="weight of KL to the initial Advisor (default 0.05)")
    train.add_argument("--lora", type=int, default=0, help="LoRA rank (0 = full fine-tuning)")
    train.add_argument("--checkpoint-every", type=int, default=10,
                       help="steps between checkpoints (default 10; a stopped run resumes from the last one)")
    train.add_argument("--no-info", action="store_true", help="the Advisor does not observe ω (only the question)")
    train.add_argument("--seed", type=int, default=0, help="seed of sampling and task order")
    train.set_defaults(func=run_train)

    evaluate = sub.add_parser("eval", help="Receiver accuracy on held-out problems: none / prior / advisor")
    common(evaluate)
    evaluate.add_argument("--advisor-run", help="a `persuade train` folder (its task split and Advisor are used)")
    evaluate.add_argument("--conditions", default=None,
                          help="comma-separated subset of none,prior,advisor,initial (default: the paper's three, "
                               "none,prior,advisor, with --advisor-run, else none,prior; initial = the Advisor before "
                               "training). Rerun into the same --out to add a condition")
    evaluate.add_argument("--limit", type=positive_int, help="evaluate the first N held-out problems")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the prior draws and the Advisor's signals")
    evaluate.set_defaults(func=run_eval)

    finite = sub.add_parser("finite", help="the learning loop on a finite persuasion problem vs the exact LP")
    finite.add_argument("file", help="a persuasion problem as JSON (the format of `accord games persuade`)")
    finite.add_argument("--steps", type=positive_int, default=2000, help="gradient steps (default 2000)")
    finite.add_argument("--receiver-as-environment", action="store_true",
                        help="REINFORCE's view: no gradient through the Receiver's Bayesian update")
    finite.add_argument("--seed", type=int, default=0, help="seed of the initial scheme")
    finite.add_argument("--json", action="store_true", help="print one JSON object")
    finite.set_defaults(func=run_finite)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def _split(args):
    from accord.persuasion.tasks import load_tasks, split

    if not 0 < args.test_fraction < 1:
        raise AccordError(f"--test-fraction must lie in (0, 1), got {args.test_fraction}")
    return split(load_tasks(args.task, args.n, args.split_seed), args.test_fraction, args.split_seed)


def _advisor_trainer(advisor_name, dtype, device, train_tasks, receiver, settings, config, out, receiver_name):
    from accord.lm import load_model
    from accord.persuasion.advisor import AdvisorTrainer

    lm = load_model(advisor_name, backend="transformers", dtype=dtype, device=device)
    return AdvisorTrainer(lm.model, lm.tokenizer, train_tasks, receiver, settings, config, out,
                          receiver_name=receiver_name, advisor_name=advisor_name)


def run_train(args) -> int:
    from tqdm import tqdm

    from accord.lm import load_model
    from accord.persuasion.advisor import PersuasionConfig
    from accord.persuasion.evaluate import plot_training
    from accord.train.mpo import MPOConfig

    if args.kl < 0:
        raise AccordError(f"--kl must be non-negative, got {args.kl}")
    train_tasks, _ = _split(args)
    settings = PersuasionConfig(group=args.group, advisor_sees_info=not args.no_info,
                                receiver_max_tokens=args.receiver_max_tokens)
    config = MPOConfig(steps=args.steps, prompts_per_step=args.batch, max_new_tokens=args.signal_tokens,
                       learning_rate=args.lr, kl_coef=args.kl, lora_rank=args.lora, seed=args.seed,
                       checkpoint_every=args.checkpoint_every,
                       magnet_every=0, eval_every=0)
    config.check()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps({k: getattr(args, k) for k in SPLIT_KEYS}))
    receiver = load_model(args.receiver, backend=args.backend, dtype=args.dtype, device=args.device)
    trainer = _advisor_trainer(args.advisor, "float32", args.device, train_tasks, receiver, settings, config, out,
                               args.receiver)
    bar = tqdm(total=args.steps, desc="advisor steps", unit="step")

    def show(row):
        bar.n = row["step"]
        bar.set_postfix(reward=f"{row['reward']:.2f}", kl=f"{row['kl_to_initial']:.4f}")
        bar.refresh()

    trainer.train(on_step=show)
    bar.close()
    plot_training(out / "log.jsonl", out / "curves.png")
    print(f"wrote {out}/run.json, log.jsonl, checkpoint.pt, curves.png")
    return 0


def run_eval(args) -> int:
    from tqdm import tqdm

    from accord.lm import load_model
    from accord.persuasion.advisor import PersuasionConfig
    from accord.persuasion.evaluate import (CONDITIONS, advisor_signals, evaluate, format_summary, plot_report,
                                            prior_signals, summarize)
    from accord.runs import ResultStore, write_run_metadata
    from accord.train.mpo import MPOConfig

    trained = None
    if args.advisor_run:
        run_dir = Path(args.advisor_run)
        if not (run_dir / "run.json").is_file() or not (run_dir / "split.json").is_file():
            raise AccordError(f"{run_dir} is not a `persuade train` folder (no run.json / split.json)")
        trained = json.loads((run_dir / "run.json").read_text())
        for key, value in json.loads((run_dir / "split.json").read_text()).items():
            setattr(args, key, value)  # evaluate on the training run's own held-out split
    conditions = (args.conditions or ("none,prior,advisor" if trained else "none,prior")).split(",")
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise AccordError(f"unknown condition(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")
    advised = [c for c in conditions if c in ("advisor", "initial")]
    if advised and not trained:
        raise AccordError(f"the {advised[0]} condition needs --advisor-run (a `persuade train` folder)")
    train_tasks, test_tasks = _split(args)
    if trained and set(trained["settings"]["train_tasks"]) & {t.task_id for t in test_tasks}:
        raise AccordError(f"{args.advisor_run} trained on some of these held-out problems; check its split.json")
    test_tasks = test_tasks[:args.limit] if args.limit else test_tasks
    settings = PersuasionConfig(receiver_max_tokens=args.receiver_max_tokens)
    out = Path(args.out)
    write_run_metadata(out, {"method": "persuasion-eval (arXiv 2405.18718, reconstruction)",
                             "receiver": args.receiver, "seed": args.seed,
                             "advisor_run": args.advisor_run, "split": {k: getattr(args, k) for k in SPLIT_KEYS},
                             "tasks": [t.task_id for t in test_tasks], "persuasion": vars(settings)})
    receiver = load_model(args.receiver, backend=args.backend, dtype=args.dtype, device=args.device)
    signals = {"none": [None] * len(test_tasks), "prior": prior_signals(test_tasks, train_tasks, args.seed)}
    store = ResultStore(out / "results.jsonl")
    if advised:
        saved = trained["settings"]
        settings.group = saved["persuasion"]["group"]
        settings.advisor_sees_info = saved["persuasion"]["advisor_sees_info"]
        config = MPOConfig(**saved["optimizer"], steps=1)
        trainer = _advisor_trainer(saved["advisor"], "float32", args.device, train_tasks, receiver, settings,
                                   config, args.advisor_run, args.receiver)
        if "initial" in conditions:  # before resume() the trainer holds the Advisor as it was before training
            signals["initial"] = advisor_signals(trainer, "initial", test_tasks, store, args.seed)
        if "advisor" in conditions:
            if not trainer.resume():
                raise AccordError(f"{args.advisor_run} has no checkpoint.pt")
            signals["advisor"] = advisor_signals(trainer, "advisor", test_tasks, store, args.seed)
    with tqdm(total=len(conditions) * len(test_tasks), desc="receiver answers", unit="task") as bar:
        bar.update(sum(1 for c in conditions for t in test_tasks if f"{c}:{t.task_id}" in store.done))
        evaluate(receiver, test_tasks, store, {c: signals[c] for c in conditions}, settings, progress=bar.update)
    summary = summarize(store.records)
    (out / "report.json").write_text(json.dumps(summary, indent=1))
    log = Path(args.advisor_run) / "log.jsonl" if args.advisor_run else None
    plot_report(summary, log, out / "report.png", title=f"{args.task}, Receiver {args.receiver}")
    print(format_summary(summary))
    print(f"wrote {out}/results.jsonl, report.json, report.png")
    return 0


def run_finite(args) -> int:
    from accord.cli.games import read_json_file
    from accord.games.persuasion import problem_from_json
    from accord.persuasion.finite import FiniteConfig, train_scheme

    problem = problem_from_json(read_json_file(args.file))
    result = train_scheme(problem, FiniteConfig(steps=args.steps, seed=args.seed,
                                                through_receiver=not args.receiver_as_environment))
    record = {"learned_value": result.exact_value, "lp_value": result.optimal_value,
              "gap": result.optimal_value - result.exact_value, "kl_to_initial": result.curve[-1]["kl_to_initial"],
              "scheme": {state: [round(float(p), 6) for p in row] for state, row in zip(problem.states, result.scheme)}}
    if args.json:
        print(json.dumps(record))
    else:
        print(f"learned scheme's value {record['learned_value']:.6g} (exact best response), LP optimum "
              f"{record['lp_value']:.6g}, gap {record['gap']:.3g}")
        for state, row in record["scheme"].items():
            print(f"  {state}: " + "  ".join(f"s{i}={p:.4g}" for i, p in enumerate(row)))
    return 0
