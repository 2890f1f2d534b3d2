"""Magnetic Preference Optimization for language models (Zhang et al. 2024, arXiv 2410.16714).

Self-play over a pairwise preference oracle. Each step runs five named phases:

  generate   sample two responses per prompt from the current policy
  judge      p = P(y ≻ y′) from a pairwise judge (accord.train.judges)
  log-probs  token log-probabilities under the policy (with grad) and the magnet ρ (no grad)
  loss       token-level REINFORCE with advantage p − ½ (and ½ − p for y′) + α · KL(π ‖ ρ), the KL exact
             over the vocabulary at each position plus its score-function term (sequence_kl_surrogate);
             or, with loss="mirror", `inner_steps` optimizer steps fitting one MMD step in policy space by
             log-ratio regression on the pairs (mirror_targets, mirror_loss; SPPO arXiv 2405.00675 and
             REBEL arXiv 2404.16767 use this regression view of mirror descent)
  log        one JSONL row: loss, KL to the magnet, win rate vs the initial policy, phase timings

and every `magnet_every` steps the magnet is refreshed to the current policy (ρ ← π), the magnet-refresh
rule of MPO on top of Magnetic Mirror Descent (Sokota et al. 2022, arXiv 2206.05825).

The magnet (and the initial policy used for win rates) is a snapshot of the *trainable* parameters,
swapped in for a no-grad forward pass. Under full fine-tuning that is every weight; under LoRA it is the
adapter weights, so the magnet stays correct when the adapter was pretrained (it is never obtained by
disabling the adapter).

    trainer = MPOTrainer(model, tokenizer, prompts, judge, MPOConfig(steps=50), out_dir="runs/mpo")
    trainer.train()       # resumes from runs/mpo/checkpoint.pt if present

Command line: `accord mpo train --model smollm2-135m --prompts prompts.json --judge style-cycle --steps 50`.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from accord.errors import AccordError
from accord.runs import versions
from accord.train.judges import Judge, call_judge


@dataclass
class MPOConfig:
    """Settings of an MPO run (recorded in run.json)."""

    steps: int = 100
    """Optimizer steps in total."""
    prompts_per_step: int = 4
    """Prompts sampled per step; each gets two self-play responses."""
    max_new_tokens: int = 32
    """Length limit of sampled responses."""
    temperature: float = 1.0
    """Sampling temperature."""
    learning_rate: float = 1e-5
    """Learning rate of the optimizer (with loss="reinforce" it acts as the MMD step size η; with "mirror"
    it only sets how fast each step is fitted)."""
    optimizer: str = "adamw"
    """"adamw", or "sgd" (plain gradient steps)."""
    loss: str = "reinforce"
    """"reinforce" (the paper's token-level REINFORCE + KL loss, one optimizer step per MPO step) or
    "mirror" (each MPO step is one MMD step in policy space, fitted by log-ratio regression; see mirror_loss)."""
    mirror_step: float = 0.5
    """η of the MMD step that loss="mirror" fits (the learning rate is then the inner optimizer's)."""
    inner_steps: int = 10
    """loss="mirror": optimizer steps spent fitting each MMD step on its batch."""
    kl_coef: float = 0.1
    """α: weight of KL(π ‖ magnet) in the loss."""
    magnet_every: int = 10
    """K: refresh the magnet to the current policy every K steps (0 = never: fixed-magnet MMD)."""
    eval_every: int = 10
    """Measure the win rate against the initial policy every this many steps (0 = never)."""
    eval_prompts: int = 8
    """Prompts used for the win-rate measurement."""
    checkpoint_every: int = 10
    """Write a resumable checkpoint every this many steps (and at the end)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    lora_rank: int = 0
    """> 0: train a LoRA adapter of this rank (peft) instead of all weights."""
    seed: int = 0
    """Seed for sampling, prompt order and initialisation."""

    def check(self) -> None:
        for name in ("steps", "prompts_per_step", "max_new_tokens", "inner_steps"):
            if getattr(self, name) < 1:
                raise AccordError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name in ("temperature", "learning_rate", "mirror_step"):
            if not getattr(self, name) > 0:
                raise AccordError(f"{name} must be positive, got {getattr(self, name)}")
        if self.optimizer not in ("adamw", "sgd"):
            raise AccordError(f"optimizer must be adamw or sgd, got {self.optimizer!r}")
        if self.loss not in ("reinforce", "mirror"):
            raise AccordError(f"loss must be reinforce or mirror, got {self.loss!r}")
        for name in ("kl_coef", "magnet_every", "eval_every", "checkpoint_every", "lora_rank"):
            if getattr(self, name) < 0:
                raise AccordError(f"{name} must be non-negative, got {getattr(self, name)}")


def add_lora(model, rank: int):
    """Wrap `model` with a LoRA adapter on the attention projections (peft)."""
    from peft import LoraConfig, get_peft_model

    names = {n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    targets = [t for t in ("q_proj", "k_proj", "v_proj", "o_proj") if t in names] or sorted(names - {"lm_head"})
    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, lora_dropout=0.0))


class Snapshot:
    """A frozen copy of a model's trainable parameters that can be swapped in for a no-grad pass."""

    def __init__(self, model):
        self.model = model
        self.state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    def refresh(self) -> None:
        for n, p in self.model.named_parameters():
            if n in self.state:
                self.state[n].copy_(p.detach())

    def __enter__(self):
        self._saved = {}
        for n, p in self.model.named_parameters():
            if n in self.state:
                self._saved[n] = p.detach().clone()
                p.data.copy_(self.state[n])
        return self.model

    def __exit__(self, *exc):
        for n, p in self.model.named_parameters():
            if n in self._saved:
                p.data.copy_(self._saved[n])
        self._saved = {}


def next_token_logprobs(model, input_ids, attention_mask, first: int = 0) -> torch.Tensor:
    """Full next-token log-probabilities [B, T-1-first, V]: row t predicts input_ids[:, first + t + 1].
    `first` skips the prompt columns (responses start at the same column after left padding)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, first:-1].float()
    return torch.log_softmax(logits, dim=-1)


def token_logprobs(model, input_ids, attention_mask, response_mask) -> torch.Tensor:
    """log π(token) at each position of `input_ids` (0 where response_mask is 0); shape [B, T]."""
    logp = next_token_logprobs(model, input_ids, attention_mask).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    logp = torch.cat([torch.zeros_like(logp[:, :1]), logp], dim=1)
    return logp * response_mask


def sequence_kl_surrogate(logp, magnet_logp, sampled_logp, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sequence: (surrogate whose gradient is an unbiased estimate of ∇ KL(π ‖ ρ) over whole responses,
    the KL value Σ_t KL_t).

    KL_t = Σ_v π(v|y<t) (log π(v|y<t) − log ρ(v|y<t)) is exact over the vocabulary at each sampled position;
    E_y[Σ_t KL_t] is the sequence KL. Its gradient has a path term Σ_t ∇KL_t and a score-function term
    Σ_t ∇log π(y_t) · Σ_{t'>t} KL_t' (later positions depend on earlier sampled tokens); the surrogate carries
    both. (The k3 estimator (ρ/π − 1 − log ρ/π) on sampled tokens, used as a loss, has in expectation the
    gradient of the *reverse* KL(ρ ‖ π) at each position, and no score-function term; MMD's magnet term is
    KL(π ‖ ρ). tests/test_mpo.py checks both statements by enumerating all two-token responses.)

    logp, magnet_logp: [B, T, V] full log-probabilities; sampled_logp: [B, T] log π of the sampled tokens;
    mask: [B, T], 1 on response tokens."""
    kl_t = (logp.exp() * (logp - magnet_logp)).sum(-1) * mask
    later = kl_t.detach().flip(1).cumsum(1).flip(1) - kl_t.detach()
    return (kl_t + later * sampled_logp * mask).sum(1), kl_t.detach().sum(1)


def sampled_logprobs(logp, input_ids, response_mask) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probability of each sampled response token [B, T'] (0 off the response), the response mask
    [B, T']) from full log-probabilities [B, T', V] of next_token_logprobs(..., first)."""
    first = input_ids.shape[1] - 1 - logp.shape[1]
    mask = response_mask[:, first + 1:]
    return logp.gather(-1, input_ids[:, first + 1:, None]).squeeze(-1) * mask, mask


def mpo_loss(logp, magnet_logp, input_ids, response_mask, advantages, kl_coef):
    """Token-level REINFORCE with per-sequence advantage + α·KL(π‖ρ) (sequence_kl_surrogate).

    logp, magnet_logp: [B, T', V] from next_token_logprobs(..., first) for the policy (with grad) and the
    magnet; input_ids and response_mask: [B, T] with T' = T - 1 - first. Returns (loss, mean KL per
    response token)."""
    sampled, mask = sampled_logprobs(logp, input_ids, response_mask)
    tokens = mask.sum().clamp(min=1)
    pg = -(advantages[:, None] * sampled).sum() / tokens
    surrogate, kl = sequence_kl_surrogate(logp, magnet_logp, sampled, mask)
    return pg + kl_coef * surrogate.sum() / tokens, kl.sum() / tokens


def mirror_targets(policy_logp, magnet_logp, p, step: float, kl_coef: float) -> torch.Tensor:
    """Regression targets of one MMD step for self-play pairs (loss="mirror").

    The MMD step π' ∝ [π · ρ^{ηα} · exp(η·g)]^{1/(1+ηα)}, g(y) = P(y ≻ π), moves each log-probability by
    log π'(y) − log π(y) = c·(g(y) − α·(log π(y) − log ρ(y))) + const, c = η/(1+ηα). For a pair (y, y′)
    sampled from π the constant cancels in the difference, and g(y) − g(y′) is replaced by p − ½ with
    p = P(y ≻ y′): averaged over y′ ~ π this is g(y) − ½, so the least-squares fit over pairs is exactly
    the MMD step (the regression view of mirror descent of SPPO, Wu et al. 2024, arXiv 2405.00675, and
    REBEL, Gao et al. 2024, arXiv 2404.16767; tests/test_mpo.py checks it by enumeration).

    policy_logp, magnet_logp: [2B] sequence log-probabilities of the responses under π (before the step)
    and ρ, pairs interleaved (y₀, y₀′, y₁, y₁′, …); p: [B]. Returns [B] targets for
    (log π'(y) − log π(y)) − (log π'(y′) − log π(y′))."""
    gap = policy_logp - magnet_logp
    return step / (1 + step * kl_coef) * ((p - 0.5) - kl_coef * (gap[0::2] - gap[1::2]))


def mirror_loss(new_logp, policy_logp, targets) -> torch.Tensor:
    """Mean squared error of the pairs' log-ratio differences against mirror_targets."""
    ratio = new_logp - policy_logp
    return ((ratio[0::2] - ratio[1::2] - targets) ** 2).mean()


class MPOTrainer:
    """MPO self-play trainer (see module docstring). Writes run.json, log.jsonl, checkpoint.pt, curves.png."""

    def __init__(self, model, tokenizer, prompts: list[str], judge: Judge, config: MPOConfig,
                 out_dir: str | Path = "runs/mpo", format_prompt=None):
        config.check()
        if not prompts:
            raise AccordError("no prompts to train on")
        self.config, self.judge, self.prompts = config, judge, list(prompts)
        self.format_prompt = format_prompt or (lambda p: p)
        self.out = Path(out_dir)
        torch.manual_seed(config.seed)
        if config.lora_rank > 0:
            model = add_lora(model, config.lora_rank)
        self.model, self.tokenizer = model, tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.device = next(model.parameters()).device
        self.params = [p for p in model.parameters() if p.requires_grad]
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.params, lr=config.learning_rate)
        else:
            self.optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate)
        self.magnet = Snapshot(model)
        self.initial = Snapshot(model)
        self.step = 0
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)
        self.rng = random.Random(config.seed)

    # ---- phases ------------------------------------------------------------------------------------
    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self.tokenizer.padding_side = "left"
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)

    @torch.no_grad()
    def generate(self, prompts: list[str], copies: int = 2):
        """Sample `copies` responses per prompt; returns (texts, input_ids, attention_mask, response_mask)."""
        from accord.lm.hf import CACHE_KEY  # here, not at import: importing mpo does not need transformers

        ids, mask = self.encode([self.format_prompt(p) for p in prompts])
        ids, mask = ids.repeat_interleave(copies, 0), mask.repeat_interleave(copies, 0)
        self.model.eval()
        eos = self.tokenizer.eos_token_id
        out = ids
        attention = mask
        done = torch.zeros(len(ids), dtype=torch.bool, device=self.device)
        past = None
        step_input = ids
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        pos = positions
        for _ in range(self.config.max_new_tokens):
            result = self.model(input_ids=step_input, attention_mask=attention, position_ids=pos,
                                **{CACHE_KEY: past}, use_cache=True)
            past = getattr(result, CACHE_KEY)
            probs = torch.softmax(result.logits[:, -1].float() / self.config.temperature, dim=-1)
            token = torch.multinomial(probs.cpu(), 1, generator=self.generator).to(self.device).squeeze(-1)
            token = torch.where(done, torch.full_like(token, self.tokenizer.pad_token_id), token)
            out = torch.cat([out, token[:, None]], dim=1)
            attention = torch.cat([attention, (~done).long()[:, None]], dim=1)
            pos = positions[:, -1:] + 1 if pos.shape[1] > 1 else pos + 1
            positions = pos
            step_input = token[:, None]
            done = done | (token == eos)
            if bool(done.all()):
                break
        prompt_len = ids.shape[1]
        response_mask = torch.zeros_like(out, dtype=torch.float)
        response_mask[:, prompt_len:] = attention[:, prompt_len:].float()
        texts = [self.tokenizer.decode(row[prompt_len:][attention[i, prompt_len:].bool()], skip_special_tokens=True)
                 for i, row in enumerate(out)]
        return texts, out, attention, response_mask

    def judge_pairs(self, prompts: list[str], texts: list[str]) -> np.ndarray:
        return call_judge(self.judge, prompts, texts[0::2], texts[1::2])

    def logprobs(self, ids, attention, response_mask):
        """Full next-token log-probabilities over the response columns, policy (grad) and magnet."""
        first = max(int(response_mask.any(0).float().argmax()) - 1, 0)
        self.model.train()
        logp = next_token_logprobs(self.model, ids, attention, first)
        with torch.no_grad(), self.magnet as magnet_model:
            magnet_logp = next_token_logprobs(magnet_model, ids, attention, first)
        return logp, magnet_logp

    def optimize(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm)
        self.optimizer.step()

    def mirror_update(self, ids, attention, response_mask, p, timings) -> tuple[torch.Tensor, torch.Tensor]:
        """loss="mirror": fit one MMD step on this batch by `inner_steps` optimizer steps on mirror_loss.
        Returns (last regression loss, KL(π ‖ ρ) per response token before the step, exact per position)."""
        cfg = self.config
        t = time.perf_counter()
        with torch.no_grad():
            logp, magnet_logp = self.logprobs(ids, attention, response_mask)
            policy_tokens, mask = sampled_logprobs(logp, ids, response_mask)
            policy_seq = policy_tokens.sum(1)
            magnet_seq = sampled_logprobs(magnet_logp, ids, response_mask)[0].sum(1)
            kl = sequence_kl_surrogate(logp, magnet_logp, policy_tokens, mask)[1].sum() / mask.sum().clamp(min=1)
        targets = mirror_targets(policy_seq, magnet_seq, torch.as_tensor(p, dtype=torch.float, device=self.device),
                                 cfg.mirror_step, cfg.kl_coef)
        timings["logprobs"] = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(cfg.inner_steps):
            loss = mirror_loss(token_logprobs(self.model, ids, attention, response_mask).sum(1), policy_seq, targets)
            self.optimize(loss)
        timings["loss"] = time.perf_counter() - t
        return loss.detach(), kl

    @torch.no_grad()
    def win_rate(self) -> float:
        """Mean P(current policy's response ≻ initial policy's response) over eval prompts. Both policies
        sample with the same random numbers (common random numbers): an unchanged policy gives the same
        responses, so its win rate is exactly ½ under any judge that scores a tie ½."""
        prompts = [self.prompts[i % len(self.prompts)] for i in range(self.config.eval_prompts)]
        state = self.generator.get_state()
        current = self.generate(prompts, copies=1)[0]
        self.generator.set_state(state)
        with self.initial:
            initial = self.generate(prompts, copies=1)[0]
        return float(np.mean(call_judge(self.judge, prompts, current, initial)))

    # ---- one step ----------------------------------------------------------------------------------
    def train_step(self) -> dict:
        cfg, timings = self.config, {}
        prompts = [self.rng.choice(self.prompts) for _ in range(cfg.prompts_per_step)]
        t = time.perf_counter()
        texts, ids, attention, response_mask = self.generate(prompts)
        timings["generate"] = time.perf_counter() - t
        t = time.perf_counter()
        p = self.judge_pairs(prompts, texts)
        timings["judge"] = time.perf_counter() - t
        if cfg.loss == "mirror":
            loss, kl = self.mirror_update(ids, attention, response_mask, p, timings)
        else:
            t = time.perf_counter()
            logp, magnet_logp = self.logprobs(ids, attention, response_mask)
            timings["logprobs"] = time.perf_counter() - t
            t = time.perf_counter()
            adv = torch.tensor(np.stack([p - 0.5, 0.5 - p], axis=1).reshape(-1), dtype=torch.float,
                               device=self.device)
            loss, kl = mpo_loss(logp, magnet_logp, ids, response_mask, adv, cfg.kl_coef)
            self.optimize(loss)
            timings["loss"] = time.perf_counter() - t
        self.step += 1
        refreshed = cfg.magnet_every > 0 and self.step % cfg.magnet_every == 0
        if refreshed:
            self.magnet.refresh()
        row = {"step": self.step, "loss": loss.item(), "kl_to_magnet": kl.item(), "mean_p": float(p.mean()),
               "response_tokens": float(response_mask.sum() / len(texts)), "magnet_refreshed": refreshed,
               "samples": texts[:2], "seconds": timings}
        if cfg.eval_every and self.step % cfg.eval_every == 0:
            row["win_rate_vs_initial"] = self.win_rate()
        return row

    # ---- run, log, checkpoint, resume -----------------------------------------------------------------
    def checkpoint(self) -> None:
        state = {
            "step": self.step, "config": asdict(self.config),
            "trainable": {n: p.detach().cpu() for n, p in self.model.named_parameters() if p.requires_grad},
            "magnet": {n: v.cpu() for n, v in self.magnet.state.items()},
            "initial": {n: v.cpu() for n, v in self.initial.state.items()},
            "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
            "rng": self.rng.getstate(), "torch_rng": torch.get_rng_state(),
        }
        tmp = self.out / "checkpoint.pt.partial"
        torch.save(state, tmp)
        os.replace(tmp, self.out / "checkpoint.pt")

    def resume(self) -> bool:
        path = self.out / "checkpoint.pt"
        if not path.is_file():
            return False
        state = torch.load(path, weights_only=False)
        saved = dict(state["config"])
        current = asdict(self.config)
        defaults = asdict(MPOConfig())  # settings added since the checkpoint was written had their defaults
        differs = [k for k in current if k != "steps" and saved.get(k, defaults[k]) != current[k]]
        if differs:
            raise AccordError(f"{path} was written with different settings ({', '.join(differs)}); "
                              "use another --out or the same settings")
        params = dict(self.model.named_parameters())
        for n, v in state["trainable"].items():
            params[n].data.copy_(v)
        for snap, key in ((self.magnet, "magnet"), (self.initial, "initial")):
            for n, v in state[key].items():
                snap.state[n].copy_(v)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.step = state["step"]
        log = self.out / "log.jsonl"
        if log.is_file():  # drop rows written after the checkpoint (the crashed tail)
            rows = [line for line in log.read_text().splitlines() if line.strip()]
            keep = [line for line in rows if json.loads(line).get("step", 0) <= self.step]
            log.write_text("".join(line + "\n" for line in keep))
        return True

    def train(self, on_step=None) -> list[dict]:
        self.out.mkdir(parents=True, exist_ok=True)
        resumed = self.resume()
        meta = {"config": asdict(self.config), "seed": self.config.seed, "versions": versions(),
                "prompts": len(self.prompts), "resumed_at_step": self.step if resumed else None}
        (self.out / "run.json").write_text(json.dumps(meta, indent=1))
        rows = self.run_steps(on_step)
        plot_log(self.out / "log.jsonl", self.out / "curves.png")
        return rows

    def run_steps(self, on_step=None) -> list[dict]:
        """Step to `config.steps`, appending each step's row to out_dir/log.jsonl and checkpointing on schedule
        and at the end (shared by every trainer built on this one)."""
        rows = []
        with open(self.out / "log.jsonl", "a") as log:
            while self.step < self.config.steps:
                row = self.train_step()
                log.write(json.dumps(row) + "\n")
                log.flush()
                rows.append(row)
                if on_step:
                    on_step(row)
                if self.config.checkpoint_every and self.step % self.config.checkpoint_every == 0:
                    self.checkpoint()
        self.checkpoint()
        return rows


def plot_log(log_path: Path, png: Path) -> None:
    """Loss, KL to magnet and win rate vs initial policy against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    if not rows:
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, key in zip(axes, ("loss", "kl_to_magnet", "win_rate_vs_initial")):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        if pts:
            ax.plot(*zip(*pts), marker="." if key.startswith("win") else None)
        ax.set_title(key)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
