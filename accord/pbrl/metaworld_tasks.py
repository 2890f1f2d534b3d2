"""Meta-World task pairs for PEARL (Liu et al., ICML 2024, arXiv 2306.03615), the same interface as
`pointmass`: task_pair, collect, evaluate. Needs the optional extra: pip install 'accord[metaworld]'.

Caveat: PyPI's `metaworld` 3.x runs the "-v3" tasks on MuJoCo 3 (the paper used Meta-World v2 on mujoco-py /
MuJoCo 2); physics, reward shaping and success thresholds differ, so success rates are not comparable with
the paper's numbers. Nothing is rendered: MuJoCo steps headless without a display or OpenGL.

Datasets come from Meta-World's scripted policies with Gaussian action noise at several quality levels
(`QUALITY_LEVELS`: noise std per level; "random" is uniform actions). The "decoy" mix (`MIXES`) is the harder
level, built like the point-mass data: besides experts, "medium" episodes first steer the hand to a random
decoy point for a quarter of the episode and then run the scripted policy, and "poor" ones head for the decoy
all episode, so behaviour cloning averages goal-seeking with decoy-seeking actions. Every episode draws one of the
task's 50 goal variations (ML1 train tasks), shortened to `horizon` steps. The step reward is the
environment's dense reward; an episode succeeds if `info["success"]` is set at any step (Meta-World's
convention).

    source, target = task_pair("button-press-topdown-v3->button-press-v3")
    data = collect(source, episodes=100, seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

try:
    import metaworld
    import metaworld.policies
except ImportError as error:  # accord.pbrl.experiment turns this into one clear line
    raise ImportError(f"the metaworld package is not installed ({error.msg})") from None

DEFAULT_PAIR = "button-press-topdown-v3->button-press-v3"
# Per quality level: action-noise std of the scripted policy (None: uniform random actions), share of episodes,
# and (optional) the fraction of the episode spent heading for a decoy point before the scripted policy runs.
QUALITY_LEVELS = {"expert": (0.1, 0.2), "medium": (0.6, 0.3), "poor": (1.5, 0.3), "random": (None, 0.2)}
DECOY_LEVELS = {"expert": (0.1, 0.1, 0.0), "medium": (0.3, 0.3, 0.25), "poor": (0.3, 0.4, 1.0), "random": (None, 0.2)}
MIXES = {"standard": QUALITY_LEVELS, "decoy": DECOY_LEVELS}
# Decoy points: uniform in this box of hand positions (metres), in front of the buttons (y <= 0.6).
DECOY_LOW, DECOY_HIGH = np.array([-0.4, 0.4, 0.05]), np.array([0.4, 0.6, 0.35])


@dataclass(frozen=True)
class MetaWorldTask:
    name: str
    """Meta-World task, e.g. button-press-v3"""
    horizon: int = 100
    """steps per episode (Meta-World allows 500; the scripted button presses finish in under 100)"""
    obs_dim: int = 39
    act_dim: int = 4


def task_pair(pair: str = DEFAULT_PAIR, horizon: int = 100) -> tuple[MetaWorldTask, MetaWorldTask]:
    """"SOURCE->TARGET" task names -> (source task, target task)."""
    from accord.errors import AccordError

    names = [name.strip() for name in pair.split("->")]
    if len(names) != 2:
        raise AccordError(f"--pair must read SOURCE->TARGET, got {pair!r}")
    for name in names:
        if name not in metaworld.ML1.ENV_NAMES:
            raise AccordError(f"unknown Meta-World task {name!r}")
        _policy(name)
    return MetaWorldTask(names[0], horizon), MetaWorldTask(names[1], horizon)


def _policy(name: str):
    """Meta-World's scripted policy of a task, e.g. SawyerButtonPressTopdownV3Policy."""
    from accord.errors import AccordError

    class_name = "Sawyer" + "".join(part.capitalize() for part in name.replace("-v3", "").split("-")) + "V3Policy"
    if not hasattr(metaworld.policies, class_name):
        raise AccordError(f"Meta-World ships no scripted policy for {name!r}")
    return getattr(metaworld.policies, class_name)()


@lru_cache(maxsize=4)
def _benchmark(name: str, seed: int):
    return metaworld.ML1(name, seed=seed)


def _make_env(name: str, variation: int, seed: int):
    benchmark = _benchmark(name, 0)
    env = benchmark.train_classes[name]()
    env.set_task(benchmark.train_tasks[variation % len(benchmark.train_tasks)])
    env.reset(seed=seed)
    return env


def _rollout(task: MetaWorldTask, act, rng: np.random.Generator, variation: int, seed: int) -> dict:
    env = _make_env(task.name, variation, seed)
    observation, _ = env.reset(seed=seed)
    rows = {"observations": [], "actions": [], "rewards": [], "next_observations": []}
    success = False
    for _ in range(task.horizon):
        action = np.clip(act(observation, rng), -1.0, 1.0)
        next_observation, reward, _, _, info = env.step(action)
        for key, value in zip(rows, (observation, action, reward, next_observation)):
            rows[key].append(value)
        success = success or bool(info.get("success", 0.0))
        observation = next_observation
    env.close()
    return {**{key: np.asarray(value, dtype=np.float32) for key, value in rows.items()}, "success": success}


def collect(task: MetaWorldTask, episodes: int, seed: int, mix: dict | None = None) -> dict:
    """Scripted-policy episodes at the quality mix; arrays [episodes, horizon, ...] like `pointmass.collect`."""
    mix = QUALITY_LEVELS if mix is None else mix
    rng = np.random.default_rng(seed)
    names = list(mix)
    shares = np.asarray([mix[name][1] for name in names], dtype=float)
    quality = rng.choice(len(names), size=episodes, p=shares / shares.sum())
    scripted = _policy(task.name)
    runs = []
    for episode in range(episodes):
        noise, _, *decoy_fraction = mix[names[quality[episode]]]
        decoy_steps = round(task.horizon * decoy_fraction[0]) if decoy_fraction else 0
        decoy = rng.uniform(DECOY_LOW, DECOY_HIGH) if decoy_steps else None
        step = iter(range(task.horizon))

        def act(observation, rng, noise=noise, decoy_steps=decoy_steps, decoy=decoy, step=step):
            if noise is None:
                return rng.uniform(-1, 1, task.act_dim)
            action = scripted.get_action(observation)
            if next(step) < decoy_steps:  # head for the decoy like the scripted policies move: P-control
                action = np.append(np.clip(25.0 * (decoy - observation[:3]), -1, 1), -1.0)
            return action + noise * rng.standard_normal(task.act_dim)

        runs.append(_rollout(task, act, rng, variation=int(rng.integers(50)), seed=seed * 100_000 + episode))
    stacked = {key: np.stack([run[key] for run in runs]) for key in runs[0]}
    stacked["quality"] = np.asarray(names)[quality]
    return stacked


def evaluate(task: MetaWorldTask, act, episodes: int, seed: int) -> float:
    """Success rate of `act(observations [B, 39]) -> actions [B, 4]` over seeded goal variations."""
    rng = np.random.default_rng(seed)
    policy = lambda observation, rng: act(observation[None].astype(np.float32))[0]  # noqa: E731
    return float(np.mean([_rollout(task, policy, rng, variation=int(rng.integers(50)), seed=seed * 100_000 + i)
                          ["success"] for i in range(episodes)]))
