"""The persuasion learner on finite problems against the exact LP: learning curves (value of the learned
scheme against an exactly best-responding Receiver) for the prosecutor example and one aligned problem,
with the gradient through the Receiver's update (commitment) and without it (REINFORCE's view).

    python scripts/persuasion_finite_demo.py --out docs/persuasion_finite.png

Runs in seconds (numpy). See docs/persuasion.md, "The finite abstraction and the theory".
"""

from __future__ import annotations

import argparse

import numpy as np

from accord.games.persuasion import make_problem, prosecutor
from accord.persuasion.finite import FiniteConfig, train_scheme


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/persuasion_finite.png")
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(100)
    u = rng.uniform(size=(3, 3))
    problems = {"prosecutor (conflicting interests)": prosecutor(0.3),
                "aligned 3x3 (u_S = u_R)": make_problem(rng.dirichlet(np.ones(3)), u, u)}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (name, problem) in zip(axes, problems.items()):
        for through, label in ((True, "commitment (gradient through the Receiver)"),
                               (False, "Receiver as environment (REINFORCE)")):
            result = train_scheme(problem, FiniteConfig(steps=args.steps, through_receiver=through, log_every=20))
            ax.plot([r["step"] for r in result.curve], [r["exact_value"] for r in result.curve], label=label)
            print(f"{name:38s} {label:44s} learned {result.exact_value:.4f}  LP {result.optimal_value:.4f}")
        ax.axhline(result.optimal_value, color="k", ls="--", lw=1, label="LP optimum (exact solver)")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel("Sender value, exact best response")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
