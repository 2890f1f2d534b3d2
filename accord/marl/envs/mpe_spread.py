"""MPE cooperative navigation (simple_spread), 3 agents and 3 landmarks, in numpy: the setting of STAS
(Chen, Zhang et al., AAAI 2024, arXiv 2304.07520), whose code uses the "improved MPE" of PIC
(Liu et al. 2019; scenario simple_spread_n3.py, physics core_vec.py). Written anew from those rules.

World: agents (radius 0.15) start uniformly in [-3, 3]^2 with zero velocity; landmarks are placed in the
same square at least 0.675 apart (4.5 agent radii; the original draws them by Poisson-disc sampling, we
draw them one by one with rejection, which keeps the same support and minimum spacing). Five discrete
actions: 0 no force, 1 -x, 2 +x, 3 -y, 4 +y, force 5. Physics per step (dt 0.1, mass 1, damping 0.25):
agent-agent contact force 100 * softplus-penetration (margin 1e-3) along the line of centres; landmarks
do not collide; v <- 0.75 v + dt F; x <- x + dt v.

Team reward per step: -(sum over landmarks of the distance to its closest agent) - (number of ordered
agent pairs closer than 0.3), i.e. each touching pair costs 2, as in the original. Episode length 25, no
early end; the team return is paid at the end (`delayed=True`, see parallel.py).

Observation per agent (14 numbers): own velocity, own position, the 3 landmarks relative to the agent
sorted nearest first, the 2 other agents relative to the agent sorted nearest first.
"""

from __future__ import annotations

import numpy as np

from accord.marl.envs.parallel import ArrayParallelEnv

WORLD_RADIUS, AGENT_SIZE, LANDMARK_SPACING = 3.0, 0.15, 0.15 * 4.5
DT, DAMPING, SENSITIVITY, CONTACT_FORCE, CONTACT_MARGIN = 0.1, 0.25, 5.0, 100.0, 1e-3
ACTION_FORCE = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.float64) * SENSITIVITY


def place_landmarks(rng, count: int) -> np.ndarray:
    placed: list[np.ndarray] = []
    while len(placed) < count:
        point = rng.uniform(-WORLD_RADIUS, WORLD_RADIUS, 2)
        if all(np.linalg.norm(point - other) >= LANDMARK_SPACING for other in placed):
            placed.append(point)
    return np.array(placed)


class SimpleSpread(ArrayParallelEnv):
    n_actions = 5

    def __init__(self, n_agents: int = 3, episode_length: int = 25, delayed: bool = True):
        self.n_agents = n_agents
        self.obs_dim = 4 + 2 * n_agents + 2 * (n_agents - 1)
        self.episode_length = episode_length
        super().__init__(delayed)

    def _new_episode(self, rng):
        self.position = rng.uniform(-WORLD_RADIUS, WORLD_RADIUS, (self.n_agents, 2))
        self.velocity = np.zeros((self.n_agents, 2))
        self.landmarks = place_landmarks(rng, self.n_agents)

    def _contact_forces(self) -> np.ndarray:
        delta = self.position[:, None, :] - self.position[None, :, :]          # a - b
        distance = np.sqrt((delta ** 2).sum(-1)) + np.eye(self.n_agents)
        penetration = np.logaddexp(0, -(distance - 2 * AGENT_SIZE) / CONTACT_MARGIN) * CONTACT_MARGIN
        force = CONTACT_FORCE * delta / distance[..., None] * penetration[..., None]
        force[np.arange(self.n_agents), np.arange(self.n_agents)] = 0.0
        return force.sum(axis=1)

    def _move(self, actions):
        force = ACTION_FORCE[actions] + self._contact_forces()
        self.velocity = self.velocity * (1 - DAMPING) + force * DT
        self.position = self.position + self.velocity * DT
        return self.team_reward(), False

    def team_reward(self) -> float:
        to_landmarks = np.linalg.norm(self.landmarks[None, :, :] - self.position[:, None, :], axis=-1)
        between = np.linalg.norm(self.position[:, None, :] - self.position[None, :, :], axis=-1)
        collisions = (between < 2 * AGENT_SIZE).sum() - self.n_agents
        return float(-to_landmarks.min(axis=0).sum() - collisions)

    def _observe(self):
        landmarks = self.landmarks[None, :, :] - self.position[:, None, :]     # (agent, landmark, 2)
        others = self.position[None, :, :] - self.position[:, None, :]         # (agent, other, 2)
        rows = []
        for i in range(self.n_agents):
            near_landmarks = landmarks[i][np.argsort(np.linalg.norm(landmarks[i], axis=-1), kind="stable")]
            other_ids = [j for j in range(self.n_agents) if j != i]
            near_others = others[i][other_ids][np.argsort(np.linalg.norm(others[i][other_ids], axis=-1),
                                                          kind="stable")]
            rows.append(np.concatenate([self.velocity[i], self.position[i], near_landmarks.reshape(-1),
                                        near_others.reshape(-1)]))
        return np.asarray(rows, dtype=np.float32)
