"""Benchmark: exploitability vs iterations and wall time of game solvers on the same games.

Magnetic Preference Optimization (Zhang et al. 2024, arXiv 2410.16714; last iterate), Magnetic Mirror
Descent with a fixed magnet (Sokota et al. 2022, arXiv 2206.05825), entropic mirror descent (last and
average iterate) and fictitious play, on perturbed RPS, random 10×10 and random 100×100 preference games;
OpenSpiel's MMD (`open_spiel.python.algorithms.mmd_dilated`) too when `open-spiel` is installed.

    python benchmarks/games.py                      # writes runs/bench_games/{results.json,curves.png}
    python benchmarks/games.py --quick              # fewer iterations, for a smoke test
    python benchmarks/games.py --seeds 0,1,2        # random games with several seeds

Exploitability is the duality gap (accord.games.matrix.duality_gap). Targets from the issue:
(a) MPO last iterate ≤ 1e-6 within 10,000 iterations on perturbed RPS and random 10×10;
(b) on random 100×100, MPO last iterate ≤ MD average iterate at 50,000 iterations;
(c) ≤ 20 ms per 1,000 MPO iterations on 100×100.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accord.games.matrix import duality_gap, equilibrium, load_game  # noqa: E402
from accord.games.solvers import fictitious_play, log_points, mirror_descent, mmd, mpo  # noqa: E402

MD_ETA = 0.1
"""Mirror descent step: the best of {0.05, 0.1, 0.15, 0.2} for the average iterate on random 100×100."""
MMD_ETA, MMD_ALPHA = 1.0, 0.1
"""Fixed-magnet MMD settings (uniform magnet)."""


def versions() -> dict:
    import scipy

    import accord

    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "accord": accord.__version__, "machine": platform.machine(), "platform": platform.platform()}


def openspiel_mmd(P: np.ndarray, iters: int, alpha: float = 0.05, budget_s: float = 60.0):
    """OpenSpiel's MMD (fixed uniform magnet, its default step α/max|A|²) on the game; None if not installed.

    Like accord's `mmd` it converges to the α-regularised equilibrium, not to the Nash equilibrium.
    """
    try:
        import pyspiel
        from open_spiel.python.algorithms import mmd_dilated
    except ImportError:
        return None
    A = P - 0.5
    try:
        game = pyspiel.convert_to_turn_based(pyspiel.create_matrix_game(A.tolist(), (-A).tolist()))
        solver = mmd_dilated.MMDDilatedEnt(game, alpha)
    except Exception as error:  # an OpenSpiel version whose API differs: report, do not fail the benchmark
        return {"solver": "openspiel-mmd", "skipped": f"{type(error).__name__}: {error}"}
    curve, start = [], time.perf_counter()
    points = log_points(iters)
    for k in range(1, iters + 1):
        solver.update_sequences()
        if k in points:  # get_gap() is the α-regularised gap; "last" is the duality gap of the game itself
            x = np.asarray(solver.current_sequences()[0][1:], dtype=float)
            y = np.asarray(solver.current_sequences()[1][1:], dtype=float)
            curve.append({"iteration": k, "last": duality_gap(A, x / x.sum(), y / y.sum()),
                          "regularized_gap": float(solver.get_gap()), "seconds": time.perf_counter() - start})
            if time.perf_counter() - start > budget_s:
                break
    return {"solver": "openspiel-mmd", "alpha": alpha, "curve": curve, "last": curve[-1]["last"],
            "iterations": curve[-1]["iteration"], "seconds": time.perf_counter() - start}


def run_game(spec: str, iters: int, with_openspiel: bool) -> dict:
    game = load_game(spec)
    star = equilibrium(game)
    runs = {
        "mpo": mpo(game, iters),
        "mmd": mmd(game, iters, eta=MMD_ETA, alpha=MMD_ALPHA),
        "md": mirror_descent(game, iters, eta=MD_ETA),
        "fp": fictitious_play(game, iters),
    }
    out = {"game": spec, "size": game.shape[0], "iters": iters, "solvers": {}}
    for name, result in runs.items():
        out["solvers"][name] = {
            "params": result.params, "last": result.last_exploitability, "average": result.average_exploitability,
            "seconds": result.seconds,
            "refreshes": result.refreshes, "l1_to_lp": float(np.abs(result.last[0] - star).sum()),
            "curve": result.curve,
        }
        out["solvers"][name]["ms_per_1000"] = 1e6 * result.seconds / iters
        first = next((r["iteration"] for r in result.curve if r["last"] <= 1e-6), None)
        out["solvers"][name]["first_last_below_1e-6"] = first
    if with_openspiel:
        P = game.payoff + 0.5
        spiel = openspiel_mmd(P, min(iters, 5000))
        if spiel is not None and "skipped" not in spiel:
            out["solvers"]["openspiel-mmd"] = spiel
        elif spiel is not None:
            out["openspiel_skipped"] = spiel["skipped"]
    return out


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, res in zip(axes[0], results):
        for name, data in res["solvers"].items():
            its = [r["iteration"] for r in data["curve"]]
            ax.loglog(its, [max(r["last"], 1e-17) for r in data["curve"]], label=f"{name} last")
            if name in ("md", "fp"):
                ax.loglog(its, [max(r["average"], 1e-17) for r in data["curve"]], "--", label=f"{name} average")
        ax.set_title(res["game"])
        ax.set_xlabel("iteration")
        ax.set_ylabel("exploitability (duality gap)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench_games", help="output folder")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds for the random games")
    parser.add_argument("--quick", action="store_true", help="10x fewer iterations")
    parser.add_argument("--no-openspiel", action="store_true", help="skip OpenSpiel's MMD even if installed")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = [("perturbed-rps", 10_000)]
    for seed in [int(s) for s in args.seeds.split(",")]:
        specs += [(f"random:10:{seed}", 10_000), (f"random:100:{seed}", 50_000)]
    results = []
    for spec, iters in specs:
        res = run_game(spec, iters // scale, not args.no_openspiel)
        results.append(res)
        s = res["solvers"]
        line = "  ".join(f"{k}: last {v['last']:.2e}" + (f" avg {v['average']:.2e}" if "average" in v else "")
                         for k, v in s.items())
        print(f"{spec} ({res['iters']} iters)  {line}", flush=True)
        print(f"    ratio MPO last / MD average = {s['mpo']['last'] / max(s['md']['average'], 1e-300):.3g};  "
              f"MPO {s['mpo']['ms_per_1000']:.1f} ms per 1000 iterations", flush=True)
        (out / "results.json").write_text(json.dumps({"versions": versions(), "results": results}, indent=1))
    plot(results, out / "curves.png")
    print(f"wrote {out / 'results.json'} and {out / 'curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
