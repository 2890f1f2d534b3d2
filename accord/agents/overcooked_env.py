"""Overcooked-AI as a PettingZoo parallel environment, in the setting ProAgent (Zhang et al., AAAI 2024,
arXiv 2308.11339) and Carroll et al. (NeurIPS 2019, arXiv 1910.05789) play it.

The game logic is the `overcooked` package (PyPI 0.2.1, a numpy-2 port of overcooked_ai); this file adds
only the parallel API, the paper's layouts and the 2019 rules:

    layouts   cramped_room, asymmetric_advantages, coordination_ring, forced_coordination, counter_circuit
              (the package's `counter_circuit` is a newer tomato layout; the 2019/ProAgent counter circuit is
              the package's `counter_circuit_o_1order`, the same grid as the human data's `random3`)
    recipe    onion soup of 3 onions, 20 points, cooks 20 steps, starts cooking by itself once the third onion
              is in (`old_dynamics=True`, as in 2019: no "start cooking" interaction, none in ProAgent's skills)
    horizon   400 joint steps; truncation, never termination

Agents are "player_0" and "player_1" (the layout's players 1 and 2). Actions are indices into ACTIONS
(north, south, east, west, stay, interact), the package's own order. Each agent observes the hand-built
feature vector of features.py from its own seat; `infos[agent]["state"]` and `env.state` carry the full
`OvercookedState` for planners. Rewards: the team's sparse reward (20 per delivered soup) to each agent,
plus `shaping_factor` times the team's shaped reward (both players' sum, as the 2019 PPO trainer used it:
3 per onion into a pot, 3 per useful dish pickup, 5 per soup pickup) when the factor is non-zero (PPO
training only; `infos[agent]["shaped_reward"]` keeps each player's own part).

    env = OvercookedParallelEnv("cramped_room"); obs, infos = env.reset(seed=0)
    obs, rewards, terms, truncs, infos = env.step({"player_0": 5, "player_1": 4})
"""

from __future__ import annotations

import functools

import numpy as np

from accord.errors import AccordError

try:  # optional dependency (scripts/setup.sh installs it); tests skip without it
    from overcooked.mdp.actions import Action
    from overcooked.mdp.overcooked_mdp import OvercookedGridworld, OvercookedState, Recipe
except ImportError as error:  # pragma: no cover - depends on the environment
    OVERCOOKED_IMPORT_ERROR: ImportError | None = error
else:
    OVERCOOKED_IMPORT_ERROR = None

# the paper's name -> the package's layout file
LAYOUTS = {
    "cramped_room": "cramped_room",
    "asymmetric_advantages": "asymmetric_advantages",
    "coordination_ring": "coordination_ring",
    "forced_coordination": "forced_coordination",
    "counter_circuit": "counter_circuit_o_1order",
}
# the human data's (2019) names -> the paper's names
DATA_LAYOUT_NAMES = {
    "cramped_room": "cramped_room",
    "asymmetric_advantages": "asymmetric_advantages",
    "coordination_ring": "coordination_ring",
    "random0": "forced_coordination",
    "random3": "counter_circuit",
}
AGENTS = ("player_0", "player_1")
ACTION_NAMES = ("north", "south", "east", "west", "stay", "interact")
NORTH, SOUTH, EAST, WEST, STAY, INTERACT = range(6)
DIRECTIONS = ((0, -1), (0, 1), (1, 0), (-1, 0))  # index i moves by DIRECTIONS[i]
HORIZON = 400
SOUP_REWARD = 20
COOK_TIME = 20


def require_overcooked() -> None:
    if OVERCOOKED_IMPORT_ERROR is not None:
        raise AccordError(
            "the Overcooked environment needs the `overcooked` package and its imports "
            f"(run scripts/setup.sh): {OVERCOOKED_IMPORT_ERROR}"
        )


def make_mdp(layout: str) -> "OvercookedGridworld":
    """The layout's gridworld under the 2019 rules (onion soups, 20 points, cook time 20, old dynamics)."""
    require_overcooked()
    if layout not in LAYOUTS:
        raise AccordError(f"unknown layout {layout!r}; known layouts: {', '.join(LAYOUTS)}")
    return OvercookedGridworld.from_layout_name(LAYOUTS[layout], old_dynamics=True)


def configure_recipes() -> None:
    """Recipes are class-level in the package, set by each gridworld; states built without one need this."""
    require_overcooked()
    if not Recipe._configured:
        Recipe.configure({"num_items_for_soup": 3, "all_orders": [{"ingredients": ["onion"] * 3}]})


def package_action(index: int):
    return Action.INDEX_TO_ACTION[index]


class OvercookedParallelEnv:
    """Two-player Overcooked with PettingZoo's parallel API (reset/step over dicts keyed by agent)."""

    metadata = {"name": "overcooked_v0", "render_modes": []}

    def __init__(self, layout: str = "cramped_room", horizon: int = HORIZON, shaping_factor: float = 0.0):
        self.layout = layout
        self.mdp = make_mdp(layout)
        self.horizon = horizon
        self.shaping_factor = shaping_factor
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.render_mode = None
        self.state: OvercookedState | None = None
        self.t = 0
        self.episode_return = 0.0
        self.soups = 0

    @property
    def unwrapped(self):
        return self

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        from gymnasium import spaces  # only the PettingZoo API checks need gymnasium spaces

        from accord.agents.features import feature_size

        return spaces.Box(-np.inf, np.inf, shape=(feature_size(),), dtype=np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        from gymnasium import spaces

        return spaces.Discrete(len(ACTION_NAMES))

    def render(self):
        return None

    def close(self):
        pass

    def reset(self, seed: int | None = None, options: dict | None = None):
        """The layout's standard start state (deterministic: `seed` is accepted for the API and recorded)."""
        self.seed = seed
        self.state = self.mdp.get_standard_start_state()
        self.t = 0
        self.episode_return = 0.0
        self.soups = 0
        self.agents = list(self.possible_agents)
        return self._observations(), {a: {"state": self.state} for a in self.agents}

    def step(self, actions: dict):
        if not self.agents:
            raise RuntimeError("step after the episode ended; call reset")
        joint = []
        for agent in AGENTS:
            a = actions.get(agent, STAY)
            if not isinstance(a, (int, np.integer)) or not 0 <= a < len(ACTION_NAMES):
                raise ValueError(f"action of {agent} must be an index in 0..5, got {a!r}")
            joint.append(package_action(int(a)))
        self.state, info = self.mdp.get_state_transition(self.state, joint)
        self.t += 1
        sparse = float(sum(info["sparse_reward_by_agent"]))
        delivered = sum(info["event_infos"]["soup_delivery"])
        self.episode_return += sparse
        self.soups += delivered
        shaped = info["shaped_reward_by_agent"]
        rewards = {a: sparse + self.shaping_factor * float(sum(shaped)) for a in AGENTS}
        truncated = self.t >= self.horizon
        observations = self._observations()
        infos = {
            a: {"state": self.state, "sparse_reward": sparse, "shaped_reward": shaped[i], "soups_delivered": delivered}
            for i, a in enumerate(AGENTS)
        }
        terminations = {a: False for a in AGENTS}
        truncations = {a: truncated for a in AGENTS}
        if truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _observations(self):
        from accord.agents.features import state_features

        return {a: state_features(self.mdp, self.state, i) for i, a in enumerate(AGENTS)}

    def render_text(self) -> str:
        """The grid as text (the package's own rendering: players by orientation arrow, objects by letter)."""
        return self.mdp.state_string(self.state)
