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
    from accord.cli import positive_int

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
    play.add_argument("--frames", type=int, default=0,
                      help="save a strip of this many frames of episode 0 (every 10 steps from t=0) as frames_ep0.png")
    add_play_arguments(play)
    play.set_defaults(func=run_overcooked)
    table = sub.add_parser("table", help="ProAgent over layouts x partners x seats (resumable), then the report")
    table.add_argument("--layout", action="append", help="a layout (repeatable; default all five)")
    table.add_argument("--partner", action="append", help="a partner (repeatable; default greedy, bc, random, stay)")
    table.add_argument("--seat", action="append", type=int, choices=(0, 1), help="a seat (repeatable; default 0 and 1)")
    table.add_argument("--episodes", type=positive_int, default=3, help="episodes per cell (default 3)")
    add_play_arguments(table)
    table.set_defaults(func=run_table, agent="proagent", frames=0)
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


def add_play_arguments(parser) -> None:
    """The options `overcooked` and `table` share: the game, ProAgent's planner and protocol, checkpoints."""
    from accord.cli import add_model_arguments, positive_int

    parser.add_argument("--horizon", type=positive_int, default=400,
                        help="steps per episode (default 400, the paper's; shorter only to measure cost)")
    parser.add_argument("--seed", type=int, default=0, help="base seed: episode k uses seed + 2k and seed + 2k + 1")
    parser.add_argument("--out", required=True,
                        help="run root; a cell's folder is <out>/<layout>/<agent>/<partner>-seat<k>")
    add_model_arguments(parser, role="ProAgent's planner", default="qwen2.5-coder-1.5b", flag="--planner")
    parser.add_argument("--planner-mode", default="freetext", choices=("freetext", "choice"),
                        help="freetext: the paper's analysis + parsed plan (default); choice: constrained choice")
    parser.add_argument("--belief", action="store_true",
                        help="ask for the teammate's intention and feed back the belief records (paper's l3-aip)")
    parser.add_argument("--memory-k", type=int, default=1, help="recent messages retrieved on a re-plan (default 1)")
    parser.add_argument("--max-replans", type=int, default=3, help="re-plans before the wait(1) fallback (default 3)")
    parser.add_argument("--explainer", default="model", choices=("model", "checks"),
                        help="who explains a failed skill: the model (paper, default) or the precondition check")
    parser.add_argument("--counters", default="paper", choices=("paper", "all"),
                        help="counter grounding: paper (shared counters on forced coordination only) or all")
    parser.add_argument("--choice-options", default="all", choices=("all", "valid"),
                        help="choice planner: offer all the seat's skills (default) or only those valid now (accord)")
    parser.add_argument("--wait-moves", default="random", choices=("random", "stay"),
                        help="what a waiting ProAgent does each step: random actions (paper's code, default) or stay")
    parser.add_argument("--bc-dir", default=None, help="folder of trained BC human proxies (default: bc.py's)")
    parser.add_argument("--checkpoint-every", type=int, default=5,
                        help="save a running episode's state every this many skill decisions, so a rerun continues "
                             "a killed episode (default 5; 0: off)")
    parser.add_argument("--max-minutes", type=float, default=0.0,
                        help="stop after this many minutes, saving the running episode's state; rerun to continue "
                             "(exit status 3; default 0: no limit)")
    parser.add_argument("--stop-after-steps", type=int, default=0,
                        help="stop after this many game steps, as --max-minutes does (for tests and fixed chunks)")


def stop_rule(args):
    """should_stop() for run_cell from --max-minutes / --stop-after-steps (None when neither is set)."""
    import time

    if args.max_minutes <= 0 and args.stop_after_steps <= 0:
        return None
    start, steps = time.monotonic(), [0]

    def should_stop() -> bool:
        steps[0] += 1
        return (0 < args.stop_after_steps <= steps[0]
                or (args.max_minutes > 0 and time.monotonic() - start >= 60 * args.max_minutes))
    return should_stop


STOPPED = 3
"""Exit status when --max-minutes / --stop-after-steps stopped the command with work left (rerun to continue)."""


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


def check_names(agent: str, partners) -> None:
    from accord.agents.partners import PARTNERS

    for role, name in [("agent", agent)] + [("partner", p) for p in partners]:
        if name not in PARTNERS and not (role == "agent" and name == "proagent"):
            known = ", ".join((["proagent"] if role == "agent" else []) + list(PARTNERS))
            raise AccordError(f"unknown {role} {name!r}; known: {known}")


def load_planner(args) -> dict:
    """The planner model (and, for llama.cpp with the model explainer, a second instance that keeps the
    explainer's instructions: mmap shares the weights); loaded once per command."""
    from accord.lm import load_model

    lm = load_model(args.planner, backend=args.backend, device=args.device, dtype=args.dtype)
    models = {"lm": lm, "explainer_lm": None}
    if hasattr(lm, "keep_prefix"):  # llama.cpp: keep the instructions' KV between decisions
        lm.keep_prefix = True
        if args.explainer == "model":
            explainer = load_model(args.planner, backend=args.backend, device=args.device, dtype=args.dtype)
            explainer.keep_prefix = True
            models["explainer_lm"] = explainer
    return models


def make_agent(args, layout: str, seat: int, models: dict):
    """(agent policy, its label, settings to record); loads the planner into `models` on first use."""
    from dataclasses import asdict

    from accord.agents.overcooked_env import make_mdp

    if args.agent != "proagent":
        return make_policy(args.agent, layout, args.bc_dir), args.agent, {}
    from accord.agents.proagent import ProAgent, ProAgentConfig

    config = ProAgentConfig(layout=layout, planner_mode=args.planner_mode, belief=args.belief, memory_k=args.memory_k,
                            max_replans=args.max_replans, explainer=args.explainer, counters=args.counters,
                            wait_moves=args.wait_moves, choice_options=args.choice_options)
    if not models:
        models.update(load_planner(args))
    agent = ProAgent(models["lm"], config, models["explainer_lm"])
    agent.reset(make_mdp(layout), seat)
    variant = "".join(suffix for on, suffix in ((args.belief, "-belief"), (args.choice_options == "valid", "-valid"),
                                                  (args.explainer == "checks", "-checks")) if on)
    label = f"proagent-{args.planner_mode}{variant}-{args.planner}"
    return agent, label, dict(method="proagent", paper="arXiv 2308.11339", model=args.planner, backend=args.backend,
                              config=asdict(config), prompts=agent.prompts())


def play_cell(args, layout: str, partner_name: str, seat: int, models: dict, should_stop=None, frames=None):
    """Play (resume) one cell's episodes with a progress bar; returns (cell folder, agent label, its rows).
    Raises episodes.Stopped when `should_stop` stopped it."""
    from tqdm import tqdm

    from accord.agents.episodes import cell_dir, cell_settings, run_cell
    from accord.runs import write_run_metadata

    partner = make_policy(partner_name, layout, args.bc_dir)
    agent, label, extra = make_agent(args, layout, seat, models)
    settings = cell_settings(layout, args.agent, partner_name, seat, args.horizon, args.seed, args.bc_dir)
    cell = cell_dir(args.out, layout, label, partner_name, seat)
    write_run_metadata(cell, {**settings, **extra})
    labels = {"layout": layout, "agent": label, "partner": partner_name}
    bar = tqdm(total=args.episodes * args.horizon, desc=f"{layout} {label} + {partner_name} seat {seat}", unit="step")

    def on_episode(row):
        bar.set_postfix(ret=row["return"], calls=row["model_calls"], s=row["seconds"])
        print(f"episode {row['episode']}: return {row['return']:.0f}, soups {row['soups']}, model calls "
              f"{row['model_calls']}, re-plans {row['replans']}, fallbacks {row['fallbacks']}, "
              f"{row['seconds']:.1f} s", flush=True)

    def on_step(k, t, state):
        bar.update(k * args.horizon + t - bar.n)  # a resumed episode starts at its checkpoint's step
        if frames is not None and k == 0 and t % 10 == 0 and len(frames) < args.frames:
            frames.append((t, state))

    try:
        rows = run_cell(cell, layout, agent, partner, seat, args.episodes, seed=args.seed, horizon=args.horizon,
                        labels=labels, on_step=on_step, on_episode=on_episode,
                        checkpoint_every=args.checkpoint_every, should_stop=should_stop)
    finally:
        bar.close()
    return cell, label, rows


def run_overcooked(args) -> int:
    from accord.agents.episodes import Stopped
    from accord.agents.overcooked_env import make_mdp

    mdp = make_mdp(args.layout)  # an unknown layout is one error line before anything loads
    check_names(args.agent, [args.partner])
    if args.memory_k < 0 or args.max_replans < 0:
        raise AccordError("--memory-k and --max-replans must be >= 0")
    frames = [(0, mdp.get_standard_start_state())] if args.frames > 0 else None
    try:
        cell, label, rows = play_cell(args, args.layout, args.partner, args.seat, {}, stop_rule(args), frames)
    except Stopped as stopped:
        print(f"{stopped}: rerun the same command to continue", flush=True)
        return STOPPED
    if frames is not None and len(frames) > 1:
        from accord.agents.report import save_frame_strip

        strip = save_frame_strip(mdp, frames, cell / "frames_ep0.png", title=f"{args.layout}: {label} + {args.partner}")
        print(f"frames: {strip}")
    returns = [r["return"] for r in rows[:args.episodes]]
    print(f"{len(returns)} episodes, mean return {sum(returns) / len(returns):.1f} -> {cell}")
    return 0


TABLE_PARTNERS = ("greedy", "bc", "random", "stay")
"""The closing note's partners for ProAgent (issue 15)."""


def run_table(args) -> int:
    """Every layout x partner x seat cell of ProAgent for --episodes episodes (resuming each cell and each
    killed episode), then the report over --out. One model load for the whole table."""
    from accord.agents.episodes import Stopped

    layouts, partners, seats = known_layouts(args.layout), args.partner or list(TABLE_PARTNERS), args.seat or [0, 1]
    check_names("proagent", partners)
    if args.memory_k < 0 or args.max_replans < 0:
        raise AccordError("--memory-k and --max-replans must be >= 0")
    cells = [(layout, partner, seat) for layout in layouts for partner in partners for seat in sorted(set(seats))]
    models, should_stop = {}, stop_rule(args)
    for number, (layout, partner, seat) in enumerate(cells, 1):
        print(f"cell {number}/{len(cells)}: {layout}, partner {partner}, seat {seat}", flush=True)
        try:
            play_cell(args, layout, partner, seat, models, should_stop)
        except Stopped as stopped:
            print(f"{stopped}: rerun the same command to continue the table", flush=True)
            return STOPPED
    args.runs, args.out = [args.out], args.out
    return run_report(args)


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
