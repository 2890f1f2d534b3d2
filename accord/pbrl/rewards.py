"""Reward models learned from (soft) segment preferences, by Bradley-Terry.

  "pt"   Preference Transformer (Kim et al., ICLR 2023, arXiv 2303.00957): a causal transformer over the
         interleaved tokens s_1, a_1, ..., s_H, a_H; at each action token a head gives a reward r_t and a
         query/key; the preference-attention read-out z_i = sum_t softmax_t(q_i . k_t / sqrt(d)) r_t scores
         the segment by mean_i z_i.
  "rpt"  Robust Preference Transformer of PEARL (Liu et al., ICML 2024, arXiv 2306.03615, Sec. 4.2): the same
         network, but the head gives a Gaussian N(mu_t, sigma_t^2) per step; the read-out runs on the
         reparameterised sample r_t = mu_t + sigma_t * eps, and an uncertainty regulariser
         L_U = mean_t max(0, eta - H_t), H_t = log(sigma_t sqrt(2 pi e)) the entropy of the step's Gaussian,
         keeps sigma_t from collapsing below the level sigma_min = exp(eta) / sqrt(2 pi e) (the Bradley-Terry
         loss pushes it down, so it settles near that level). Loss: BT(sampled scores) + lambda * L_U.
  "mlp"  Markovian MLP r(s, a), segment score = sum_t r(s_t, a_t) (Christiano et al. 2017; the usual
         baseline of preference-based RL).

Bradley-Terry with a soft label y = P(first segment preferred): loss = BCE(sigmoid(score_0 - score_1), y).
The relabelled reward of a transition is mu_t (the mean for "rpt"), computed over the consecutive
segments of its episode, exactly as the segments were cut for training.

    model = train_reward(RewardConfig(kind="rpt"), observations, actions, pairs, labels)
    rewards = relabel(model, data["observations"], data["actions"], segment_length=20)   # [E, T]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class RewardConfig:
    kind: str = "rpt"
    """pt (Preference Transformer), rpt (robust Gaussian PT, PEARL), or mlp (Markovian BT)"""
    embed_dim: int = 64
    """transformer width (the PT paper uses 256; smaller runs on a CPU)"""
    layers: int = 1
    """causal transformer blocks"""
    heads: int = 4
    """attention heads per block"""
    hidden: int = 64
    """hidden width of the MLP reward"""
    epochs: int = 30
    """passes over the labelled pairs"""
    batch_size: int = 64
    """pairs per optimiser step"""
    lr: float = 3e-4
    """AdamW learning rate"""
    weight_decay: float = 1e-4
    """AdamW weight decay"""
    uncertainty_weight: float = 0.1
    """lambda: weight of the uncertainty regulariser L_U (rpt)"""
    std_level: float = 0.1
    """sigma_min: the reward std the regulariser holds the steps at or above (rpt); eta is its entropy"""
    seed: int = 0
    """seed of initialisation, shuffling and reparameterisation noise"""


class PreferenceTransformer(nn.Module):
    """Causal transformer over (s, a) tokens with a preference-attention read-out; Gaussian head if robust."""

    def __init__(self, obs_dim: int, act_dim: int, max_length: int, config: RewardConfig, robust: bool):
        super().__init__()
        d = config.embed_dim
        self.robust = robust
        self.embed_state = nn.Linear(obs_dim, d)
        self.embed_action = nn.Linear(act_dim, d)
        self.position = nn.Embedding(max_length, d)
        block = nn.TransformerEncoderLayer(d, config.heads, dim_feedforward=4 * d, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.reward = nn.Linear(d, 2 if robust else 1)

    def step_rewards(self, observations: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(mu [B, H], log_sigma [B, H] or None, query [B, H, d], key [B, H, d])."""
        batch, length, _ = observations.shape
        position = self.position(torch.arange(length, device=observations.device))
        tokens = torch.stack([self.embed_state(observations) + position, self.embed_action(actions) + position], 2)
        tokens = tokens.reshape(batch, 2 * length, -1)  # s_1, a_1, s_2, a_2, ...
        causal = nn.Transformer.generate_square_subsequent_mask(2 * length, device=tokens.device)
        hidden = self.norm(self.blocks(tokens, mask=causal, is_causal=True))[:, 1::2]  # at the action tokens
        head = self.reward(hidden)
        log_sigma = head[..., 1].clamp(-7.0, 3.0) if self.robust else None
        return head[..., 0], log_sigma, self.query(hidden), self.key(hidden)

    def score(self, observations, actions, generator: torch.Generator | None = None):
        """(segment scores [B], log_sigma [B, H] or None); robust models score a reparameterised sample."""
        mu, log_sigma, query, key = self.step_rewards(observations, actions)
        rewards = mu
        if self.robust and generator is not None:
            noise = torch.randn(mu.shape, generator=generator, device=mu.device)
            rewards = mu + log_sigma.exp() * noise
        weights = torch.softmax(query @ key.transpose(1, 2) / math.sqrt(query.shape[-1]), dim=-1)
        return (weights @ rewards.unsqueeze(-1)).squeeze(-1).mean(-1), log_sigma


class MLPReward(nn.Module):
    """Markovian r(s, a); a segment scores the sum of its step rewards."""

    def __init__(self, obs_dim: int, act_dim: int, config: RewardConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim + act_dim, config.hidden), nn.ReLU(),
                                 nn.Linear(config.hidden, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1))
        self.robust = False

    def step_rewards(self, observations, actions):
        return self.net(torch.cat([observations, actions], -1)).squeeze(-1), None, None, None

    def score(self, observations, actions, generator=None):
        return self.step_rewards(observations, actions)[0].sum(-1), None


def build_reward_model(config: RewardConfig, obs_dim: int, act_dim: int, max_length: int) -> nn.Module:
    if config.kind == "mlp":
        return MLPReward(obs_dim, act_dim, config)
    if config.kind in ("pt", "rpt"):
        return PreferenceTransformer(obs_dim, act_dim, max_length, config, robust=config.kind == "rpt")
    raise ValueError(f"unknown reward model {config.kind!r} (pt, rpt or mlp)")


def uncertainty_loss(log_sigma: torch.Tensor, std_level: float) -> torch.Tensor:
    """L_U = mean max(0, eta - H(N(mu, sigma^2))), eta = H at sigma = std_level."""
    entropy = log_sigma + 0.5 * math.log(2 * math.pi * math.e)
    eta = math.log(std_level) + 0.5 * math.log(2 * math.pi * math.e)
    return F.relu(eta - entropy).mean()


def preference_loss(model: nn.Module, observations: torch.Tensor, actions: torch.Tensor, pairs: torch.Tensor,
                    labels: torch.Tensor, config: RewardConfig, generator: torch.Generator | None = None):
    """(total loss, BT loss) on a batch of pairs indexing `observations`/`actions` [N, H, ...]."""
    flat = pairs.reshape(-1)
    scores, log_sigma = model.score(observations[flat], actions[flat], generator)
    scores = scores.view(-1, 2)
    bradley_terry = F.binary_cross_entropy_with_logits(scores[:, 0] - scores[:, 1], labels)
    total = bradley_terry
    if log_sigma is not None:
        total = total + config.uncertainty_weight * uncertainty_loss(log_sigma, config.std_level)
    return total, bradley_terry


def train_reward(config: RewardConfig, observations: np.ndarray, actions: np.ndarray, pairs: np.ndarray,
                 labels: np.ndarray, progress=None) -> nn.Module:
    """Fit a reward model to soft preference labels on pairs of segments [N, H, ...]; returns it in eval mode.
    `progress(epoch, bt_loss)` is called after each epoch when given."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    observations = torch.as_tensor(observations, dtype=torch.float32)
    actions = torch.as_tensor(actions, dtype=torch.float32)
    pairs = torch.as_tensor(pairs, dtype=torch.long)
    labels = torch.as_tensor(labels, dtype=torch.float32)
    model = build_reward_model(config, observations.shape[-1], actions.shape[-1], observations.shape[1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for epoch in range(config.epochs):
        order = torch.randperm(len(pairs), generator=generator)
        running = 0.0
        for start in range(0, len(pairs), config.batch_size):
            batch = order[start:start + config.batch_size]
            loss, bradley_terry = preference_loss(model, observations, actions, pairs[batch], labels[batch],
                                                  config, generator)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running += bradley_terry.item() * len(batch)
        if progress:
            progress(epoch, running / len(pairs))
    return model.eval()


@torch.no_grad()
def segment_scores(model: nn.Module, observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Deterministic segment scores (mean rewards for "rpt") [N]."""
    scores, _ = model.score(torch.as_tensor(observations), torch.as_tensor(actions))
    return scores.numpy()


def pair_accuracy(model: nn.Module, observations: np.ndarray, actions: np.ndarray, pairs: np.ndarray,
                  true_labels: np.ndarray) -> float:
    """Share of strictly preferred pairs the model orders like the true labels."""
    scores = segment_scores(model, observations, actions)
    decided = true_labels != 0.5
    predicted_first = scores[pairs[:, 0]] > scores[pairs[:, 1]]
    return float((predicted_first == (true_labels == 1.0))[decided].mean())


@torch.no_grad()
def relabel(model: nn.Module, observations: np.ndarray, actions: np.ndarray, segment_length: int) -> np.ndarray:
    """Per-step rewards [E, T] of whole episodes: mean step reward of each consecutive segment."""
    episodes, horizon = observations.shape[:2]
    cut = lambda array: torch.as_tensor(array).reshape(-1, segment_length, array.shape[-1])  # noqa: E731
    mu = model.step_rewards(cut(observations), cut(actions))[0]
    return mu.reshape(episodes, horizon).numpy()
