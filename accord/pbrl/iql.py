"""Implicit Q-Learning (Kostrikov, Nair, Levine; ICLR 2022, arXiv 2110.06169) on relabelled offline data, and
behaviour cloning, the policy learners of PEARL (Liu et al., ICML 2024, arXiv 2306.03615).

One update runs four named phases on a minibatch of transitions (s, a, r, s'):

  value    V(s) regresses onto min_i Q_target_i(s, a) with the expectile loss |tau - 1(u < 0)| u^2, u = Q - V
  critic   Q_i(s, a) regresses onto r + gamma (1 - done) V(s')
  actor    advantage-weighted regression: maximise exp(beta (Q_target - V)) (clipped) * log pi(a | s)
  target   Polyak average of the Q networks into the target Q networks

Rewards come from a learned reward model and are min-max scaled to [0, 1] over the dataset first
(`scale_rewards`). Behaviour cloning is the same actor phase with every weight 1. The policy is a Gaussian
with a tanh mean and a state-independent log-std; evaluation uses the mean.

    policy = train_iql(IQLConfig(steps=5000), transitions)      # transitions: dict of [N, ...] arrays
    success = evaluate(task, policy.act, episodes=50, seed=0)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class IQLConfig:
    steps: int = 5000
    """gradient steps"""
    batch_size: int = 256
    """transitions per step"""
    hidden: int = 128
    """width of the two hidden layers of every network (the IQL paper uses 256)"""
    lr: float = 3e-4
    """Adam learning rate of all networks"""
    discount: float = 0.99
    """gamma"""
    expectile: float = 0.7
    """tau of the value expectile (0.7 in the IQL paper's MuJoCo/Adroit settings)"""
    temperature: float = 3.0
    """beta of advantage-weighted regression"""
    max_weight: float = 100.0
    """clip of exp(beta * advantage)"""
    polyak: float = 0.005
    """target-network averaging rate"""
    seed: int = 0
    """seed of initialisation and minibatch sampling"""


def mlp(inputs: int, outputs: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, outputs))


class GaussianPolicy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int):
        super().__init__()
        self.mean = mlp(obs_dim, act_dim, hidden)
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def log_prob(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        mean = torch.tanh(self.mean(observations))
        std = self.log_std.clamp(-5.0, 2.0).exp()
        return torch.distributions.Normal(mean, std).log_prob(actions).sum(-1)

    @torch.no_grad()
    def act(self, observations: np.ndarray) -> np.ndarray:
        return torch.tanh(self.mean(torch.as_tensor(observations, dtype=torch.float32))).numpy()


def expectile_loss(difference: torch.Tensor, expectile: float) -> torch.Tensor:
    """mean |tau - 1(u < 0)| u^2 over u = Q - V."""
    weight = torch.where(difference < 0, 1.0 - expectile, expectile)
    return (weight * difference.pow(2)).mean()


class IQL:
    """Networks, optimisers and the four-phase update."""

    def __init__(self, obs_dim: int, act_dim: int, config: IQLConfig):
        torch.manual_seed(config.seed)
        self.config = config
        self.value = mlp(obs_dim, 1, config.hidden)
        self.critics = nn.ModuleList([mlp(obs_dim + act_dim, 1, config.hidden) for _ in range(2)])
        self.target_critics = copy.deepcopy(self.critics).requires_grad_(False)
        self.policy = GaussianPolicy(obs_dim, act_dim, config.hidden)
        self.value_optimizer = torch.optim.Adam(self.value.parameters(), lr=config.lr)
        self.critic_optimizer = torch.optim.Adam(self.critics.parameters(), lr=config.lr)
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)

    def target_q(self, observations, actions) -> torch.Tensor:
        inputs = torch.cat([observations, actions], -1)
        return torch.minimum(*[critic(inputs) for critic in self.target_critics]).squeeze(-1)

    def update_value(self, observations, actions) -> float:
        with torch.no_grad():
            q = self.target_q(observations, actions)
        loss = expectile_loss(q - self.value(observations).squeeze(-1), self.config.expectile)
        self.value_optimizer.zero_grad()
        loss.backward()
        self.value_optimizer.step()
        return loss.item()

    def update_critic(self, observations, actions, rewards, next_observations, dones) -> float:
        with torch.no_grad():
            target = rewards + self.config.discount * (1.0 - dones) * self.value(next_observations).squeeze(-1)
        inputs = torch.cat([observations, actions], -1)
        loss = sum(F.mse_loss(critic(inputs).squeeze(-1), target) for critic in self.critics)
        self.critic_optimizer.zero_grad()
        loss.backward()
        self.critic_optimizer.step()
        return loss.item()

    def update_actor(self, observations, actions) -> float:
        with torch.no_grad():
            advantage = self.target_q(observations, actions) - self.value(observations).squeeze(-1)
            weight = torch.exp(self.config.temperature * advantage).clamp(max=self.config.max_weight)
        return actor_step(self.policy, self.policy_optimizer, observations, actions, weight)

    def update_target(self) -> None:
        with torch.no_grad():
            for target, online in zip(self.target_critics.parameters(), self.critics.parameters()):
                target.lerp_(online, self.config.polyak)

    def update(self, batch: dict) -> dict:
        value_loss = self.update_value(batch["observations"], batch["actions"])
        critic_loss = self.update_critic(batch["observations"], batch["actions"], batch["rewards"],
                                         batch["next_observations"], batch["dones"])
        actor_loss = self.update_actor(batch["observations"], batch["actions"])
        self.update_target()
        return {"value_loss": value_loss, "critic_loss": critic_loss, "actor_loss": actor_loss}


def actor_step(policy: GaussianPolicy, optimizer, observations, actions, weight) -> float:
    loss = -(weight * policy.log_prob(observations, actions)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def scale_rewards(rewards: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1] over the dataset (a constant reward becomes 0)."""
    low, high = float(rewards.min()), float(rewards.max())
    return (rewards - low) / (high - low) if high > low else np.zeros_like(rewards)


def flatten_episodes(data: dict, rewards: np.ndarray) -> dict:
    """Transitions of [E, T, ...] episodes as float32 tensors [E*T, ...]; time-limit ends are not terminal."""
    flat = lambda array: torch.as_tensor(array.reshape(-1, *array.shape[2:]), dtype=torch.float32)  # noqa: E731
    return {"observations": flat(data["observations"]), "actions": flat(data["actions"]),
            "rewards": flat(scale_rewards(rewards)), "next_observations": flat(data["next_observations"]),
            "dones": torch.zeros(rewards.size)}


def train_iql(config: IQLConfig, transitions: dict, progress=None) -> GaussianPolicy:
    """Run `config.steps` IQL updates on uniformly sampled minibatches; `progress(step, losses)` every 500."""
    agent = IQL(transitions["observations"].shape[-1], transitions["actions"].shape[-1], config)
    generator = torch.Generator().manual_seed(config.seed)
    size = len(transitions["observations"])
    for step in range(config.steps):
        index = torch.randint(0, size, (config.batch_size,), generator=generator)
        losses = agent.update({key: value[index] for key, value in transitions.items()})
        if progress and (step + 1) % 500 == 0:
            progress(step + 1, losses)
    return agent.policy


def train_bc(config: IQLConfig, transitions: dict) -> GaussianPolicy:
    """Behaviour cloning: maximum likelihood of the dataset actions, same policy and minibatches as IQL."""
    torch.manual_seed(config.seed)
    policy = GaussianPolicy(transitions["observations"].shape[-1], transitions["actions"].shape[-1], config.hidden)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    size = len(transitions["observations"])
    for _ in range(config.steps):
        index = torch.randint(0, size, (config.batch_size,), generator=generator)
        actor_step(policy, optimizer, transitions["observations"][index], transitions["actions"][index],
                   torch.ones(len(index)))
    return policy
