"""`accord agents`: cooperative agents on Overcooked-AI (ProAgent and baselines with scripted and
human-proxy partners).

Zhang et al., "ProAgent: Building Proactive Cooperative Agents with Large Language Models", AAAI 2024,
arXiv 2308.11339; code in accord/agents/, docs in docs/agents.md.

    accord agents overcooked --layout cramped_room --agent proagent --partner bc --episodes 5 \\
        --planner qwen2.5-coder-1.5b --out runs/oc                      # the paper's free-text planner
    accord agents overcooked --layout cramped_room --agent proagent --planner-mode choice --partner greedy \\
        --seat 1 --episodes 3 --out runs/oc                             # constrained choice, second seat
    accord agents overcooked --layout coordination_ring --agent greedy --partner greedy --out runs/oc
    accord agents report runs/oc                                        # report.md / .png / .html
    accord agents train-bc                                              # BC human proxies, all five layouts
    accord agents train-ppo --layout cramped_room --total-steps 1000000 # PPO self-play (resumable)
    accord agents baselines --pair greedy+greedy --pair bc+bc --episodes 5 --out runs/oc

Each (layout, agent, partner, seat) is one folder under --out; a rerun resumes it, adding only the
episodes not yet played.
"""

from __future__ import annotations

from accord.errors import AccordError


def register(subparsers) -> None:
    from accord.cli import add_model_arguments, positive_int

    parser = subparsers.add_parser("agents", help="cooperative agents on Overcooked: ProAgent and baselines")
    sub = parser.add_subparsers(dest="agents_command", metavar="ACTION")
    play = sub.add_parser("overcooked", help="play episodes of one agent with one partner on one layout")
    play.add_argument("--layout", default="cramped_room",
                      help="cramped_room | asymmetric_advantages | coordination_ring | forced_coordination | "
                           "counter_circuit (default cramped_room)")
    play.add_argument("--agent", default="proagent", help="proagent (default) | greedy | bc | random | stay")
    play.add_argument("--partner", default="greedy", help="greedy (default) | bc | random | stay")
    play.add_argument("--seat", type=int, choices=(0, 1), default=0, help="the agent's seat, 0 or 1 (default 0)")
    play.add_argument("--episodes", type=positive_int, default=5, help="episodes (default 5)")
    play.add_argument("--horizon", type=positive_int, default=400, help="steps per episode (default 400, the paper's)")
    play.add_argument("--seed", type=int, default=0, help="base seed: episode k uses seed + 2k and seed + 2k + 1")
    play.add_argument("--out", required=True, help="run root; the cell's folder is <out>/<layout>/<agent>/<partner>-seat<k>")
    add_model_arguments(play, role="ProAgent's planner", default="qwen2.5-coder-1.5b", flag="--planner")
    play.add_argument("--planner-mode", default="freetext", choices=("freetext", "choice"),
                      help="freetext: the paper's analysis + parsed plan (default); choice: constrained choice")
    play.add_argument("--belief", action="store_true",
                      help="ask for the teammate's intention and feed back the belief records (paper's l3-aip)")
    play.add_argument("--memory-k", type=int, default=1, help="recent messages retrieved on a re-plan (default 1)")
    play.add_argument("--max-replans", type=int, default=3, help="re-plans before the wait(1) fallback (default 3)")
    play.add_argument("--explainer", default="model", choices=("model", "checks"),
                      help="who explains a failed skill: the model (paper, default) or the precondition check")
    play.add_argument("--counters", default="paper", choices=("paper", "all"),
                      help="counter grounding: paper (shared counters on forced coordination only) or all")
    play.add_argument("--choice-options", default="all", choices=("all", "valid"),
                      help="choice planner: offer all the seat's skills (default) or only those valid now (accord)")
    play.add_argument("--wait-moves", default="random", choices=("random", "stay"),
                      help="what a waiting ProAgent does each step: random actions (paper's code, default) or stay")
    play.add_argument("--frames", type=int, default=0,
                      help="save a strip of this many frames of episode 0 (every 10 steps from t=0) as frames_ep0.png")
    play.add_argument("--bc-dir", default=None, help="folder of trained BC human proxies (default: bc.py's)")
    play.set_defaults(func=run_overcooked)
    report = sub.add_parser("report", help="mean return with intervals per layout x agent x partner x seat")
    report.add_argument("runs", nargs="+", help="run roots (or cell folders) written by `accord agents overcooked`")
    report.add_argument("--out", default=None, help="folder for report.md/.png/.html (default: the first RUNS)")
    report.set_defaults(func=run_report)
    layouts_help = "a layout (repeatable; default all five)"
    train_bc = sub.add_parser("train-bc", help="train the behaviour-cloning human proxies on the 2019 human data")
    train_bc.add_argument("--layout", action="append", help=layouts_help)
    train_bc.add_argument("--data", default=None, help="folder of human_{train,test}.jsonl.gz "
                                                       "(default $ACCORD_OVERCOOKED_DATA or ../shared/data/overcooked)")
    train_bc.add_argument("--out", default=None, help="weights folder (default $ACCORD_CACHE/agents/bc, where --bc-dir looks)")
    train_bc.add_argument("--epochs", type=positive_int, default=300, help="full-batch Adam epochs (default 300)")
    train_bc.add_argument("--seed", type=int, default=0, help="torch seed (default 0)")
    train_bc.set_defaults(func=run_train_bc)
    train_ppo = sub.add_parser("train-ppo", help="train a PPO self-play pair on one layout (CPU; resumable)")
    train_ppo.add_argument("--layout", default="cramped_room", help="the layout (default cramped_room)")
    train_ppo.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    train_ppo.add_argument("--total-steps", type=positive_int, default=400_000, help="joint env steps (default 400000)")
    train_ppo.add_argument("--num-envs", type=positive_int, default=8, help="episodes per iteration (default 8)")
    train_ppo.add_argument("--shaping-horizon", type=positive_int, default=300_000,
                           help="env steps for the shaped reward's factor to decay from 1 to 0 (default 300000)")
    train_ppo.add_argument("--max-minutes", type=float, default=9.0, help="stop between iterations after this (resume later)")
    train_ppo.add_argument("--out", default="", help="run folder (default $ACCORD_CACHE/agents/ppo/<layout>, where the ppo partner looks)")
    train_ppo.set_defaults(func=run_train_ppo)
    baselines = sub.add_parser("baselines", help="greedy+greedy, bc+bc and ppo+ppo cells on the layouts, and their table")
    baselines.add_argument("--layout", action="append", help=layouts_help)
    baselines.add_argument("--pair", action="append", choices=("greedy+greedy", "bc+bc", "ppo+ppo"),
                           help="a pair (repeatable; default greedy+greedy and bc+bc)")
    baselines.add_argument("--episodes", type=positive_int, default=5, help="episodes per cell (default 5)")
    baselines.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    baselines.add_argument("--bc-dir", default=None, help="trained BC proxies (default $ACCORD_CACHE/agents/bc)")
    baselines.add_argument("--ppo-dir", default=None, help="PPO runs <dir>/<layout>/checkpoint.pt (default $ACCORD_CACHE/agents/ppo)")
    baselines.add_argument("--out", required=True, help="run root (the cells `accord agents overcooked` writes)")
    baselines.set_defaults(func=run_baselines)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def known_layouts(names) -> list[str]:
    from accord.agents.overcooked_env import LAYOUTS

    for name in names or []:
        if name not in LAYOUTS:
            raise AccordError(f"unknown layout {name!r}; known layouts: {', '.join(LAYOUTS)}")
    return list(names or LAYOUTS)


def run_train_bc(args) -> int:
    from accord.agents.bc import train_bc_layouts

    for summary in train_bc_layouts(known_layouts(args.layout), args.data, args.out, epochs=args.epochs, seed=args.seed):
        print(f"{summary['layout']}: held-out accuracy {summary['test_accuracy']:.3f} (stay rate "
              f"{summary['test_majority_rate']:.3f}, other actions {summary['test_accuracy_other_actions']:.3f}), "
              f"{summary['train_samples']} training samples, {summary['seconds']:.0f} s", flush=True)
    return 0


def run_train_ppo(args) -> int:
    from accord.agents.ppo import PPOArgs, train

    (layout,) = known_layouts([args.layout])
    result = train(PPOArgs(layout=layout, seed=args.seed, total_steps=args.total_steps, num_envs=args.num_envs,
                           shaping_horizon=args.shaping_horizon, max_minutes=args.max_minutes, out=args.out))
    state = "finished" if result["finished"] else "stopped (rerun to resume)"
    print(f"{layout}: {result['env_steps']} env steps in {result['seconds']:.0f} s, {state}")
    return 0


def run_baselines(args) -> int:
    import torch

    from accord.agents.baselines import run_baselines as play
    from accord.agents.report import format_table

    torch.set_num_threads(1)  # one-state forward passes of tiny networks: more threads only spin
    rows = play(args.out, known_layouts(args.layout), args.pair or ["greedy+greedy", "bc+bc"], args.episodes,
                args.seed, args.bc_dir, args.ppo_dir)
    print(format_table(rows))
    return 0


def make_policy(name: str, layout: str, bc_dir):
    from accord.agents.partners import make_partner

    return make_partner(name, layout, bc_dir)


def run_overcooked(args) -> int:
    from dataclasses import asdict

    from tqdm import tqdm

    from accord.agents.episodes import cell_dir, cell_settings, run_cell
    from accord.agents.overcooked_env import make_mdp
    from accord.agents.partners import PARTNERS
    from accord.runs import write_run_metadata

    mdp = make_mdp(args.layout)  # an unknown layout is one error line before anything loads
    for role, name in (("partner", args.partner), ("agent", args.agent)):
        if name not in PARTNERS and not (role == "agent" and name == "proagent"):
            known = ", ".join((["proagent"] if role == "agent" else []) + list(PARTNERS))
            raise AccordError(f"unknown {role} {name!r}; known: {known}")
    if args.memory_k < 0 or args.max_replans < 0:
        raise AccordError("--memory-k and --max-replans must be >= 0")
    partner = make_policy(args.partner, args.layout, args.bc_dir)
    settings = cell_settings(args.layout, args.agent, args.partner, args.seat, args.horizon, args.seed, args.bc_dir)
    if args.agent == "proagent":
        from accord.agents.proagent import ProAgent, ProAgentConfig
        from accord.lm import load_model

        config = ProAgentConfig(layout=args.layout, planner_mode=args.planner_mode, belief=args.belief,
                                memory_k=args.memory_k, max_replans=args.max_replans, explainer=args.explainer,
                                counters=args.counters, wait_moves=args.wait_moves,
                                choice_options=args.choice_options)
        lm = load_model(args.planner, backend=args.backend, device=args.device, dtype=args.dtype)
        explainer_lm = None
        if hasattr(lm, "keep_prefix"):  # llama.cpp: keep the instructions' KV between decisions
            lm.keep_prefix = True
            if config.explainer == "model":  # a second instance (mmap shares the weights) keeps the explainer's
                explainer_lm = load_model(args.planner, backend=args.backend, device=args.device, dtype=args.dtype)
                explainer_lm.keep_prefix = True
        agent = ProAgent(lm, config, explainer_lm)
        agent.reset(mdp, args.seat)
        variant = "".join(suffix for on, suffix in ((args.belief, "-belief"), (args.choice_options == "valid", "-valid"),
                                                      (args.explainer == "checks", "-checks")) if on)
        label = f"proagent-{args.planner_mode}{variant}-{args.planner}"
        settings.update(method="proagent", paper="arXiv 2308.11339", model=args.planner, backend=args.backend,
                        config=asdict(config), prompts=agent.prompts())
    else:
        agent = make_policy(args.agent, args.layout, args.bc_dir)
        label = args.agent
    cell = cell_dir(args.out, args.layout, label, args.partner, args.seat)
    write_run_metadata(cell, settings)
    labels = {"layout": args.layout, "agent": label, "partner": args.partner}
    bar = tqdm(total=args.episodes * args.horizon, desc=f"{args.layout} {label} + {args.partner} seat {args.seat}",
               unit="step")

    def on_episode(row):
        bar.set_postfix(ret=row["return"], calls=row["model_calls"], s=row["seconds"])
        print(f"episode {row['episode']}: return {row['return']:.0f}, soups {row['soups']}, model calls "
              f"{row['model_calls']}, re-plans {row['replans']}, fallbacks {row['fallbacks']}, "
              f"{row['seconds']:.1f} s", flush=True)

    frames = [(0, mdp.get_standard_start_state())] if args.frames > 0 else []

    def on_step(k, t, state):
        bar.update(1)
        if k == 0 and t % 10 == 0 and len(frames) < args.frames:
            frames.append((t, state))

    rows = run_cell(cell, args.layout, agent, partner, args.seat, args.episodes, seed=args.seed, horizon=args.horizon,
                    labels=labels, on_step=on_step, on_episode=on_episode)
    bar.close()
    if len(frames) > 1:
        from accord.agents.report import save_frame_strip

        strip = save_frame_strip(mdp, frames, cell / "frames_ep0.png", title=f"{args.layout}: {label} + {args.partner}")
        print(f"frames: {strip}")
    returns = [r["return"] for r in rows[:args.episodes]]
    print(f"{len(returns)} episodes, mean return {sum(returns) / len(returns):.1f} -> {cell}")
    return 0


def run_report(args) -> int:
    from pathlib import Path

    from accord.agents.episodes import load_cells
    from accord.agents.report import format_table, summarize, write_report

    for root in args.runs:
        if not Path(root).is_dir():
            raise AccordError(f"{root} is not a folder of runs")
    rows = load_cells(args.runs)
    if not rows:
        raise AccordError(f"no results.jsonl under {', '.join(args.runs)}")
    table = summarize(rows)
    paths = write_report(table, args.out or args.runs[0])
    print(format_table(table))
    print(f"report: {paths['md']}, {paths['png']}, {paths['html']}")
    return 0
