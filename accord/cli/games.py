"""`accord games`: solve matrix / preference games and plot exploitability curves.

Solvers follow Magnetic Preference Optimization (Zhang et al. 2024, arXiv 2410.16714) and Magnetic Mirror
Descent (Sokota et al. 2022, arXiv 2206.05825); see accord/games/solvers.py.

    accord games solve --game rps --solver mpo --iters 10000 --json
    accord games solve --game random:100 --solver md --eta 0.1 --iters 50000
    accord games plot --game perturbed-rps --iters 10000 --out runs/games.png
"""

from __future__ import annotations

import json
from pathlib import Path

from accord.errors import AccordError


def register(subparsers) -> None:
    from accord.cli import positive_float, positive_int
    from accord.games.solvers import SOLVERS

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

    solve = sub.add_parser("solve", help="run one solver and print exploitability of last and average iterate")
    common(solve)
    solve.add_argument("--solver", choices=SOLVERS, default="mpo", help="mpo, mmd, md or fp (default mpo)")
    solve.add_argument("--json", action="store_true", help="print one JSON object")
    solve.set_defaults(func=run_solve)

    plot = sub.add_parser("plot", help="draw exploitability vs iterations for all solvers (PNG)")
    common(plot)
    plot.add_argument("--out", default="games.png", help="PNG path (default games.png)")
    plot.set_defaults(func=run_plot)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def _options(args, solver: str) -> dict:
    options = {}
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
    from accord.games.solvers import solve

    game = load_game(args.game)
    result = solve(game, args.solver, args.iters, **_options(args, args.solver))
    x_star, _, value = solve_lp(game.payoff) if max(game.shape) <= 2000 else (None, None, None)
    record = {
        "game": game.name, "shape": list(game.shape), "symmetric": game.symmetric, "solver": args.solver,
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
        print(f"{game.name} {game.shape[0]}x{game.shape[1]}  solver={args.solver}  iters={args.iters}  "
              f"{result.seconds:.2f}s")
        print(f"exploitability  last iterate {result.last_exploitability:.3e}   "
              f"average iterate {result.average_exploitability:.3e}")
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
        ax.loglog(its, [max(r["last"], floor) for r in result.curve], label=f"{solver} last")
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
