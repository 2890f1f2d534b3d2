"""Credit assignment behind one call: which reward each agent gets at each step of an episode whose team
return R arrives only at the end.

    episodic   R at the last step of every agent, 0 elsewhere (the sparse signal itself)
    uniform    R / (N * T) at every step of every agent (T = the episode's length)
    stas, stas-ml, temporal, arel
               r̂[i, t] from a learned return decomposition (reward_model.py), trained on the episodes
               seen so far; the learner reads a frozen copy refreshed every `refresh_every` iterations

    credit = CreditAssigner("stas", RewardModelSettings(), obs_dim=19, n_actions=4, n_agents=2, max_steps=40)
    credit.observe(obs, actions, lengths, returns)      # a batch of finished episodes
    loss = credit.train(iteration)                      # a few model updates (learned credit only)
    rewards = credit.rewards(obs, actions, lengths, returns)   # (B, N, T) numpy, zero after each end
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch

from accord.errors import AccordError
from accord.marl.reward_model import KINDS, RewardModelConfig, ReturnDecomposer, decomposition_loss

CREDITS = ("stas", "stas-ml", "episodic", "uniform", "temporal", "arel")


@dataclass
class RewardModelSettings(RewardModelConfig):
    lr: float = 1e-4
    """Adam learning rate of the reward model (paper: 1e-4 Alice & Bob, 5e-4 MPE)"""
    weight_decay: float = 1e-5
    """Adam weight decay (paper 1e-5)"""
    batch_episodes: int = 256
    """episodes per reward-model update (paper rewardbatch_size 256)"""
    updates_per_iteration: int = 50
    """reward-model updates after each PPO iteration (paper updates_per_step 50)"""
    min_episodes: int = 40
    """start training the model once the buffer holds more episodes than this (paper 40)"""
    capacity: int = 20000
    """episodes kept in the buffer, oldest dropped first (paper buffer_size 20000 A&B, 15000 MPE)"""
    refresh_every: int = 1
    """PPO iterations between refreshes of the frozen copy the learner reads (the paper's code reads the
    live model, refreshed after every iteration's updates: 1)"""
    warmup_updates: int = 0
    """extra updates the first time the model trains, before PPO reads it (paper 0; its PPO instead waits
    for reward_model_starts episodes: 10,000 on Alice & Bob)"""
    return_norm: bool = False
    """fit the standardised return (R - mean) / std of the buffer and hand out std * r̂ + mean / (N * T),
    which sums to the same R (accord option; the paper's reward_norm is off by default)"""


class EpisodeBuffer:
    """Finished episodes, padded to max_steps: obs (C, N, T, D), actions (C, N, T) with padding action
    n_actions, lengths (C,), returns (C,). A ring: the oldest episode is overwritten first."""

    def __init__(self, capacity, n_agents, max_steps, obs_dim, n_actions):
        self.obs = np.zeros((capacity, n_agents, max_steps, obs_dim), dtype=np.float32)
        self.actions = np.full((capacity, n_agents, max_steps), n_actions, dtype=np.int64)
        self.lengths = np.zeros(capacity, dtype=np.int64)
        self.returns = np.zeros(capacity, dtype=np.float32)
        self.size, self.next = 0, 0

    def add(self, obs, actions, lengths, returns):
        for b in range(len(lengths)):
            slot = self.next
            self.obs[slot], self.actions[slot] = obs[b], actions[b]
            self.lengths[slot], self.returns[slot] = lengths[b], returns[b]
            self.next = (self.next + 1) % len(self.lengths)
            self.size = min(self.size + 1, len(self.lengths))

    def sample(self, batch: int, rng: np.random.Generator):
        index = rng.choice(self.size, size=min(batch, self.size), replace=False)
        return (torch.from_numpy(self.obs[index]), torch.from_numpy(self.actions[index]),
                torch.from_numpy(self.lengths[index]), torch.from_numpy(self.returns[index]))

    def state_dict(self) -> dict:
        n = self.size
        return {"obs": self.obs[:n].copy(), "actions": self.actions[:n].copy(), "lengths": self.lengths[:n].copy(),
                "returns": self.returns[:n].copy(), "next": self.next}

    def load_state_dict(self, state: dict):
        n = len(state["lengths"])
        self.obs[:n], self.actions[:n] = state["obs"], state["actions"]
        self.lengths[:n], self.returns[:n] = state["lengths"], state["returns"]
        self.size, self.next = n, state["next"]


def r_squared(predicted: np.ndarray, target: np.ndarray) -> float:
    """1 - mean squared error / variance of the target: 1 exact, 0 no better than the target's mean."""
    return float(1.0 - ((predicted - target) ** 2).mean() / max(float(np.var(target)), 1e-12))


def fixed_credit(credit: str, lengths: np.ndarray, returns: np.ndarray, n_agents: int, max_steps: int):
    rewards = np.zeros((len(lengths), n_agents, max_steps), dtype=np.float32)
    for b, (length, ret) in enumerate(zip(lengths, returns)):
        if credit == "episodic":
            rewards[b, :, length - 1] = ret
        else:
            rewards[b, :, :length] = ret / (n_agents * length)
    return rewards


class CreditAssigner:
    def __init__(self, credit: str, settings: RewardModelSettings, obs_dim: int, n_actions: int,
                 n_agents: int, max_steps: int, seed: int = 0):
        if credit not in CREDITS:
            raise AccordError(f"unknown credit {credit!r}; choose from {', '.join(CREDITS)}")
        self.credit, self.settings = credit, settings
        self.n_agents, self.max_steps = n_agents, max_steps
        self.learned = credit in KINDS
        self.ready = not self.learned      # learned credit is ready once a trained model has been frozen
        self.rng = np.random.default_rng(seed + 1)
        if not self.learned:
            return
        config = RewardModelConfig(**{k: v for k, v in asdict(settings).items()
                                      if k in RewardModelConfig.__dataclass_fields__})
        config.kind = credit
        self.model = ReturnDecomposer(config, obs_dim, n_actions, n_agents, max_steps)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.lr,
                                          weight_decay=settings.weight_decay)
        self.buffer = EpisodeBuffer(settings.capacity, n_agents, max_steps, obs_dim, n_actions)
        self.frozen = copy.deepcopy(self.model).eval()
        self.target_mean, self.target_std = 0.0, 1.0        # return standardisation (return_norm)
        self.frozen_mean, self.frozen_std = 0.0, 1.0        # ... as of the frozen copy

    def observe(self, obs, actions, lengths, returns):
        if self.learned:
            self.buffer.add(obs, actions, lengths, returns)

    def train(self, iteration: int) -> float | None:
        """Phase: reward-model updates on sampled episodes; then refresh the frozen copy on schedule."""
        if not self.learned or self.buffer.size <= self.settings.min_episodes:
            return None
        self.model.train()
        if self.settings.return_norm:
            returns = self.buffer.returns[:self.buffer.size]
            self.target_mean, self.target_std = float(returns.mean()), float(returns.std() + 1e-6)
        losses = []
        updates = self.settings.updates_per_iteration + (0 if self.ready else self.settings.warmup_updates)
        for _ in range(updates):
            obs, actions, lengths, returns = self.buffer.sample(self.settings.batch_episodes, self.rng)
            targets = (returns - self.target_mean) / self.target_std
            loss = decomposition_loss(self.model(obs, actions, lengths), targets)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        if (iteration + 1) % self.settings.refresh_every == 0 or not self.ready:
            self.frozen.load_state_dict(self.model.state_dict())
            self.frozen_mean, self.frozen_std = self.target_mean, self.target_std
            self.ready = True
        return float(np.mean(losses))

    @torch.no_grad()
    def rewards(self, obs, actions, lengths, returns) -> np.ndarray:
        if not self.learned:
            return fixed_credit(self.credit, lengths, returns, self.n_agents, self.max_steps)
        predicted = self.frozen(torch.from_numpy(obs), torch.from_numpy(actions), torch.from_numpy(lengths)).numpy()
        if not self.settings.return_norm:
            return predicted
        valid = np.arange(self.max_steps)[None, None, :] < lengths[:, None, None]
        offset = self.frozen_mean / (self.n_agents * np.maximum(lengths, 1))[:, None, None]
        return (self.frozen_std * predicted + offset * valid).astype(np.float32)

    def fit(self, obs, actions, lengths, returns) -> float:
        """R² of the credit's sums Σ_{i,t} against the returns R of these episodes (frozen model)."""
        return r_squared(self.rewards(obs, actions, lengths, returns).sum(axis=(1, 2)), returns)

    def state_dict(self) -> dict:
        if not self.learned:
            return {}
        return {"model": self.model.state_dict(), "frozen": self.frozen.state_dict(),
                "optimizer": self.optimizer.state_dict(), "buffer": self.buffer.state_dict(),
                "rng": self.rng.bit_generator.state, "ready": self.ready,
                "norm": (self.target_mean, self.target_std, self.frozen_mean, self.frozen_std)}

    def load_state_dict(self, state: dict):
        if not self.learned:
            return
        self.model.load_state_dict(state["model"])
        self.frozen.load_state_dict(state["frozen"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.rng.bit_generator.state = state["rng"]
        self.ready = state["ready"]
        self.target_mean, self.target_std, self.frozen_mean, self.frozen_std = state.get("norm", (0.0, 1.0, 0.0, 1.0))
