"""Plain numpy simulators with seeds; they import no model. Both follow PettingZoo's parallel API.

    env = make_env("alice-bob")                    # or "mpe-spread"
    observations, infos = env.reset(seed=0)
    observations, rewards, terminations, truncations, infos = env.step({agent: 0 for agent in env.agents})
"""

from accord.errors import AccordError
from accord.marl.envs.alice_bob import AliceBob
from accord.marl.envs.mpe_spread import SimpleSpread

ENVS = {"alice-bob": AliceBob, "mpe-spread": SimpleSpread}


def make_env(name: str, **kwargs):
    if name not in ENVS:
        raise AccordError(f"unknown environment {name!r}; choose from {', '.join(ENVS)}")
    return ENVS[name](**kwargs)
