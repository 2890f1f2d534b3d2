"""Scripted partners for Overcooked and the episode runner that plays any two policies.

A policy is any object with
    reset(mdp, player_index, seed)   before each episode
    act(state) -> int                an index into overcooked_env.ACTIONS, once per step

    greedy   a rule-based agent choosing ProAgent's skills from the state (the package dropped the 2019
             GreedyHumanModel; this one follows its rules) and running them through the SkillController
    random   uniform over the six actions
    stay     always stays
    bc       the behaviour-cloning human proxy (bc.py; needs trained weights)
    ppo      the PPO self-play agent (ppo.py; needs a trained checkpoint)

Greedy's rules, first that applies and whose precondition holds (skills.precondition):
    holding soup   -> deliver_soup()
    holding onion  -> put_onion_in_pot(), else place_obj_on_counter() (a hand-over when no pot is in reach)
    holding dish   -> fill_dish_with_soup(), else place_obj_on_counter()
    empty hands    -> pickup(dish) when more pots are cooking or ready than dishes in the team's hands,
                      else pickup(onion) when a pot has room, else wait(1)

    play_episodes("cramped_room", GreedyPolicy(), GreedyPolicy(), episodes=3)   # [{return, soups, seconds}]
"""

from __future__ import annotations

import time

import numpy as np

from accord.agents.checkpoint import load_checkpoint, policy_state, restore_policy, save_checkpoint
from accord.agents.controller import SkillController
from accord.agents.overcooked_env import ACTION_NAMES, HORIZON, STAY, OvercookedParallelEnv
from accord.agents.skills import (
    DELIVER_SOUP,
    FILL_DISH_WITH_SOUP,
    PICKUP_DISH,
    PICKUP_ONION,
    PLACE_OBJ_ON_COUNTER,
    PUT_ONION_IN_POT,
    held_name,
    pot_groups,
    precondition,
    wait,
)
from accord.errors import AccordError


def greedy_skill(mdp, state, player_index: int):
    """The greedy agent's next skill in `state`."""
    held = held_name(state, player_index)

    def first_valid(*skills):
        return next((s for s in skills if precondition(mdp, state, player_index, s) is None), wait(1))

    if held == "soup":
        return first_valid(DELIVER_SOUP)
    if held == "onion":
        return first_valid(PUT_ONION_IN_POT, PLACE_OBJ_ON_COUNTER)
    if held == "dish":
        return first_valid(FILL_DISH_WITH_SOUP, PLACE_OBJ_ON_COUNTER)
    pots = pot_groups(mdp, state)
    dishes_in_hand = sum(held_name(state, i) in ("dish", "soup") for i in range(len(state.players)))
    if len(pots["cooking"]) + len(pots["ready"]) > dishes_in_hand:
        skill = first_valid(PICKUP_DISH)
        if skill != wait(1):
            return skill
    if pots["empty"] or pots["filling"]:
        return first_valid(PICKUP_ONION)
    return wait(1)


class GreedyPolicy:
    """Rule-based skill choice (greedy_skill) run by the SkillController."""

    name = "greedy"

    def reset(self, mdp, player_index: int, seed: int = 0) -> None:
        self.mdp, self.player_index = mdp, player_index
        self.controller = SkillController(mdp, player_index, seed=seed)
        self.skills_chosen = 0

    def act(self, state) -> int:
        if self.controller.update(state) != "running":
            self.controller.start(greedy_skill(self.mdp, state, self.player_index), state)
            self.skills_chosen += 1
        return self.controller.act(state)


class RandomPolicy:
    name = "random"

    def reset(self, mdp, player_index: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, state) -> int:
        return int(self.rng.integers(len(ACTION_NAMES)))


class StayPolicy:
    name = "stay"

    def reset(self, mdp, player_index: int, seed: int = 0) -> None:
        pass

    def act(self, state) -> int:
        return STAY


SCRIPTED_PARTNERS = {"greedy": GreedyPolicy, "random": RandomPolicy, "stay": StayPolicy}
PARTNERS = ("greedy", "random", "stay", "bc", "ppo")


def make_partner(name: str, layout: str | None = None, bc_dir: str | None = None, ppo_dir: str | None = None):
    """A partner policy by name; "bc" loads the layout's trained human proxy from `bc_dir` (bc.py), "ppo" the
    layout's self-play checkpoint <ppo_dir>/<layout>/checkpoint.pt (ppo.py)."""
    if name in SCRIPTED_PARTNERS:
        return SCRIPTED_PARTNERS[name]()
    if name == "bc":
        from accord.agents.bc import load_bc_policy

        return load_bc_policy(layout, bc_dir)
    if name == "ppo":
        from accord.agents.ppo import load_ppo_policy

        return load_ppo_policy(layout, ppo_dir)
    raise AccordError(f"unknown partner {name!r}; partners: {', '.join(PARTNERS)}")


def play_episodes(layout: str, policy_0, policy_1, episodes: int = 1, seed: int = 0, horizon: int = HORIZON,
                  on_step=None) -> list[dict]:
    """Play `episodes` episodes of `policy_0` (player_0) with `policy_1` (player_1).

    Episode k resets both policies with seeds seed + 2k and seed + 2k + 1. `on_step(t, state, actions,
    reward)` is called after every joint step. Returns one dict per episode: return (sparse, 20 per soup),
    soups, steps, seconds.
    """
    return [play_episode(layout, policy_0, policy_1, seed + 2 * k, horizon, on_step) for k in range(episodes)]


def decisions_taken(policies) -> int:
    """Skill decisions the policies took so far this episode (those that count them: ProAgent's stats)."""
    return sum(getattr(p, "stats", {}).get("decisions", 0) for p in policies)


def play_episode(layout: str, policy_0, policy_1, seed: int = 0, horizon: int = HORIZON, on_step=None,
                 checkpoint=None, checkpoint_every: int = 0, should_stop=None) -> dict | None:
    """One episode, policies reset with seeds `seed` (player_0) and `seed + 1` (player_1); its result dict.

    checkpoint: a file (checkpoint.py). When it exists the episode continues from it instead of starting;
    the state is saved there every `checkpoint_every` skill decisions (`decisions_taken`; 0: never) and
    when `should_stop()` turns true after a step, which returns None (call again to continue). The caller
    deletes the file once it has stored the result. `seconds` adds the time played before each resume
    (not the steps a kill lost after the last save, which the rerun plays again)."""
    policies = (policy_0, policy_1)
    episode = {"layout": layout, "seed": seed, "horizon": horizon}
    env, played = OvercookedParallelEnv(layout, horizon=horizon), 0.0  # also configures the package's Recipe
    saved = load_checkpoint(checkpoint, episode) if checkpoint is not None else None  # class, which unpickling needs
    if saved is not None:
        env, played = saved["env"], saved["seconds"]
        for policy, state in zip(policies, saved["policies"]):
            restore_policy(policy, state)
    else:
        env.reset(seed=seed)
        policy_0.reset(env.mdp, 0, seed)
        policy_1.reset(env.mdp, 1, seed + 1)
    start = time.perf_counter()

    def save():
        save_checkpoint(checkpoint, {**episode, "t": env.t, "seconds": played + time.perf_counter() - start,
                                     "env": env, "policies": [policy_state(p) for p in policies]})

    last_saved = decisions_taken(policies)
    while env.agents:
        state = env.state
        actions = {"player_0": policy_0.act(state), "player_1": policy_1.act(state)}
        _, rewards, _, _, _ = env.step(actions)
        if on_step is not None:
            on_step(env.t, env.state, actions, rewards["player_0"])
        if checkpoint is None or not env.agents:
            continue
        if should_stop is not None and should_stop():
            save()
            return None
        if checkpoint_every and decisions_taken(policies) - last_saved >= checkpoint_every:
            save()
            last_saved = decisions_taken(policies)
    return {"return": env.episode_return, "soups": env.soups, "steps": env.t,
            "seconds": played + time.perf_counter() - start}
