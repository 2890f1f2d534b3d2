"""PPO self-play on Overcooked: the PPO_SP baseline of Carroll et al. (NeurIPS 2019, arXiv 1910.05789),
after PPO (Schulman et al. 2017, arXiv 1707.06347) with GAE, written in the CleanRL manner; ProAgent
(arXiv 2308.11339) compares against self-play agents of this kind.

One actor-critic plays both seats (each seat sees features.py's vector from its own side). The reward is
the team's sparse reward (20 per soup) plus the 2019 shaped reward (3 per onion into a pot, 3 per useful dish
pickup, 5 per soup pickup, both players' sum) times a factor annealed linearly from 1 to 0 over
`shaping_horizon` env steps, as in 2019. The horizon (400) ends an episode without bootstrapping, as there.
One iteration:

    rollout   `num_envs` episodes of 400 joint steps in lockstep, both seats sampled from the policy
    gae       per env and seat: advantages and returns (gamma, lambda)
    ppo       `epochs` passes of `minibatches` minibatches: clipped surrogate + value loss - entropy bonus
    log       mean sparse return and soups of the rollout's episodes (results.jsonl), checkpoint (resume)

    accord agents train-ppo --layout cramped_room --total-steps 400000    # -> $ACCORD_CACHE/agents/ppo/cramped_room
    python -m accord.agents.ppo --layout cramped_room --entropy-coef 0.1  # every PPOArgs field as a flag
A rerun with the same --out resumes from the checkpoint; --max-minutes stops cleanly between iterations.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from accord.agents.features import feature_size, state_features
from accord.agents.overcooked_env import ACTION_NAMES, AGENTS, HORIZON, LAYOUTS, OvercookedParallelEnv
from accord.errors import AccordError
from accord.marl.ppo import gae as padded_gae
from accord.runs import ResultStore, write_run_metadata


@dataclass
class PPOArgs:
    layout: str = "cramped_room"
    """one of the paper's five layouts"""
    seed: int = 0
    """seeds torch and the action sampling"""
    total_steps: int = 400_000
    """budget in joint env steps (one step moves both players)"""
    num_envs: int = 8
    """episodes played in lockstep per iteration (2019: 30)"""
    lr: float = 1e-3
    """Adam learning rate (2019: 1e-3)"""
    gamma: float = 0.99
    """discount (2019: 0.99)"""
    gae_lambda: float = 0.98
    """GAE lambda (2019: 0.98)"""
    clip: float = 0.05
    """PPO ratio clip (2019: 0.05)"""
    epochs: int = 8
    """passes over each iteration's samples (2019: 8)"""
    minibatches: int = 6
    """minibatches per pass (2019: 6)"""
    entropy_coef: float = 0.01
    """entropy bonus weight (2019: 0.1 over millions of steps; smaller here for a CPU budget)"""
    value_coef: float = 0.5
    """value loss weight (2019: 0.5)"""
    max_grad_norm: float = 0.1
    """gradient norm clip (2019: 0.1)"""
    shaping_horizon: int = 300_000
    """env steps over which the shaped-reward factor decays from 1 to 0 (2019: millions)"""
    hidden: int = 64
    """width of the actor's and critic's two tanh layers"""
    threads: int = 1
    """torch CPU threads (the networks are tiny: more threads only spin on a shared machine)"""
    max_minutes: float = 9.0
    """stop after the iteration that passes this wall time (a rerun resumes)"""
    out: str = ""
    """folder for run.json, results.jsonl and checkpoint.pt (default $ACCORD_CACHE/agents/ppo/<layout>,
    where the "ppo" partner looks)"""


class ActorCritic(nn.Module):
    def __init__(self, hidden: int = 64):
        super().__init__()

        def mlp(out_dim):
            return nn.Sequential(nn.Linear(feature_size(), hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, out_dim))

        self.actor, self.critic = mlp(len(ACTION_NAMES)), mlp(1)

    def forward(self, x):
        return self.actor(x), self.critic(x).squeeze(-1)


def observe(envs) -> np.ndarray:
    """(num_envs, 2, features) from each seat."""
    return np.stack([[state_features(env.mdp, env.state, i) for i in range(2)] for env in envs])


def gae(rewards: np.ndarray, values: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimates over time (axis 0) of one episode that ends after the last step:
    accord.marl.ppo.gae (per row, episodes of given lengths) with every row running the whole horizon."""
    horizon = len(rewards)
    rows = lambda x: np.moveaxis(np.asarray(x), 0, -1).reshape(-1, 1, horizon)  # noqa: E731
    advantages, _ = padded_gae(rows(rewards), rows(values), np.full(rows(rewards).shape[0], horizon), gamma, lam)
    return np.moveaxis(advantages.reshape(*np.shape(rewards)[1:], horizon), -1, 0)


def default_ppo_dir() -> Path:
    return Path(os.environ.get("ACCORD_CACHE", Path.home() / ".cache" / "accord")) / "agents" / "ppo"


def train(args: PPOArgs) -> dict:
    out = Path(args.out) if args.out else default_ppo_dir() / args.layout
    write_run_metadata(out, {"method": "PPO self-play (Carroll et al. 2019)", **asdict(args)})
    log = ResultStore(out / "results.jsonl", key_field="iteration")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = ActorCritic(args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-5)
    step, iteration, seconds_before = 0, 0, 0.0
    checkpoint_path = out / "checkpoint.pt"
    if checkpoint_path.exists():
        saved = torch.load(checkpoint_path, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        step, iteration, seconds_before = saved["step"], saved["iteration"], saved["seconds"]
        rng = np.random.default_rng([args.seed, iteration])
        torch.manual_seed(args.seed + iteration)
    envs = [OvercookedParallelEnv(args.layout) for _ in range(args.num_envs)]
    T, N = HORIZON, args.num_envs
    start = time.perf_counter()
    while step < args.total_steps and (time.perf_counter() - start) / 60 < args.max_minutes:
        # ---- rollout ----------------------------------------------------------------------------
        shaping = max(0.0, 1.0 - step / args.shaping_horizon)
        for env in envs:
            env.shaping_factor = shaping
            env.reset(seed=args.seed)
        obs = np.zeros((T, N, 2, feature_size()), np.float32)
        actions = np.zeros((T, N, 2), np.int64)
        logps, values, rewards = (np.zeros((T, N, 2), np.float32) for _ in range(3))
        for t in range(T):
            obs[t] = observe(envs)
            with torch.no_grad():
                logits, value = model(torch.as_tensor(obs[t]))
                probs = torch.softmax(logits, -1).numpy().astype(np.float64)
            cumulative = probs.cumsum(-1)
            cumulative[..., -1] = 1.0
            a = (rng.random((N, 2, 1)) < cumulative).argmax(-1)
            actions[t], values[t] = a, value.numpy()
            logps[t] = np.log(np.take_along_axis(probs, a[..., None], -1)[..., 0] + 1e-12)
            for n, env in enumerate(envs):
                _, r, _, _, _ = env.step({AGENTS[0]: int(a[n, 0]), AGENTS[1]: int(a[n, 1])})
                rewards[t, n] = (r[AGENTS[0]], r[AGENTS[1]])
        step += T * N
        # ---- gae (the horizon ends the episode: no bootstrap) -----------------------------------
        advantages = gae(rewards, values, args.gamma, args.gae_lambda)
        returns = advantages + values
        # ---- ppo ----------------------------------------------------------------------------------
        b_obs = torch.as_tensor(obs.reshape(-1, feature_size()))
        b_act, b_logp = torch.as_tensor(actions.reshape(-1)), torch.as_tensor(logps.reshape(-1))
        b_adv, b_ret = torch.as_tensor(advantages.reshape(-1)), torch.as_tensor(returns.reshape(-1))
        batch = len(b_act)
        size = batch // args.minibatches
        for _ in range(args.epochs):
            order = torch.randperm(batch)
            for k in range(args.minibatches):
                idx = order[k * size:(k + 1) * size]
                logits, value = model(b_obs[idx])
                dist = torch.distributions.Categorical(logits=logits)
                ratio = torch.exp(dist.log_prob(b_act[idx]) - b_logp[idx])
                adv = (b_adv[idx] - b_adv[idx].mean()) / (b_adv[idx].std() + 1e-8)
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - args.clip, 1 + args.clip) * adv).mean()
                value_loss = 0.5 * ((value - b_ret[idx]) ** 2).mean()
                entropy = dist.entropy().mean()
                loss = policy_loss + args.value_coef * value_loss - args.entropy_coef * entropy
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
        # ---- log ----------------------------------------------------------------------------------
        iteration += 1
        seconds = seconds_before + time.perf_counter() - start
        record = {"iteration": iteration, "env_steps": step, "shaping": round(shaping, 4),
                  "mean_return": float(np.mean([env.episode_return for env in envs])),
                  "mean_soups": float(np.mean([env.soups for env in envs])), "entropy": entropy.item(),
                  "seconds": round(seconds, 1)}
        log.append(record)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "iteration": iteration, "seconds": seconds, "hidden": args.hidden}, checkpoint_path)
        print(record, flush=True)
    return {"env_steps": step, "iterations": iteration, "seconds": seconds_before + time.perf_counter() - start,
            "finished": step >= args.total_steps}


class PPOPolicy:
    """A trained self-play policy as a partner (samples its actions; argmax with stochastic=False)."""

    name = "ppo"

    def __init__(self, checkpoint: str | Path, stochastic: bool = True):
        saved = torch.load(checkpoint, weights_only=False)
        self.model = ActorCritic(saved["hidden"])
        self.model.load_state_dict(saved["model"])
        self.model.eval()
        self.stochastic = stochastic

    def reset(self, mdp, player_index: int, seed: int = 0) -> None:
        self.mdp, self.player_index, self.rng = mdp, player_index, np.random.default_rng(seed)

    def act(self, state) -> int:
        with torch.no_grad():
            logits, _ = self.model(torch.as_tensor(state_features(self.mdp, state, self.player_index)))
        probs = torch.softmax(logits, -1).numpy().astype(np.float64)
        return int(self.rng.choice(len(probs), p=probs / probs.sum())) if self.stochastic else int(probs.argmax())


def load_ppo_policy(layout: str | None, ppo_dir: str | Path | None = None, stochastic: bool = True) -> PPOPolicy:
    if layout is None:
        raise AccordError("the ppo partner needs a layout")
    path = (Path(ppo_dir) if ppo_dir else default_ppo_dir()) / layout / "checkpoint.pt"
    if not path.exists():
        raise AccordError(f"no PPO checkpoint at {path}; train it with `accord agents train-ppo --layout {layout}`")
    return PPOPolicy(path, stochastic=stochastic)


def plot_curves(run_dirs: dict, path: str | Path) -> None:
    """Training return (sparse, mean of each iteration's episodes) against env steps, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, folder in run_dirs.items():
        rows = ResultStore(Path(folder) / "results.jsonl", key_field="iteration").records
        ax.plot([r["env_steps"] for r in rows], [r["mean_return"] for r in rows], label=label, linewidth=1)
    ax.set_xlabel("joint env steps")
    ax.set_ylabel("sparse return per episode")
    ax.set_title("PPO self-play on Overcooked (training episodes)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv=None) -> PPOArgs:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in fields(PPOArgs):
        kwargs = {"choices": list(LAYOUTS)} if f.name == "layout" else {}
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default, **kwargs)
    return PPOArgs(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    try:
        print(train(parse_args()))
    except AccordError as error:
        raise SystemExit(f"error: {error}") from None
