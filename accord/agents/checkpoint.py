"""Mid-episode checkpoints of an Overcooked episode, so a long ProAgent episode (hundreds of model calls)
survives a kill or a time limit and a rerun continues it where it stopped, with the same result as an
uninterrupted run.

A checkpoint is one pickle holding everything the rest of the episode depends on: the environment (state,
time step, return so far), both policies' attributes (positions in their plans, controllers, numpy
generators, ProAgent's memory, belief records, counters and decision log) and the seconds played so far.
Models are left out (NOT_CHECKPOINTED): the command loads them again and a policy rebuilds what it derives
from them in `restored()`. Since every random draw comes from a generator inside the checkpoint, the
resumed episode takes the same actions as an uninterrupted one.

    save_checkpoint(path, {"env": env, "policies": [policy_state(p0), policy_state(p1)], ...})
    saved = load_checkpoint(path, expect={"layout": ..., "seed": ..., "horizon": ...})
    restore_policy(p0, saved["policies"][0])

The file is written to a temporary name and renamed, so a kill while saving leaves the previous
checkpoint whole. A checkpoint is a pickle: load only the ones your own runs wrote.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from accord.errors import AccordError

NOT_CHECKPOINTED = ("lm", "explainer_lm", "planner", "model")
"""Policy attributes a checkpoint leaves out: language models and networks (loaded again by the command)
and the objects built around them (ProAgent's planner, rebuilt by `ProAgent.restored`)."""


def policy_state(policy) -> dict:
    """The attributes of `policy` that an episode changes or reads (every attribute but the models)."""
    return {name: value for name, value in vars(policy).items() if name not in NOT_CHECKPOINTED}


def restore_policy(policy, state: dict) -> None:
    """Put a saved `policy_state` back into `policy` (which holds its models already)."""
    vars(policy).update(state)
    if hasattr(policy, "restored"):
        policy.restored()


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        pickle.dump(checkpoint, handle, protocol=pickle.HIGHEST_PROTOCOL)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def load_checkpoint(path: str | Path, expect: dict) -> dict | None:
    """The checkpoint at `path` (None when there is none); AccordError when it was written for another
    episode (any `expect` field differs) or cannot be read."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as handle:
            checkpoint = pickle.load(handle)
    except Exception as error:  # a truncated or foreign file: say which, never a traceback
        raise AccordError(f"cannot read the episode checkpoint {path} ({type(error).__name__}: {error}); "
                          "delete it to replay that episode from its start") from None
    differ = [name for name, value in expect.items() if checkpoint.get(name) != value]
    if differ:
        raise AccordError(f"the episode checkpoint {path} belongs to another episode ({', '.join(differ)} differ); "
                          "delete it or use another --out")
    return checkpoint
