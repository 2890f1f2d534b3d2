"""Demonstration: MPO's last iterate moves to the equilibrium of a cyclic preference (docs/mpo.md).

Magnetic Preference Optimization (Zhang et al. 2024, arXiv 2410.16714) vs fixed-magnet MMD and self-play
without a magnet, on a tiny random Llama model (character tokenizer, CPU, a few minutes). The judge is a
deterministic function of the text: a response's style is its most frequent letter among a, b, c and
styles play perturbed rock-paper-scissors (accord.games.matrix.perturbed_rps), whose unique equilibrium
mix of styles is (2, 5, 10)/17. We track the style frequencies of the policy's samples and their L1
distance from that mix.

    python examples/mpo_style_cycle.py --steps 150 --out runs/mpo_demo
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord.games.matrix import PERTURBED_RPS_EQUILIBRIUM, perturbed_rps  # noqa: E402
from accord.train.judges import STYLES, response_style  # noqa: E402
from accord.train.mpo import MPOConfig, MPOTrainer, versions  # noqa: E402
from test_mpo import tiny_model, tiny_tokenizer  # noqa: E402

P = perturbed_rps()
PROMPTS = ["write:", "say:", "go:", "answer:"]


def weighted_cycle_judge(prompt: str, a: str, b: str) -> float:
    """P(a ≻ b) from the perturbed-RPS matrix over styles; unstyled responses lose to styled ones."""
    sa, sb = response_style(a), response_style(b)
    if sa is None or sb is None:
        return 0.5 if sa == sb else (0.0 if sa is None else 1.0)
    return float(P[STYLES.index(sa), STYLES.index(sb)])


@torch.no_grad()
def style_frequencies(trainer: MPOTrainer, samples: int) -> np.ndarray:
    texts = trainer.generate([PROMPTS[i % len(PROMPTS)] for i in range(samples)], copies=1)[0]
    counts = np.array([sum(response_style(t) == s for t in texts) for s in STYLES], dtype=float)
    return counts / max(counts.sum(), 1.0)


def run_variant(name: str, config: MPOConfig, out: Path, every: int, samples: int) -> list[dict]:
    trainer = MPOTrainer(tiny_model(seed=1), tiny_tokenizer(), PROMPTS, weighted_cycle_judge, config, out / name)
    rows = []

    def record(row):
        if row["step"] % every == 0 or row["step"] == config.steps:
            freq = style_frequencies(trainer, samples)
            rows.append({"step": row["step"], "freq": freq.tolist(),
                         "l1_to_equilibrium": float(np.abs(freq - PERTURBED_RPS_EQUILIBRIUM).sum())})
            print(f"{name:>10} step {row['step']:>4}  styles {np.round(freq, 2)}  L1 {rows[-1]['l1_to_equilibrium']:.3f}",
                  flush=True)

    freq = style_frequencies(trainer, samples)
    rows.append({"step": 0, "freq": freq.tolist(), "l1_to_equilibrium": float(np.abs(freq - PERTURBED_RPS_EQUILIBRIUM).sum())})
    trainer.train(on_step=record)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", default="runs/mpo_demo")
    parser.add_argument("--every", type=int, default=10, help="measure style frequencies every N steps")
    parser.add_argument("--samples", type=int, default=96, help="samples per measurement")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = dict(steps=args.steps, prompts_per_step=16, max_new_tokens=4, learning_rate=3e-3, eval_every=0,
                checkpoint_every=50, seed=0)
    variants = {
        "mpo": MPOConfig(kl_coef=0.2, magnet_every=10, **base),
        "mmd-fixed": MPOConfig(kl_coef=0.2, magnet_every=0, **base),
        "no-magnet": MPOConfig(kl_coef=0.0, magnet_every=0, **base),
    }
    start = time.time()
    results = {name: run_variant(name, cfg, out, args.every, args.samples) for name, cfg in variants.items()}
    summary = {"equilibrium": PERTURBED_RPS_EQUILIBRIUM.tolist(), "versions": versions(),
               "configs": {k: v.__dict__ for k, v in variants.items()}, "results": results,
               "seconds": time.time() - start}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in results.items():
        ax.plot([r["step"] for r in rows], [r["l1_to_equilibrium"] for r in rows], marker=".", label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("L1(style frequencies, equilibrium)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "distance.png", dpi=110)
    print(f"wrote {out}/results.json and distance.png in {summary['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
