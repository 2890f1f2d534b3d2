"""`accord games`: solve matrix / preference games and plot exploitability curves.

Solvers follow Magnetic Preference Optimization (Zhang et al. 2024, arXiv 2410.16714) and Magnetic Mirror
Descent (Sokota et al. 2022, arXiv 2206.05825); see accord/games/solvers.py.

    accord games solve --game rps --solver mpo --iters 10000 --json
    accord games solve --game random:100 --solver md --eta 0.1 --iters 50000
    accord games plot --game perturbed-rps --iters 10000 --out runs/games.png
    accord games persuade problem.json --json     # Bayesian persuasion (accord/games/persuasion.py)
    accord games contract instance.json --json    # hidden-action contracts (accord/games/contracts.py)
    accord games vote profile.json --json         # social choice (accord/games/social_choice.py)
"""

from __future__ import annotations

import json
from pathlib import Path

from accord.errors import AccordError


def register(subparsers) -> None:
    from accord.cli import positive_float, positive_int
    from accord.games.solvers import PRESETS, SOLVERS

    parser = subparsers.add_parser("games", help="solve preference / zero-sum matrix games (MPO, MMD, MD, FP)")
    sub = parser.add_subparsers(dest="games_command", metavar="ACTION")

    def common(p):
        p.add_argument("--game", default="rps",
                       help="rps, perturbed-rps, random:N[:SEED], zerosum:M:N[:SEED] or a .npy matrix (default rps)")
        p.add_argument("--iters", type=positive_int, default=10_000, help="iterations (default 10000)")
        p.add_argument("--eta", type=positive_float, help="step size (solver default if omitted)")
        p.add_argument("--alpha", type=positive_float, help="magnet regularisation α for mpo/mmd")
        p.add_argument("--refresh-every", type=positive_int, help="mpo: refresh the magnet every K steps")
        p.add_argument("--refresh-tol", type=positive_float,
                       help="mpo: refresh the magnet when the regularised duality gap is below this")
        p.add_argument("--anderson", type=int, metavar="M",
                       help="mpo: Anderson memory of the magnet refresh (default 10; 0 = plain refresh)")
        p.add_argument("--preset", choices=PRESETS, default="accord",
                       help="mpo: accord (default: Anderson-accelerated refresh, adaptive step) or paper (plain "
                            "magnet refresh every K steps, fixed step); explicit flags override the preset")

    solve = sub.add_parser("solve", help="run one solver and print exploitability of last and average iterate")
    common(solve)
    solve.add_argument("--solver", choices=SOLVERS, default="mpo", help="mpo, mmd, md or fp (default mpo)")
    solve.add_argument("--json", action="store_true", help="print one JSON object")
    solve.add_argument("--lp", action="store_true",
                       help="also solve the game exactly by linear programming (game value, equilibrium); "
                            "costly on large games, so off by default")
    solve.set_defaults(func=run_solve)

    plot = sub.add_parser("plot", help="draw exploitability vs iterations for all solvers (PNG)")
    common(plot)
    plot.add_argument("--out", default="games.png", help="PNG path (default games.png)")
    plot.set_defaults(func=run_plot)
    register_design(sub)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def _options(args, solver: str) -> dict:
    from accord.games.solvers import mpo_preset

    options = mpo_preset(args.preset) if solver == "mpo" else {}
    if args.eta is not None and solver != "fp":
        options["eta"] = args.eta
    if args.alpha is not None and solver in ("mpo", "mmd"):
        options["alpha"] = args.alpha
    if solver == "mpo" and (args.refresh_every is not None or args.refresh_tol is not None):
        options["refresh_every"] = args.refresh_every  # None with --refresh-tol: tolerance rule only
        options["refresh_tol"] = args.refresh_tol
    if solver == "mpo" and args.anderson is not None:
        options["anderson"] = args.anderson
    return options


def run_solve(args) -> int:
    import numpy as np

    from accord.games.matrix import solve_lp, load_game
    from accord.games.solvers import solve, solver_label

    game = load_game(args.game)
    options = _options(args, args.solver)
    result = solve(game, args.solver, args.iters, **options)
    x_star, _, value = solve_lp(game.payoff) if args.lp else (None, None, None)
    label = solver_label(args.solver, options)
    record = {
        "game": game.name, "shape": list(game.shape), "symmetric": game.symmetric, "solver": args.solver,
        "solver_label": label, "preset": args.preset if args.solver == "mpo" else None,
        "iters": args.iters, "params": result.params, "last_exploitability": result.last_exploitability,
        "average_exploitability": result.average_exploitability, "seconds": result.seconds,
        "refreshes": result.refreshes, "game_value": value,
        "last_policy": np.round(result.last[0], 6).tolist() if game.shape[0] <= 20 else None,
        "lp_equilibrium": np.round(x_star, 6).tolist() if x_star is not None and game.shape[0] <= 20 else
        ([] if x_star is not None else None),
    }
    if args.json:
        print(json.dumps(record))
    else:
        print(f"{game.name} {game.shape[0]}x{game.shape[1]}  solver={label}  iters={args.iters}  "
              f"{result.seconds:.2f}s")
        print(f"exploitability  last iterate {result.last_exploitability:.3e}   "
              f"average iterate {result.average_exploitability:.3e}")
        if args.lp:
            print(f"exact LP: game value {value:.6g}")
    return 0


def run_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from accord.games.matrix import load_game
    from accord.games.solvers import SOLVERS, solve

    game = load_game(args.game)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise AccordError(f"--out must be a .png file, got {out}")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for solver in SOLVERS:
        result = solve(game, solver, args.iters, **_options(args, solver))
        its = [row["iteration"] for row in result.curve]
        floor = 1e-16
        name = f"mpo ({args.preset})" if solver == "mpo" else solver
        ax.loglog(its, [max(r["last"], floor) for r in result.curve], label=f"{name} last")
        if solver in ("md", "fp"):
            ax.loglog(its, [max(r["average"], floor) for r in result.curve], "--", label=f"{solver} average")
    ax.set_xlabel("iteration")
    ax.set_ylabel("exploitability (duality gap)")
    ax.set_title(f"{game.name} ({game.shape[0]}x{game.shape[1]})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------ persuasion, contracts, social choice (JSON in)

def register_design(sub) -> None:
    """`persuade`, `contract` and `vote`: read one JSON problem, print the exact solution (formats: docs/games.md)."""
    for name, func, what in (("persuade", run_persuade, "Sender-optimal Bayesian persuasion scheme (obedience LP)"),
                             ("contract", run_contract, "cheapest contract per action, optimal and best linear contract"),
                             ("vote", run_vote, "social-choice winners, Kemeny order and maximal lottery")):
        p = sub.add_parser(name, help=what)
        p.add_argument("file", help="problem as a JSON object (see docs/games.md)")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(func=func)


def read_json_file(path: str) -> dict:
    """A JSON file's content; an unreadable, empty or malformed file is one AccordError line (also used by
    accord.cli.persuade)."""
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        raise AccordError(f"{path} is not a text file") from None
    if not text.strip():
        raise AccordError(f"{path} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise AccordError(f"{path}: malformed JSON: {error}") from None


def _print(record: dict, as_json: bool, lines: list[str]) -> int:
    print(json.dumps(record) if as_json else "\n".join(lines))
    return 0


def run_persuade(args) -> int:
    from accord.games.persuasion import problem_from_json, solution_to_json, solve_persuasion

    problem = problem_from_json(read_json_file(args.file))
    record = solution_to_json(problem, solve_persuasion(problem))
    lines = [f"sender value {record['sender_value']:.6g}  (no information {record['value_no_information']:.6g}, "
             f"full information {record['value_full_information']:.6g}); receiver value {record['receiver_value']:.6g}"]
    for state, row in record["scheme"].items():
        lines.append(f"  state {state}: " + "  ".join(f"P({a})={p:.4g}" for a, p in row.items()))
    for action, posterior in record["posteriors"].items():
        lines.append(f"  after '{action}' (prob {record['signal_probability'][action]:.4g}): posterior "
                     + "  ".join(f"{s}={p:.4g}" for s, p in posterior.items()))
    return _print(record, args.json, lines)


def run_contract(args) -> int:
    from accord.games.contracts import instance_from_json, report

    record = report(instance_from_json(read_json_file(args.file)))
    lines = [f"optimal: implement {record['optimal']['action']} with payments {record['optimal']['payment']}, "
             f"principal utility {record['optimal']['principal_utility']:.6g}",
             f"best linear: alpha={record['linear']['alpha']:.6g} -> {record['linear']['action']}, "
             f"principal utility {record['linear']['principal_utility']:.6g}  (gap {record['gap']:.6g}, "
             f"ratio {record['ratio']:.6g})"]
    for row in record["actions"]:
        lines.append(f"  {row['action']}: " + (f"cheapest expected payment {row['expected_payment']:.6g}, "
                                               f"payments {row['payment']}" if row["implementable"]
                                               else "not implementable"))
    return _print(record, args.json, lines)


def run_vote(args) -> int:
    from accord.games.social_choice import SCORE_RULES, profile_from_json, report

    record = report(profile_from_json(read_json_file(args.file)))
    lines = [f"{rule:12s} {record[rule]['winner']}   scores {record[rule]['scores']}" for rule in SCORE_RULES]
    lines.append(f"condorcet    {record['condorcet_winner'] or '(none: a majority cycle)'}")
    if "kemeny" in record:
        lines.append(f"kemeny       {' > '.join(record['kemeny']['order'])}")
    lines.append("maximal lottery " + "  ".join(f"{c}={p:.4g}" for c, p in record["maximal_lottery"].items()))
    return _print(record, args.json, lines)
