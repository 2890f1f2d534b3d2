"""Independent PPO with one actor-critic shared by all agents, trained on credit-assigned rewards.

The learner of STAS (Chen, Zhang et al., AAAI 2024, arXiv 2304.07520; paper code models/policy/ppo.py),
after PPO (Schulman et al. 2017, arXiv 1707.06347) and GAE (Schulman et al. 2016, arXiv 1506.02438),
written in the CleanRL manner. Each agent acts on its own observation with the same network; the team's
return arrives only when an episode ends and a credit scheme (credit.py) turns it into per-agent,
per-step rewards. One iteration:

    rollout   play whole episodes (K envs in lockstep) until `steps_per_iteration` env steps
    credit    store the episodes for the reward model, read rewards from its frozen copy
    gae       per agent: advantages and returns (gamma 1, lambda 0.95, no bootstrap after the end)
    ppo       `epochs` passes of clipped surrogate + clipped value loss (Huber) - entropy bonus
    reward    reward-model updates; the frozen copy is refreshed on its schedule
    log       evaluation (success rate / team return over fixed seeds), checkpoint

    python -m accord.marl.ppo            # a tiny run; the command line is `accord marl train`
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from accord.marl.credit import CreditAssigner, RewardModelSettings, r_squared
from accord.marl.envs import make_env


@dataclass
class PPOConfig:
    env: str = "alice-bob"
    """alice-bob | mpe-spread"""
    credit: str = "stas"
    """stas | stas-ml | episodic | uniform | temporal | arel (credit.py)"""
    seed: int = 0
    """seeds torch, the environments and the reward model's sampling"""
    total_steps: int = 100_000
    """budget in env steps (joint steps, as the paper counts them)"""
    steps_per_iteration: int = 2048
    """env steps of whole episodes per PPO iteration (paper batch_size 2048)"""
    parallel_envs: int = 16
    """episodes played in lockstep during a rollout (speed only)"""
    epochs: int = 10
    """passes over each iteration's samples (paper num_epochs 10)"""
    minibatch_size: int = 256
    """samples (agent-steps) per gradient step (paper 256 A&B, 128 MPE)"""
    lr: float = 1e-4
    """Adam learning rate, decayed linearly to 0 over the run (paper lr 1e-4, schedule_adam linear)"""
    clip: float = 0.2
    """PPO ratio clip, decayed linearly like lr (paper 0.2 A&B, 0.5 MPE)"""
    gamma: float = 1.0
    """discount (paper 1)"""
    gae_lambda: float = 0.95
    """GAE lambda (paper 0.95)"""
    value_coef: float = 0.5
    """weight of the value loss (paper 0.5)"""
    entropy_coef: float = 0.01
    """weight of the entropy bonus (paper 0.01)"""
    huber_delta: float = 10.0
    """Huber threshold of the value loss (paper 10)"""
    max_grad_norm: float = 10.0
    """gradient norm clip (paper 10)"""
    hidden: int = 64
    """width of the actor's and the critic's two tanh layers (paper 64)"""
    eval_every: int = 5
    """iterations between evaluations"""
    eval_episodes: int = 50
    """episodes per evaluation, sampled actions (paper num_eval_runs 50)"""
    checkpoint_every: int = 5
    """iterations between checkpoints (resume point after a kill)"""
    reward_model: RewardModelSettings = field(default_factory=RewardModelSettings)
    """the return-decomposition model (learned credits only)"""

    @property
    def iterations(self) -> int:
        return max(1, math.ceil(self.total_steps / self.steps_per_iteration))


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs (two tanh layers each), orthogonal init as in the paper's code."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int):
        super().__init__()

        def layer(n_in, n_out, std):
            linear = nn.Linear(n_in, n_out)
            nn.init.orthogonal_(linear.weight, std)
            nn.init.zeros_(linear.bias)
            return linear

        self.actor = nn.Sequential(layer(obs_dim, hidden, 1.0), nn.Tanh(), layer(hidden, hidden, 1.0), nn.Tanh(),
                                   layer(hidden, n_actions, 0.01))
        self.critic = nn.Sequential(layer(obs_dim, hidden, 1.0), nn.Tanh(), layer(hidden, hidden, 1.0), nn.Tanh(),
                                    layer(hidden, 1, 1.0))

    def forward(self, obs):
        return self.actor(obs), self.critic(obs).squeeze(-1)


@torch.no_grad()
def play_episodes(envs, network, n_episodes: int, seeds=None) -> dict:
    """Play `n_episodes` whole episodes, len(envs) at a time in lockstep, sampling the policy.
    Returns padded arrays obs (B, N, T, D), actions/logprobs/values (B, N, T), lengths, returns, success."""
    env = envs[0]
    N, T, D = env.n_agents, env.episode_length, env.obs_dim
    out = {"obs": np.zeros((n_episodes, N, T, D), np.float32), "actions": np.full((n_episodes, N, T), env.n_actions),
           "logprobs": np.zeros((n_episodes, N, T), np.float32), "values": np.zeros((n_episodes, N, T), np.float32),
           "lengths": np.zeros(n_episodes, np.int64), "returns": np.zeros(n_episodes, np.float32),
           "success": np.zeros(n_episodes, bool)}
    for start in range(0, n_episodes, len(envs)):
        wave = list(range(start, min(start + len(envs), n_episodes)))
        obs = np.stack([envs[k].reset_arrays(None if seeds is None else seeds[b]) for k, b in enumerate(wave)])
        live = list(range(len(wave)))
        for t in range(T):
            logits, values = network(torch.from_numpy(obs[live]))
            dist = torch.distributions.Categorical(logits=logits)
            actions = dist.sample()
            logprobs = dist.log_prob(actions)
            still = []
            for row, k in enumerate(live):
                b = wave[k]
                out["obs"][b, :, t], out["actions"][b, :, t] = obs[k], actions[row].numpy()
                out["logprobs"][b, :, t], out["values"][b, :, t] = logprobs[row].numpy(), values[row].numpy()
                obs[k], _, done, info = envs[k].step_arrays(actions[row].numpy())
                if done:
                    out["lengths"][b], out["returns"][b] = info["length"], info["team_return"]
                    out["success"][b] = info["success"]
                else:
                    still.append(k)
            live = still
            if not live:
                break
    return out


def gae(rewards, values, lengths, gamma: float, lam: float):
    """Per agent, per step: (advantages, returns), both (B, N, T) and zero after each episode's end."""
    B, N, T = rewards.shape
    advantages = np.zeros_like(rewards)
    running = np.zeros((B, N), rewards.dtype)
    for t in reversed(range(T)):
        inside = (t < lengths)[:, None]
        next_value = values[:, :, t + 1] * (t + 1 < lengths)[:, None] if t + 1 < T else 0.0
        delta = rewards[:, :, t] + gamma * next_value - values[:, :, t]
        running = np.where(inside, delta + gamma * lam * running * (t + 1 < lengths)[:, None], 0.0)
        advantages[:, :, t] = running
    return advantages, (advantages + values) * (np.arange(T)[None, None, :] < lengths[:, None, None])


def huber(x, delta):
    return torch.where(x.abs() <= delta, 0.5 * x ** 2, delta * (x.abs() - 0.5 * delta))


def ppo_update(network, optimizer, batch, config: PPOConfig, clip: float, generator) -> dict:
    """Clipped-surrogate PPO epochs over the valid agent-steps of one iteration."""
    n = len(batch["actions"])
    stats = []
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, config.minibatch_size):
            idx = order[start:start + config.minibatch_size]
            logits, values = network(batch["obs"][idx])
            dist = torch.distributions.Categorical(logits=logits)
            ratio = torch.exp(dist.log_prob(batch["actions"][idx]) - batch["logprobs"][idx])
            adv = batch["advantages"][idx]
            policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
            old = batch["values"][idx]
            clipped = old + (values - old).clamp(-clip, clip)
            value_loss = torch.max(huber(batch["returns"][idx] - values, config.huber_delta),
                                   huber(batch["returns"][idx] - clipped, config.huber_delta)).mean()
            entropy = dist.entropy().mean()
            loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), config.max_grad_norm)
            optimizer.step()
            stats.append((policy_loss.item(), value_loss.item(), entropy.item()))
    policy_loss, value_loss, entropy = np.mean(stats, axis=0)
    return {"policy_loss": float(policy_loss), "value_loss": float(value_loss), "entropy": float(entropy)}


def flatten_valid(episodes, advantages, returns) -> dict:
    valid = np.broadcast_to(np.arange(advantages.shape[-1])[None, None, :] < episodes["lengths"][:, None, None],
                            advantages.shape)                                                    # (B, N, T)
    pick = lambda x: torch.from_numpy(np.ascontiguousarray(x[valid]))
    adv = advantages[valid]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return {"obs": pick(episodes["obs"]), "actions": pick(episodes["actions"]), "logprobs": pick(episodes["logprobs"]),
            "values": pick(episodes["values"]), "returns": pick(returns), "advantages": torch.from_numpy(adv)}


def evaluate(env_name: str, network, config: PPOConfig) -> dict:
    """Success rate and team return over `eval_episodes` fixed seeds, policy sampled with a fixed seed."""
    state = torch.get_rng_state()
    torch.manual_seed(10_000 + config.seed)
    envs = [make_env(env_name) for _ in range(config.parallel_envs)]
    seeds = [1_000_000 + k for k in range(config.eval_episodes)]
    episodes = play_episodes(envs, network, config.eval_episodes, seeds)
    torch.set_rng_state(state)
    return {"success": float(episodes["success"].mean()), "team_return": float(episodes["returns"].mean()),
            "length": float(episodes["lengths"].mean())}


def train(config: PPOConfig, out_dir: str | Path | None = None, progress: bool = False, log=None) -> list[dict]:
    """Train for config.total_steps env steps. With `out_dir`, evaluations are appended to curve.jsonl
    and a checkpoint.pt is written every `checkpoint_every` iterations; rerunning resumes from it."""
    from tqdm import tqdm

    from accord.runs import ResultStore

    torch.manual_seed(config.seed)
    envs = [make_env(config.env) for _ in range(config.parallel_envs)]
    for k, env in enumerate(envs):
        env.reset_arrays(seed=config.seed * 1000 + k)
    env = envs[0]
    network = ActorCritic(env.obs_dim, env.n_actions, config.hidden)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    credit = CreditAssigner(config.credit, config.reward_model, env.obs_dim, env.n_actions, env.n_agents,
                            env.episode_length, seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    start, env_steps = 0, 0
    store = ResultStore(Path(out_dir) / "curve.jsonl") if out_dir else None
    checkpoint = Path(out_dir) / "checkpoint.pt" if out_dir else None
    if checkpoint and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        credit.load_state_dict(state["credit"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        for env_, rng_state in zip(envs, state["env_rngs"]):
            env_.rng.bit_generator.state = rng_state
        start, env_steps = state["iteration"], state["env_steps"]
    records = list(store.records) if store else []

    def record(iteration, extra):
        entry = {"key": iteration, "iteration": iteration, "env_steps": env_steps, **evaluate(config.env, network, config),
                 **extra}
        if store is None:
            records.append(entry)
        elif iteration not in store.done:
            store.append(entry)
            records.append(entry)
        if log:
            log(entry)

    if start == 0 and (store is None or 0 not in store.done):
        record(0, {})
    bar = tqdm(range(start, config.iterations), initial=start, total=config.iterations, disable=not progress,
               desc=f"{config.env} {config.credit} seed {config.seed}", unit="it")
    for iteration in bar:
        frac = 1.0 - iteration / config.iterations
        for group in optimizer.param_groups:
            group["lr"] = config.lr * frac
        # rollout: whole episodes until the iteration's step budget
        batches, steps = [], 0
        while steps < config.steps_per_iteration:
            batch = play_episodes(envs, network, config.parallel_envs)
            batches.append(batch)
            steps += int(batch["lengths"].sum())
        episodes = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
        env_steps += steps
        # credit: feed the reward model's buffer, read per-agent per-step rewards from its frozen copy
        credit.observe(episodes["obs"], episodes["actions"], episodes["lengths"], episodes["returns"])
        stats = {}
        if credit.ready:                      # learned credit: only once a trained model has been frozen
            rewards = credit.rewards(episodes["obs"], episodes["actions"], episodes["lengths"], episodes["returns"])
            if credit.learned:                # R² of the frozen model on episodes it has not trained on
                stats["reward_r2"] = r_squared(rewards.sum(axis=(1, 2)), episodes["returns"])
            advantages, returns = gae(rewards, episodes["values"], episodes["lengths"], config.gamma, config.gae_lambda)
            stats.update(ppo_update(network, optimizer, flatten_valid(episodes, advantages, returns), config,
                                    config.clip * frac, generator))
        # reward model: updates on the buffer, frozen copy refreshed on schedule
        loss = credit.train(iteration)
        stats.update(reward_loss=loss, train_success=float(episodes["success"].mean()),
                     train_return=float(episodes["returns"].mean()))
        bar.set_postfix(success=f"{stats['train_success']:.2f}", ret=f"{stats['train_return']:.1f}")
        done = iteration + 1
        if done % config.eval_every == 0 or done == config.iterations:
            record(done, stats)
        if checkpoint and (done % config.checkpoint_every == 0 or done == config.iterations):
            state = {"network": network.state_dict(), "optimizer": optimizer.state_dict(),
                     "credit": credit.state_dict(), "generator": generator.get_state(),
                     "torch_rng": torch.get_rng_state(), "env_rngs": [e.rng.bit_generator.state for e in envs],
                     "iteration": done, "env_steps": env_steps, "config": asdict(config)}
            torch.save(state, checkpoint.with_suffix(".tmp"))
            os.replace(checkpoint.with_suffix(".tmp"), checkpoint)
    return records


if __name__ == "__main__":
    small = PPOConfig(total_steps=4096, steps_per_iteration=1024, eval_every=1, eval_episodes=10,
                      reward_model=RewardModelSettings(emb_dim=32, n_layers=1, updates_per_iteration=5))
    for row in train(small, progress=True):
        print(row)
