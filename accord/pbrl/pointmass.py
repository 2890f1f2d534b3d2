"""A 2-D point-mass task pair for zero-shot preference transfer: reach goal A (source) -> reach goal B (target).

The agent is a point in [-1, 1]^2 that moves by `speed * action` per step (action in [-1, 1]^2). An episode
starts uniformly in a disk of radius `start_radius` around the origin and lasts `horizon` steps; the reward is
minus the distance to the goal after the move, and an episode succeeds when the point is within
`success_radius` of the goal at its last step. The target goal is the source goal rotated by `rotation`
(90 degrees by default) and every other random choice (starts, decoy waypoints, noise) is rotation-invariant,
so the target dataset is an isometric copy of the source dataset in distribution: the case Gromov-Wasserstein
alignment is built for (PEARL, Liu et al. ICML 2024, arXiv 2306.03615, on Meta-World task pairs).

Offline datasets come from scripted policies at several quality levels (the `QUALITY_LEVELS` mix):

  expert   heads for the goal, small Gaussian action noise
  medium   heads for a random decoy waypoint on the goal circle for the first half, then for the goal
  poor     heads for a random decoy waypoint all episode
  random   uniform random actions

Behaviour cloning on such a mix averages goal-seeking with decoy-seeking actions; an offline RL learner with
a good reward picks out the goal-seeking ones. Plain numpy, seeded; knows nothing about the learners.

    task = PointMassTask(goal=source_goal())
    data = collect(task, episodes=200, seed=0)          # dict of [E, T, ...] arrays
    success = evaluate(task, policy.act, episodes=100, seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Share of episodes per scripted-policy quality level in a collected dataset (default mix).
QUALITY_LEVELS = {"expert": 0.1, "medium": 0.3, "poor": 0.4, "random": 0.2}
MIXES = {"standard": QUALITY_LEVELS}  # the data mixes an experiment can name (--data-mix)


@dataclass(frozen=True)
class PointMassTask:
    goal: tuple[float, float]
    """where the point must end up"""
    horizon: int = 40
    """steps per episode"""
    speed: float = 0.1
    """distance moved per unit of action"""
    start_radius: float = 0.5
    """starts are uniform in the disk of this radius around the origin"""
    success_radius: float = 0.1
    """success: within this distance of the goal at the last step"""
    obs_dim: int = 2
    act_dim: int = 2

    def step(self, position: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised dynamics: (next positions [B, 2], rewards [B])."""
        action = np.clip(action, -1.0, 1.0)
        next_position = np.clip(position + self.speed * action, -1.0, 1.0)
        reward = -np.linalg.norm(next_position - np.asarray(self.goal), axis=-1)
        return next_position, reward

    def reset(self, count: int, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(0, 2 * np.pi, count)
        radius = self.start_radius * np.sqrt(rng.uniform(0, 1, count))
        return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)

    def succeeded(self, final_position: np.ndarray) -> np.ndarray:
        return np.linalg.norm(final_position - np.asarray(self.goal), axis=-1) < self.success_radius


def goal_on_circle(angle_degrees: float, radius: float = 0.7) -> tuple[float, float]:
    angle = np.deg2rad(angle_degrees)
    return (float(radius * np.cos(angle)), float(radius * np.sin(angle)))


def source_goal() -> tuple[float, float]:
    return goal_on_circle(0.0)


def target_goal(rotation: float = 90.0) -> tuple[float, float]:
    return goal_on_circle(rotation)


def task_pair(rotation: float = 90.0, **task_options) -> tuple[PointMassTask, PointMassTask]:
    """(source task: reach goal A, target task: reach goal B = A rotated by `rotation` degrees)."""
    return PointMassTask(goal=source_goal(), **task_options), PointMassTask(goal=target_goal(rotation), **task_options)


def _heading(position: np.ndarray, point: np.ndarray, speed: float) -> np.ndarray:
    """Action pointing at `point`: unit length when farther than one step, else the step that lands on it."""
    delta = point - position
    distance = np.maximum(np.linalg.norm(delta, axis=-1, keepdims=True), 1e-8)
    return delta / distance * np.minimum(1.0, distance / speed)


def collect(task: PointMassTask, episodes: int, seed: int, mix: dict | None = None) -> dict:
    """Roll out the scripted policies of the quality mix; arrays of shape [episodes, horizon, ...]."""
    mix = QUALITY_LEVELS if mix is None else mix
    rng = np.random.default_rng(seed)
    names = list(mix)
    shares = np.asarray([mix[name] for name in names], dtype=float)
    quality = rng.choice(len(names), size=episodes, p=shares / shares.sum())
    goal = np.broadcast_to(np.asarray(task.goal), (episodes, 2))
    decoy = np.stack([goal_on_circle(a, np.linalg.norm(task.goal)) for a in rng.uniform(0, 360, episodes)])
    noise_scale = np.where(quality == names.index("expert"), 0.2, 0.5) if "expert" in names else np.full(episodes, 0.5)
    position = task.reset(episodes, rng)
    observations, actions, rewards, next_observations = [], [], [], []
    for t in range(task.horizon):
        aim = {"expert": goal, "medium": decoy if t < task.horizon // 2 else goal, "poor": decoy}
        action = rng.uniform(-1, 1, (episodes, 2))  # the "random" level
        for level, name in enumerate(names):
            if name in aim:
                rows = quality == level
                action[rows] = _heading(position[rows], aim[name][rows], task.speed)
        scripted = np.isin(np.asarray(names)[quality], list(aim))
        action[scripted] += noise_scale[scripted, None] * rng.standard_normal((int(scripted.sum()), 2))
        action = np.clip(action, -1.0, 1.0)
        next_position, reward = task.step(position, action)
        observations.append(position)
        actions.append(action)
        rewards.append(reward)
        next_observations.append(next_position)
        position = next_position
    return {
        "observations": np.stack(observations, 1).astype(np.float32),
        "actions": np.stack(actions, 1).astype(np.float32),
        "rewards": np.stack(rewards, 1).astype(np.float32),
        "next_observations": np.stack(next_observations, 1).astype(np.float32),
        "success": task.succeeded(position),
        "quality": np.asarray(names)[quality],
    }


def evaluate(task: PointMassTask, act, episodes: int, seed: int) -> float:
    """Success rate of `act(observations [B, 2]) -> actions [B, 2]` over `episodes` seeded starts."""
    rng = np.random.default_rng(seed)
    position = task.reset(episodes, rng)
    for _ in range(task.horizon):
        position, _ = task.step(position, act(position.astype(np.float32)))
    return float(task.succeeded(position).mean())
