"""The PettingZoo parallel API over an array simulator, and the episodic (delayed) team reward.

A simulator subclass implements three array methods; this class adds the dict API, episode length,
truncation and the reward protocol:

    _new_episode(rng)          set the start state (rng: a seeded numpy Generator)
    _move(actions) -> (team_reward, terminated)
    _observe() -> (n_agents, obs_dim) float32 array

`step_arrays`/`reset_arrays` are the same episode without dicts (the trainer uses them). With
`delayed=True` (the paper's protocol) every agent's reward is 0 until the episode ends, then the team
return R = sum of the team's step rewards is paid to every agent at the last step; `delayed=False` pays
the team step reward at each step (for diagnosis only).
"""

from __future__ import annotations

import functools

import numpy as np


class ArrayParallelEnv:
    metadata = {"name": "accord_marl", "render_modes": []}
    n_agents: int
    obs_dim: int
    n_actions: int
    episode_length: int

    def __init__(self, delayed: bool = True):
        self.delayed = delayed
        self.possible_agents = [f"agent_{i}" for i in range(self.n_agents)]
        self.agents: list[str] = []
        self.render_mode = None
        self.rng = np.random.default_rng()
        self.t = 0
        self.team_return = 0.0

    # ---- array level ------------------------------------------------------------------------------
    def reset_arrays(self, seed: int | None = None) -> np.ndarray:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.t = 0
        self.team_return = 0.0
        self.success = False
        self._new_episode(self.rng)
        self.agents = list(self.possible_agents)
        return self._observe()

    def step_arrays(self, actions) -> tuple[np.ndarray, float, bool, dict]:
        """One joint step: (observations, reward paid to each agent, episode over, info)."""
        if not self.agents:
            raise RuntimeError("step after the episode ended; call reset")
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.n_agents,) or actions.min() < 0 or actions.max() >= self.n_actions:
            raise ValueError(f"expected {self.n_agents} actions in [0, {self.n_actions}), got {actions.tolist()}")
        team_reward, terminated = self._move(actions)
        self.t += 1
        self.team_return += team_reward
        done = terminated or self.t >= self.episode_length
        info = {"terminated": terminated}
        if done:
            self.agents = []
            info.update(team_return=self.team_return, success=bool(self.success), length=self.t)
        paid = (self.team_return if done else 0.0) if self.delayed else team_reward
        return self._observe(), float(paid), done, info

    # ---- PettingZoo parallel API ------------------------------------------------------------------
    @property
    def unwrapped(self):
        return self

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        from gymnasium import spaces  # optional: only the API checks need gymnasium spaces

        return spaces.Box(-np.inf, np.inf, shape=(self.obs_dim,), dtype=np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        from gymnasium import spaces

        return spaces.Discrete(self.n_actions)

    def reset(self, seed: int | None = None, options: dict | None = None):
        observations = self.reset_arrays(seed)
        return ({a: observations[i] for i, a in enumerate(self.possible_agents)},
                {a: {} for a in self.possible_agents})

    def step(self, actions: dict):
        live = list(self.agents)
        observations, paid, done, info = self.step_arrays([int(actions[a]) for a in self.possible_agents])
        terminated, truncated = info["terminated"], done and not info["terminated"]
        return ({a: observations[i] for i, a in enumerate(self.possible_agents) if a in live},
                {a: paid for a in live}, {a: terminated for a in live}, {a: truncated for a in live},
                {a: dict(info) for a in live})

    def render(self):
        return None

    def close(self):
        pass
