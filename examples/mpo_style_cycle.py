"""Demonstration: MPO's last iterate moves to the equilibrium of a cyclic preference (docs/mpo.md).

Magnetic Preference Optimization (Zhang et al. 2024, arXiv 2410.16714) vs fixed-magnet MMD and self-play
without a magnet, on a tiny random Llama model (character tokenizer, CPU, a few minutes). The judge is a
deterministic function of the text: a response's style is its most frequent letter among a, b, c and
styles play perturbed rock-paper-scissors (accord.games.matrix.perturbed_rps), whose unique equilibrium
mix of styles is (2, 5, 10)/17. Responses are one token long by default, so the style is the first token
and the policy's style mix is read exactly from its next-token distribution (no sampling noise); with
--max-new-tokens > 1 it is estimated from samples. We track that mix and its L1 distance from the
equilibrium.

The three arms share the trainer and every setting but the magnet. By default each trainer step is one
MMD step fitted by log-ratio regression (`--loss mirror`, see accord.train.mpo.mirror_targets); `--loss
reinforce` runs the paper's REINFORCE + KL loss instead (docs/mpo.md gives the settings and results of both).
The arms run in parallel, one process each.

    python examples/mpo_style_cycle.py --out runs/mpo_demo --png docs/mpo_style_cycle.png
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord.games.matrix import (PERTURBED_RPS_EQUILIBRIUM, perturbed_rps, preference_game,  # noqa: E402
                                 regularized_gap)
from accord.games.solvers import mmd  # noqa: E402
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
def style_frequencies(trainer: MPOTrainer, samples: int) -> tuple[np.ndarray, float]:
    """(style mix among styled responses, share of styled responses), averaged over PROMPTS."""
    if trainer.config.max_new_tokens == 1:  # exact: the style is the one sampled token
        ids, mask = trainer.encode(PROMPTS)
        trainer.model.eval()
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = trainer.model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1].float()
        probs = torch.softmax(logits / trainer.config.temperature, dim=-1).mean(0)
        mass = np.array([probs[trainer.tokenizer.convert_tokens_to_ids(ch)].item() for ch in "abc"])
        return mass / mass.sum(), float(mass.sum())
    texts = trainer.generate([PROMPTS[i % len(PROMPTS)] for i in range(samples)], copies=1)[0]
    counts = np.array([sum(response_style(t) == s for t in texts) for s in STYLES], dtype=float)
    return counts / max(counts.sum(), 1.0), float(counts.sum() / len(texts))


@torch.no_grad()
def fixed_magnet_target(config: MPOConfig) -> dict:
    """The α-regularised equilibrium π = softmax(log ρ + (P − ½)π/α) that the fixed-magnet arm should reach,
    per prompt, with ρ = the initial policy's next-token distribution (one-token responses only), solved by
    MMD (accord.games.solvers.mmd). Returned as the style mix and styled share averaged over PROMPTS."""
    tokenizer, model = tiny_tokenizer(), tiny_model(seed=1)
    vocab = model.config.vocab_size
    texts = [tokenizer.decode([i], skip_special_tokens=True) for i in range(vocab)]  # every one-token response
    game = preference_game(np.array([[weighted_cycle_judge("", a, b) for b in texts] for a in texts]))
    styles = [response_style(text) for text in texts]
    style_ids = [styles.index(s) for s in STYLES]
    tokenizer.padding_side = "left"
    ids = tokenizer(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    pos = (ids["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    logits = model(**ids, position_ids=pos).logits[:, -1].double() / config.temperature
    mixes, shares, gaps = [], [], []
    for magnet in torch.softmax(logits, -1).numpy():
        policy = mmd(game, 4000, eta=0.5, alpha=config.kl_coef, magnet=magnet).last[0]
        gaps.append(regularized_gap(game, policy, policy, config.kl_coef, magnet, magnet))
        mass = policy[style_ids]
        mixes.append(mass / mass.sum())
        shares.append(mass.sum())
    return {"freq": np.mean(mixes, 0).tolist(), "styled": float(np.mean(shares)),
            "l1_to_equilibrium": float(np.abs(np.mean(mixes, 0) - PERTURBED_RPS_EQUILIBRIUM).sum()),
            "regularized_gap": float(max(gaps))}


def run_variant(name: str, config: MPOConfig, out: Path, every: int, samples: int, threads: int = 1) -> list[dict]:
    # the curve is measured from step 0, so an arm always starts afresh (the trainer would resume)
    torch.set_num_threads(threads)
    shutil.rmtree(out / name, ignore_errors=True)
    trainer = MPOTrainer(tiny_model(seed=1), tiny_tokenizer(), PROMPTS, weighted_cycle_judge, config, out / name)
    rows = []

    def measure(step):
        freq, styled = style_frequencies(trainer, samples)
        rows.append({"step": step, "freq": freq.tolist(), "styled": styled,
                     "l1_to_equilibrium": float(np.abs(freq - PERTURBED_RPS_EQUILIBRIUM).sum())})
        if step % (10 * every) == 0 or step == config.steps:
            print(f"{name:>10} step {step:>4}  styles {np.round(freq, 3)}  styled {styled:.2f}  "
                  f"L1 {rows[-1]['l1_to_equilibrium']:.3f}", flush=True)

    measure(0)
    trainer.train(on_step=lambda row: (row["step"] % every == 0 or row["step"] == config.steps)
                  and measure(row["step"]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--out", default="runs/mpo_demo")
    parser.add_argument("--every", type=int, default=5, help="measure style frequencies every N steps")
    parser.add_argument("--samples", type=int, default=96, help="samples per measurement (--max-new-tokens > 1)")
    parser.add_argument("--max-new-tokens", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256, help="prompts per step (two responses each)")
    parser.add_argument("--lr", type=float, default=2e-2)
    parser.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    parser.add_argument("--alpha", type=float, default=0.1, help="KL weight of MPO and fixed-magnet MMD")
    parser.add_argument("--magnet-every", type=int, default=20, help="MPO's magnet refresh period K")
    parser.add_argument("--loss", default="mirror", choices=["reinforce", "mirror"], help="trainer loss")
    parser.add_argument("--mirror-step", type=float, default=1.0, help="η of the MMD step (--loss mirror)")
    parser.add_argument("--inner-steps", type=int, default=10, help="optimizer steps per MMD step (--loss mirror)")
    parser.add_argument("--seed", type=int, default=0, help="trainer seed (sampling, prompt order)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for this tiny model)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="arms trained at once, one process each (default: the number of CPUs)")
    parser.add_argument("--arms", default="mpo,mmd-fixed,no-magnet", help="comma-separated subset of the arms")
    parser.add_argument("--png", default=None, help="also write the figure here (e.g. docs/mpo_style_cycle.png)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = dict(steps=args.steps, prompts_per_step=args.batch, max_new_tokens=args.max_new_tokens,
                learning_rate=args.lr, optimizer=args.optimizer, loss=args.loss,
                mirror_step=args.mirror_step, inner_steps=args.inner_steps, eval_every=0, checkpoint_every=args.steps,
                seed=args.seed)
    variants = {
        "mpo": MPOConfig(kl_coef=args.alpha, magnet_every=args.magnet_every, **base),
        "mmd-fixed": MPOConfig(kl_coef=args.alpha, magnet_every=0, **base),
        "no-magnet": MPOConfig(kl_coef=0.0, magnet_every=0, **base),
    }
    variants = {k: v for k, v in variants.items() if k in args.arms.split(",")}
    start = time.time()
    workers = min(len(variants), args.workers)
    if workers > 1:  # one process per arm (the arms are independent; one thread each is fastest)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {name: pool.submit(run_variant, name, cfg, out, args.every, args.samples, args.threads)
                       for name, cfg in variants.items()}
            results = {name: future.result() for name, future in futures.items()}
    else:
        results = {name: run_variant(name, cfg, out, args.every, args.samples, args.threads)
                   for name, cfg in variants.items()}
    target = None
    if "mmd-fixed" in variants and args.max_new_tokens == 1:
        target = fixed_magnet_target(variants["mmd-fixed"])
        print(f"fixed-magnet target (regularised equilibrium): styles {np.round(target['freq'], 3)}  "
              f"styled {target['styled']:.2f}  L1 {target['l1_to_equilibrium']:.3f}", flush=True)
    summary = {"equilibrium": PERTURBED_RPS_EQUILIBRIUM.tolist(), "fixed_magnet_target": target,
               "versions": versions(),
               "configs": {k: v.__dict__ for k, v in variants.items()}, "results": results,
               "seconds": time.time() - start}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for name, rows in results.items():
        steps = [r["step"] for r in rows]
        axes[0].plot(steps, [r["l1_to_equilibrium"] for r in rows], label=name)
        for k, ax in enumerate(axes[1:]):
            ax.plot(steps, [r["freq"][k] for r in rows], label=name)
    if target:  # dotted: where the fixed-magnet arm should settle
        axes[0].axhline(target["l1_to_equilibrium"], color="C1", ls=":", lw=1.2, label="fixed-magnet target")
        for k, ax in enumerate(axes[1:]):
            ax.axhline(target["freq"][k], color="C1", ls=":", lw=1.2)
    axes[0].set_yscale("log")
    axes[0].set_title("L1(style mix, equilibrium)")
    axes[0].legend()
    for k, ax in enumerate(axes[1:]):
        ax.axhline(PERTURBED_RPS_EQUILIBRIUM[k], color="k", ls="--", lw=0.8)
        ax.set_title(f"style {STYLES[k]} (dashed: equilibrium)")
    for ax in axes:
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(out / "distance.png", dpi=80)
    if args.png:
        fig.savefig(args.png, dpi=80)
    print(f"wrote {out}/results.json and distance.png in {summary['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
