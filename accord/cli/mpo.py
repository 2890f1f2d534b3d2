"""`accord mpo train`: Magnetic Preference Optimization of a language model by self-play.

Zhang et al. 2024, "Magnetic Preference Optimization", arXiv 2410.16714; trainer in accord/train/mpo.py.

    accord mpo train --model smollm2-135m --prompts prompts.json --judge style-cycle --steps 50 --out runs/mpo
    accord mpo train ... --judge lm:smollm2-135m          # LM judge (constrained choice A/B, both orders)
    accord mpo train ... --judge mypkg.judges:prefer_short  # any Python callable (prompt, a, b) -> P(a ≻ b)
    accord mpo train ... --lora 8                           # LoRA instead of full fine-tuning

Rerunning the same command after a crash resumes from the last checkpoint in --out.
"""

from __future__ import annotations

import json
from pathlib import Path

from accord.errors import AccordError


def register(subparsers) -> None:
    from accord.cli import positive_float, positive_int

    parser = subparsers.add_parser("mpo", help="Magnetic Preference Optimization (self-play preference training)")
    sub = parser.add_subparsers(dest="mpo_command", metavar="ACTION")
    train = sub.add_parser("train", help="train a model with MPO against a pairwise judge")
    train.add_argument("--model", default="smollm2-135m",
                       help="model to train: packaged name, .gguf file, model folder or hub id (default smollm2-135m); "
                            "loaded as a torch model (transformers backend)")
    train.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                       help="weights while training (default float32)")
    train.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    train.add_argument("--prompts", required=True, help="JSON file: a list of strings or of {\"prompt\": ...}")
    train.add_argument("--judge", default="style-cycle", help="style-cycle, module:function, or lm:MODEL")
    train.add_argument("--steps", type=positive_int, default=100, help="optimizer steps (default 100)")
    train.add_argument("--out", default="runs/mpo", help="run folder (log.jsonl, checkpoint.pt, curves.png)")
    train.add_argument("--batch", type=positive_int, default=4, help="prompts per step (default 4)")
    train.add_argument("--max-new-tokens", type=positive_int, default=32, help="response length limit")
    train.add_argument("--lr", type=positive_float, default=1e-5, help="learning rate (default 1e-5)")
    train.add_argument("--kl", type=float, default=0.1, help="α, weight of KL to the magnet (default 0.1)")
    train.add_argument("--magnet-every", type=int, default=10, help="refresh magnet every K steps (0 = never)")
    train.add_argument("--eval-every", type=int, default=10, help="win rate vs initial policy every N steps")
    train.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw", help="adamw (default) or sgd")
    train.add_argument("--loss", choices=["reinforce", "mirror"], default="reinforce",
                       help="reinforce (the paper's REINFORCE + KL loss, default) or mirror (fit each MMD step by "
                            "log-ratio regression; see docs/mpo.md)")
    train.add_argument("--mirror-step", type=positive_float, default=0.5, help="η of the MMD step (--loss mirror)")
    train.add_argument("--inner-steps", type=positive_int, default=10,
                       help="optimizer steps per MMD step (--loss mirror, default 10)")
    train.add_argument("--lora", type=int, default=0, help="LoRA rank (0 = full fine-tuning)")
    train.add_argument("--temperature", type=positive_float, default=1.0, help="sampling temperature")
    train.add_argument("--seed", type=int, default=0, help="random seed")
    train.set_defaults(func=run_train)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def read_prompts(path: str) -> list[str]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list) or not data:
        raise AccordError(f"{path}: expected a non-empty JSON list of prompts")
    prompts = []
    for i, item in enumerate(data):
        text = item.get("prompt") if isinstance(item, dict) else item
        if not isinstance(text, str) or not text.strip():
            raise AccordError(f"{path}: item {i} is not a prompt string (or an object with a \"prompt\")")
        prompts.append(text)
    return prompts


def run_train(args) -> int:
    from accord.train.judges import load_judge
    from accord.train.mpo import MPOConfig, MPOTrainer

    prompts = read_prompts(args.prompts)
    if args.kl < 0:
        raise AccordError(f"--kl must be non-negative, got {args.kl}")
    config = MPOConfig(steps=args.steps, prompts_per_step=args.batch, max_new_tokens=args.max_new_tokens,
                       temperature=args.temperature, learning_rate=args.lr, optimizer=args.optimizer, kl_coef=args.kl,
                       loss=args.loss, mirror_step=args.mirror_step, inner_steps=args.inner_steps,
                       magnet_every=args.magnet_every, eval_every=args.eval_every, lora_rank=args.lora,
                       seed=args.seed)
    config.check()
    judge = load_judge(args.judge)
    from accord.lm import load_model

    lm = load_model(args.model, backend="transformers", dtype=args.dtype, device=args.device)  # trainable torch
    trainer = MPOTrainer(lm.model, lm.tokenizer, prompts, judge, config, out_dir=args.out,
                         format_prompt=lambda p: lm.chat_prompt(p))

    def show(row):
        extra = f"  win-rate {row['win_rate_vs_initial']:.3f}" if "win_rate_vs_initial" in row else ""
        print(f"step {row['step']:>5}  loss {row['loss']:+.4f}  kl {row['kl_to_magnet']:.4f}{extra}", flush=True)

    trainer.train(on_step=show)
    print(f"wrote {args.out}/log.jsonl, checkpoint.pt, curves.png")
    return 0
