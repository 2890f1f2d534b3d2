"""Why the MPO language-model demo cycles: the update geometry, on the demo's own game, without sampling.

The demo (examples/mpo_style_cycle.py) trains a policy over 36 one-token responses: three styles that
play perturbed rock-paper-scissors (equilibrium mix (2, 5, 10)/17) and 33 unstyled tokens that lose to
any style. Here the policy is a table of logits z and every update uses the *exact* expected gradient
(no sampling noise), in two geometries, with the same MPO schedule (KL weight α to a magnet ρ that is
refreshed to the policy every K steps):

- mirror descent (MMD's geometry, Sokota et al. 2022, arXiv 2206.05825): z ← z + η·(g − α·log(π/ρ)),
  centred; this is Magnetic Mirror Descent up to the step's 1/(1+ηα) factor, as in accord.games.solvers;
- softmax policy gradient (what the LM trainer's REINFORCE + KL loss does in expectation, on a tabular
  policy): the same vector multiplied by π, z ← z + η·π⊙(g − α·log(π/ρ) − baseline), with plain SGD or
  AdamW-style steps (the demo uses AdamW).

g(y) = P(y ≻ π) is the win probability against the current policy. The L1 distance of the style mix from
the equilibrium is printed every 500 steps and plotted.

    python examples/mpo_geometry.py --png docs/mpo_geometry.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accord.games.matrix import PERTURBED_RPS_EQUILIBRIUM, perturbed_rps  # noqa: E402

VOCAB = 36
STYLED = 3


def demo_game() -> np.ndarray:
    """P(row ≻ column) over the 36 one-token responses of the demo."""
    game = np.full((VOCAB, VOCAB), 0.5)
    game[:STYLED, :STYLED] = perturbed_rps()
    game[:STYLED, STYLED:], game[STYLED:, :STYLED] = 1.0, 0.0
    return game


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def train(geometry: str, optimizer: str, alpha: float, refresh_every: int, lr: float, steps: int,
          record_every: int = 50) -> list[float]:
    """L1 distance of the style mix from the equilibrium every `record_every` steps."""
    game, z = demo_game(), np.zeros(VOCAB)
    magnet, first, second, distances = z.copy(), np.zeros(VOCAB), np.zeros(VOCAB), []
    for step in range(1, steps + 1):
        policy, magnet_policy = softmax(z), softmax(magnet)
        wins = game @ policy
        ascent = wins - alpha * (np.log(policy) - np.log(magnet_policy))
        ascent -= policy @ ascent  # centring does not change a softmax policy
        if geometry == "softmax-pg":
            ascent = policy * ascent
        if optimizer == "adamw":  # Adam's moment estimates (weight decay 0 on the logits)
            first = 0.9 * first + 0.1 * ascent
            second = 0.999 * second + 0.001 * ascent ** 2
            z = z + lr * (first / (1 - 0.9 ** step)) / (np.sqrt(second / (1 - 0.999 ** step)) + 1e-8)
        else:
            z = z + lr * ascent
        if refresh_every and step % refresh_every == 0:
            magnet = z.copy()
        if step % record_every == 0:
            styled = softmax(z)[:STYLED]
            distances.append(float(np.abs(styled / styled.sum() - PERTURBED_RPS_EQUILIBRIUM).sum()))
    return distances


ARMS = {
    "mirror descent, SGD η=0.5": ("mirror", "sgd", 0.5),
    "softmax PG, SGD η=0.5": ("softmax-pg", "sgd", 0.5),
    "softmax PG, SGD η=5": ("softmax-pg", "sgd", 5.0),
    "softmax PG, AdamW lr 2e-3": ("softmax-pg", "adamw", 2e-3),
    "softmax PG, AdamW lr 1e-2": ("softmax-pg", "adamw", 1e-2),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=0.3, help="KL weight α (default 0.3)")
    parser.add_argument("--magnet-every", type=int, default=20, help="magnet refresh period K (default 20)")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--png", help="write the figure here")
    args = parser.parse_args()
    curves = {}
    for name, (geometry, optimizer, lr) in ARMS.items():
        curves[name] = train(geometry, optimizer, args.alpha, args.magnet_every, lr, args.steps)
        shown = curves[name][9::10]
        print(f"{name:<28} L1 every 500 steps: {' '.join(f'{d:.3f}' for d in shown)}")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.2))
        for name, distances in curves.items():
            ax.plot(np.arange(1, len(distances) + 1) * 50, distances, label=name)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("L1(style mix, equilibrium)")
        ax.set_title(f"MPO schedule α={args.alpha}, K={args.magnet_every}, exact expected updates")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.png, dpi=80)
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
