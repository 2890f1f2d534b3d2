"""Return-decomposition reward models: STAS, STAS-ML and two learned baselines.

STAS (Chen, Zhang, Yang, Du, AAAI 2024, arXiv 2304.07520) predicts a reward r̂[i, t] for every agent i
and step t of an episode so that sum_{i,t} r̂[i, t] matches the team's episode return R:

    embed   x[i, t] = W_s obs[i, t] + E_a[action[i, t]] + E_t[t]        (padding action = n_actions)
    time    per agent, causal self-attention over its own steps (padding masked)
    agents  per step, coalition attention: agent i queries with its own W_Q[i] and sees only a random
            coalition (each other agent kept with probability 1/2, itself always); the outputs of M
            sampled coalitions are averaged -- a Monte-Carlo stand-in for the Shapley average over
            coalitions of marginal contributions
    head    r̂[i, t] = w . h[i, t] + b ;   loss = mean over episodes of (sum_{i,t} r̂ - R)^2

kind="stas"     L temporal blocks, then one coalition attention, then the head (paper's STAS, "v1")
kind="stas-ml"  each of the L layers is a temporal block followed by a coalition attention; the head
                reads the concatenated outputs of all layers (paper's STAS-ML, "v2")
kind="temporal" no agent split: the agents' embeddings are averaged per step, L temporal blocks predict a
                team reward r̂[t], and each agent gets r̂[t] / N
kind="arel"     AREL-style agent-temporal attention (Xiao et al. 2022): each layer is a temporal block then
                a full attention across agents (no coalition masks, one shared query map, residual + norm),
                per-agent head

Where the paper's code departs from a textbook block we follow it by default (see docs/marl.md):
  block="paper"      temporal block out = LN2(FFN(h) + 2a) with h = LN1(x + a), a = attention(x)
                     (the code adds the attention output twice and never x); "standard" = LN2(h + FFN(h))
  coalition output   the coalition attention's output replaces its input (no residual), as in the code
  agent_id="shuffled" an agent-id embedding is added before the coalition attention, with the ids drawn
                     as a fresh random permutation at every forward (as in the code); "fixed" uses agent
                     i's own id, "none" adds nothing
  one coalition mask per sample is shared by every (episode, step) of a batch, as in the code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

KINDS = ("stas", "stas-ml", "temporal", "arel")
NEG = -1e9  # masked score (finite, as in the paper's code: a fully masked row becomes uniform, not NaN)


@dataclass
class RewardModelConfig:
    kind: str = "stas"
    """stas | stas-ml | temporal | arel (see the module docstring)"""
    emb_dim: int = 128
    """width of every embedding and block (paper: hidden_size 128)"""
    n_heads: int = 4
    """attention heads (paper 4)"""
    n_layers: int = 3
    """temporal blocks, or interleaved layers for stas-ml/arel (paper 3)"""
    n_coalitions: int = 3
    """M, coalitions sampled per forward (paper: 3 on Alice & Bob, 5 on MPE)"""
    dropout: float = 0.5
    """dropout on attention weights, attention outputs and FFN outputs (the paper's code uses its
    emb_dropout default 0.5; the dropout=0.3 it passes is unused)"""
    block: str = "paper"
    """paper | standard: residual wiring of the temporal block"""
    agent_id: str = "shuffled"
    """shuffled | fixed | none: agent-id embedding before each coalition attention"""


def causal_padding_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T, T) bool: query step q may attend key step k iff k <= q and both lie inside the episode."""
    steps = torch.arange(T, device=lengths.device)
    valid = steps[None, :] < lengths[:, None]                                  # (B, T)
    causal = steps[None, :] <= steps[:, None]                                  # (T_q, T_k)
    return causal[None] & valid[:, None, :] & valid[:, :, None]


def sample_coalitions(M: int, N: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """(M, N, N) bool: row i is agent i's coalition; others kept with probability 1/2, itself always."""
    masks = torch.rand(M, N, N, generator=generator) < 0.5
    masks |= torch.eye(N, dtype=torch.bool)
    return masks.to(device)


def attention(q, k, v, allowed, n_heads: int, dropout: float, training: bool):
    """Multi-head scaled dot-product attention. q, k, v: (..., L, d); allowed broadcastable to
    (..., heads, L_q, L_k). Returns (..., L_q, d)."""
    d = q.shape[-1]
    split = lambda x: x.reshape(*x.shape[:-1], n_heads, d // n_heads).transpose(-2, -3)
    q, k, v = split(q), split(k), split(v)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d // n_heads)
    weights = F.dropout(scores.masked_fill(~allowed, NEG).softmax(-1), dropout, training)
    out = (weights @ v).transpose(-2, -3)                                      # (..., L, heads, d/h)
    return out.reshape(*out.shape[:-2], d)


class TemporalBlock(nn.Module):
    """Self-attention over one agent's steps with a causal + padding mask, then a position-wise FFN."""

    def __init__(self, d: int, n_heads: int, dropout: float, wiring: str):
        super().__init__()
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ffn = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
        self.n_heads, self.dropout, self.wiring = n_heads, dropout, wiring

    def forward(self, x, allowed):                                             # x: (B*N, T, d)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        a = F.dropout(self.out(attention(q, k, v, allowed[:, None], self.n_heads, self.dropout, self.training)),
                      self.dropout, self.training)
        h = self.norm1(x + a)
        f = F.dropout(self.ffn(h), self.dropout, self.training)
        return self.norm2(f + 2 * a) if self.wiring == "paper" else self.norm2(h + f)


class CoalitionAttention(nn.Module):
    """Attention across the agents of each step. With `coalitions=True`: agent-specific queries, a
    random coalition mask per sample, M samples averaged, output replaces input (paper). With
    `coalitions=False` (AREL-style): one query map, every agent sees every agent, residual + norm."""

    def __init__(self, d, n_heads, n_agents, n_coalitions, dropout, agent_id="shuffled", coalitions=True):
        super().__init__()
        self.coalitions = coalitions
        n_queries = n_agents if coalitions else 1
        self.query_weight = nn.Parameter(torch.empty(n_queries, d, d))
        self.query_bias = nn.Parameter(torch.zeros(n_queries, d))
        for w in self.query_weight:
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        self.kv, self.out = nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.agent_embedding = nn.Embedding(n_agents, d) if agent_id != "none" else None
        self.norm = None if coalitions else nn.LayerNorm(d, eps=1e-12)
        self.n_heads, self.n_agents, self.M, self.dropout, self.agent_id = n_heads, n_agents, n_coalitions, \
            dropout, agent_id

    def forward(self, x, masks=None, agent_ids=None):
        """x: (B, N, T, d) -> (B, N, T, d). masks: (M, N, N) bool coalitions (sampled when None);
        agent_ids: (N,) ids for the agent embedding (a fresh permutation when None and agent_id="shuffled")."""
        B, N, T, d = x.shape
        h = x.permute(0, 2, 1, 3)                                              # (B, T, N, d)
        if self.agent_embedding is not None:
            if agent_ids is None:
                agent_ids = torch.randperm(N) if self.agent_id == "shuffled" else torch.arange(N)
            h = h + self.agent_embedding(agent_ids.to(x.device))
        q = torch.einsum("btnd,ned->btne", h, self.query_weight.expand(N, d, d)) + self.query_bias.expand(N, d)
        k, v = self.kv(h).chunk(2, dim=-1)
        if self.coalitions:
            if masks is None:
                masks = sample_coalitions(self.M, N, device=x.device)
            allowed = masks[:, None, None, None]                               # (M, 1, 1, 1, N, N)
        else:
            allowed = torch.ones(1, 1, 1, 1, N, N, dtype=torch.bool, device=x.device)
        out = attention(q, k, v, allowed, self.n_heads, self.dropout, self.training)  # (M, B, T, N, d)
        out = F.dropout(self.out(out.mean(0)), self.dropout, self.training)
        if not self.coalitions:
            out = self.norm(h + out)
        return out.permute(0, 2, 1, 3)


class ReturnDecomposer(nn.Module):
    """r̂ (B, N, T) from observations (B, N, T, obs_dim), actions (B, N, T) and lengths (B,)."""

    def __init__(self, config: RewardModelConfig, obs_dim: int, n_actions: int, n_agents: int, max_steps: int):
        super().__init__()
        if config.kind not in KINDS:
            raise ValueError(f"unknown reward model {config.kind!r}; choose from {', '.join(KINDS)}")
        c, d = config, config.emb_dim
        self.config, self.n_actions = config, n_actions
        self.obs_embedding = nn.Linear(obs_dim, d)
        self.action_embedding = nn.Embedding(n_actions + 1, d)
        self.time_embedding = nn.Embedding(max_steps, d)
        self.temporal = nn.ModuleList(TemporalBlock(d, c.n_heads, c.dropout, c.block) for _ in range(c.n_layers))
        n_agent_layers = {"stas": 1, "stas-ml": c.n_layers, "temporal": 0, "arel": c.n_layers}[c.kind]
        self.across_agents = nn.ModuleList(
            CoalitionAttention(d, c.n_heads, n_agents, c.n_coalitions, c.dropout, c.agent_id,
                               coalitions=c.kind != "arel") for _ in range(n_agent_layers))
        self.head = nn.Linear(d * (c.n_layers if c.kind in ("stas-ml", "arel") else 1), 1)

    def forward(self, obs, actions, lengths, masks=None, agent_ids=None):
        B, N, T, _ = obs.shape
        steps = torch.arange(T, device=obs.device)
        x = self.obs_embedding(obs) + self.action_embedding(actions) + self.time_embedding(steps)
        allowed = causal_padding_mask(lengths, T)
        kind = self.config.kind
        if kind == "temporal":
            x = x.mean(dim=1)                                                  # team token per step
            for block in self.temporal:
                x = block(x, allowed)
            rewards = (self.head(x).squeeze(-1) / N)[:, None, :].expand(B, N, T)
        elif kind == "stas":
            x = x.reshape(B * N, T, -1)
            for block in self.temporal:
                x = block(x, allowed.repeat_interleave(N, 0))
            x = self.across_agents[0](x.reshape(B, N, T, -1), masks, agent_ids)
            rewards = self.head(x).squeeze(-1)
        else:                                                                  # stas-ml, arel: interleaved
            layers = []
            for block, across in zip(self.temporal, self.across_agents):
                x = block(x.reshape(B * N, T, -1), allowed.repeat_interleave(N, 0))
                x = across(x.reshape(B, N, T, -1), masks, agent_ids)
                layers.append(x)
            rewards = self.head(torch.cat(layers, dim=-1)).squeeze(-1)
        valid = steps[None, :] < lengths[:, None]
        return rewards * valid[:, None, :]


def decomposition_loss(rewards: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """mean over episodes of (sum_{i,t} r̂[i, t] - R)^2 (padding is already zero in `rewards`)."""
    return ((rewards.sum(dim=(1, 2)) - returns) ** 2).mean()
