"""Benchmark: environment steps per second and reward-model updates per second for accord.marl.

    python benchmarks/marl.py            # writes benchmarks/results/marl.json
    python benchmarks/marl.py --quick    # fewer repetitions, for a smoke test

Env steps/s, each with its baseline measured in the same run:
  - the PettingZoo dict API (`env.step({agent: action})`) vs the array API the trainer uses;
  - a PPO rollout that plays 16 episodes in lockstep (one policy forward for all of them) vs the naive
    loop that plays one episode at a time (one policy forward per env step).
Reward-model updates/s (one Adam step on a batch of episodes) for STAS, STAS-ML, AREL-style and
temporal-only at the CPU scale and at the paper's size; ratios are against temporal-only (the cheapest
learned decomposition). Uniform and episodic credit cost nothing to train. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accord.marl.envs import make_env  # noqa: E402
from accord.marl.ppo import ActorCritic, play_episodes  # noqa: E402
from accord.marl.presets import make_config  # noqa: E402
from accord.marl.reward_model import KINDS, ReturnDecomposer, RewardModelConfig, decomposition_loss  # noqa: E402
from accord.runs import versions  # noqa: E402


def timed(fn, repeats):
    fn()                                                                        # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        count = fn()
    return count * repeats / (time.perf_counter() - start)


def env_rates(name, episodes):
    env, rng = make_env(name), np.random.default_rng(0)
    actions = rng.integers(0, env.n_actions, (episodes * env.episode_length, env.n_agents))

    def dict_api():
        steps, row = 0, 0
        for _ in range(episodes):
            env.reset(seed=0)
            while env.agents:
                env.step({a: int(actions[row, i]) for i, a in enumerate(env.possible_agents)})
                steps, row = steps + 1, row + 1
        return steps

    def array_api():
        steps, row = 0, 0
        for _ in range(episodes):
            env.reset_arrays(seed=0)
            done = False
            while not done:
                done = env.step_arrays(actions[row])[2]
                steps, row = steps + 1, row + 1
        return steps

    network = ActorCritic(env.obs_dim, env.n_actions, 64)
    lockstep_envs, single_env = [make_env(name) for _ in range(16)], [make_env(name)]

    def rollout(envs):
        return lambda: int(play_episodes(envs, network, episodes)["lengths"].sum())

    out = {"dict_api": timed(dict_api, 3), "array_api": timed(array_api, 3),
           "rollout_one_at_a_time": timed(rollout(single_env), 2), "rollout_16_lockstep": timed(rollout(lockstep_envs), 2)}
    out["array_vs_dict"] = out["array_api"] / out["dict_api"]
    out["lockstep_vs_one_at_a_time"] = out["rollout_16_lockstep"] / out["rollout_one_at_a_time"]
    return out


def reward_model_rates(name, scale, repeats):
    env = make_env(name)
    settings = make_config(name, "stas", scale).reward_model
    B, N, T = settings.batch_episodes, env.n_agents, env.episode_length
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(B, N, T, env.obs_dim, generator=g)
    actions = torch.randint(0, env.n_actions, (B, N, T), generator=g)
    lengths, returns = torch.full((B,), T), torch.randn(B, generator=g)
    out = {}
    for kind in KINDS:
        config = RewardModelConfig(kind=kind, emb_dim=settings.emb_dim, n_heads=settings.n_heads,
                                   n_layers=settings.n_layers, n_coalitions=settings.n_coalitions,
                                   dropout=settings.dropout)
        model = ReturnDecomposer(config, env.obs_dim, env.n_actions, N, T).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

        def update():
            loss = decomposition_loss(model(obs, actions, lengths), returns)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return 1

        out[kind] = timed(update, repeats)
    for kind in KINDS:
        out[f"{kind}_vs_temporal"] = out[kind] / out["temporal"]
    out["batch_episodes"], out["emb_dim"], out["n_layers"] = B, settings.emb_dim, settings.n_layers
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "marl.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    episodes, repeats, paper_repeats = (8, 2, 1) if args.quick else (50, 10, 2)
    results = {"machine": platform.processor() or platform.machine(), "torch_threads": 1, "versions": versions()}
    for name in ("alice-bob", "mpe-spread"):
        results[f"env_steps_per_s/{name}"] = rates = env_rates(name, episodes)
        print(f"{name}: dict API {rates['dict_api']:.0f} steps/s, array API {rates['array_api']:.0f} "
              f"({rates['array_vs_dict']:.2f}x); rollout one at a time {rates['rollout_one_at_a_time']:.0f}, "
              f"16 in lockstep {rates['rollout_16_lockstep']:.0f} ({rates['lockstep_vs_one_at_a_time']:.2f}x)")
        for scale, reps in (("cpu", repeats), ("paper", paper_repeats)):
            results[f"reward_model_updates_per_s/{name}/{scale}"] = rm = reward_model_rates(name, scale, reps)
            print(f"  reward model ({scale}: width {rm['emb_dim']}, {rm['n_layers']} layers, {rm['batch_episodes']} "
                  "episodes): " + ", ".join(f"{k} {rm[k]:.2f}/s ({rm[k + '_vs_temporal']:.2f}x)" for k in KINDS))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
