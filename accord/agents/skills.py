"""ProAgent's high-level skills (Zhang et al., AAAI 2024, arXiv 2308.11339, Sec. 4 and App. B): their
names, their preconditions, their goal cells and their completion.

    pickup(onion)            hands empty; an onion dispenser or an onion on a counter within reach
    pickup(dish)             hands empty; a dish dispenser or a dish on a counter within reach
    put_onion_in_pot()       holding an onion; a pot within reach with room (fewer than 3 onions, not cooking)
    fill_dish_with_soup()    holding a dish; a pot within reach whose soup is cooking or ready
    deliver_soup()           holding a soup; a serving window within reach
    place_obj_on_counter()   holding something; an empty counter within reach
    wait(n)                  n >= 1 steps of staying put

"Within reach" means facing the cell from a floor cell connected to the player's (the teammate is not an
obstacle here: they move; the controller routes around them). `precondition` returns None when the skill
can run and otherwise a one-line reason, which the verification step of ProAgent turns into its failure
explanation. A skill completes when the player's hands show its effect (`is_complete`); wait(n) completes
after n steps (the controller counts them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from accord.agents.grid import reachable_features

SKILL_NAMES = (
    "pickup(onion)",
    "pickup(dish)",
    "put_onion_in_pot()",
    "fill_dish_with_soup()",
    "deliver_soup()",
    "place_obj_on_counter()",
    "wait(n)",
)
MAX_WAIT = 20  # longest wait(n) accepted: one soup's cook time


@dataclass(frozen=True)
class Skill:
    """One skill: `name` is its text without arguments except pickup's ("wait" for wait(n)); `steps` is wait's n."""

    name: str
    steps: int = 0

    def __str__(self) -> str:
        return f"wait({self.steps})" if self.name == "wait" else self.name


PICKUP_ONION, PICKUP_DISH = Skill("pickup(onion)"), Skill("pickup(dish)")
PUT_ONION_IN_POT, FILL_DISH_WITH_SOUP = Skill("put_onion_in_pot()"), Skill("fill_dish_with_soup()")
DELIVER_SOUP, PLACE_OBJ_ON_COUNTER = Skill("deliver_soup()"), Skill("place_obj_on_counter()")


def wait(n: int = 1) -> Skill:
    return Skill("wait", n)


def parse_skill(text: str) -> Skill:
    """The skill written as in the paper ("pickup(onion)", "wait(3)", ...); ValueError when it is none of them."""
    cleaned = re.sub(r"\s+", "", text.strip().lower())
    match = re.fullmatch(r"wait\((\d+)\)", cleaned)
    if match:
        return wait(int(match.group(1)))
    for name in SKILL_NAMES[:-1]:
        if cleaned == name:
            return Skill(name)
    raise ValueError(f"unknown skill {text!r}; skills: {', '.join(SKILL_NAMES)}")


def held_name(state, player_index: int) -> str | None:
    player = state.players[player_index]
    return player.held_object.name if player.has_object() else None


def pot_groups(mdp, state) -> dict[str, list]:
    """Pots by state: "empty", "filling" (1-2 onions, not cooking), "cooking", "ready"."""
    groups = {"empty": [], "filling": [], "cooking": [], "ready": []}
    for key, cells in mdp.get_pot_states(state).items():
        if key in groups:
            groups[key].extend(cells)
        elif key.endswith("_items"):
            # with old dynamics a pot at 3 items begins cooking within the same step, so only 1-2 reach here
            groups["filling" if int(key.split("_")[0]) < 3 else "cooking"].extend(cells)
    return groups


def counters_holding(mdp, state, name: str) -> list:
    return list(mdp.get_counter_objects_dict(state).get(name, []))


def shared_counters(mdp, state) -> list:
    """Empty counters both players can reach (where a hand-over works); all empty counters when none is."""
    empty = mdp.get_empty_counter_locations(state)
    reach = [set(reachable_features(mdp, p.position, empty)) for p in state.players]
    both = [c for c in empty if all(c in r for r in reach)]
    return both or empty


def skill_targets(mdp, state, player_index: int, skill: Skill) -> list:
    """Cells the skill interacts with, before reachability (the controller picks the nearest reachable)."""
    if skill == PICKUP_ONION:
        return list(mdp.get_onion_dispenser_locations()) + counters_holding(mdp, state, "onion")
    if skill == PICKUP_DISH:
        return list(mdp.get_dish_dispenser_locations()) + counters_holding(mdp, state, "dish")
    pots = pot_groups(mdp, state)
    if skill == PUT_ONION_IN_POT:
        return pots["filling"] + pots["empty"]
    if skill == FILL_DISH_WITH_SOUP:
        return pots["ready"] or pots["cooking"]
    if skill == DELIVER_SOUP:
        return list(mdp.get_serving_locations())
    if skill == PLACE_OBJ_ON_COUNTER:
        return shared_counters(mdp, state)
    return []


NEEDS_HELD = {
    PICKUP_ONION: (None, "hands must be empty"),
    PICKUP_DISH: (None, "hands must be empty"),
    PUT_ONION_IN_POT: ("onion", "needs an onion in hand"),
    FILL_DISH_WITH_SOUP: ("dish", "needs a dish in hand"),
    DELIVER_SOUP: ("soup", "needs a soup in hand"),
}
NO_TARGET = {
    PICKUP_ONION: "no onion dispenser and no onion on a counter",
    PICKUP_DISH: "no dish dispenser and no dish on a counter",
    PUT_ONION_IN_POT: "no pot has room for an onion (every pot is cooking, ready or full)",
    FILL_DISH_WITH_SOUP: "no pot has a soup cooking or ready",
    DELIVER_SOUP: "no serving window",
    PLACE_OBJ_ON_COUNTER: "no empty counter",
}


def precondition(mdp, state, player_index: int, skill: Skill) -> str | None:
    """None when `skill` can run for the player now, else the reason it cannot (one line)."""
    if skill.name == "wait":
        if not 1 <= skill.steps <= MAX_WAIT:
            return f"wait(n) needs 1 <= n <= {MAX_WAIT}, got {skill.steps}"
        return None
    if skill.name not in SKILL_NAMES:
        return f"unknown skill {skill.name!r}"
    held = held_name(state, player_index)
    if skill == PLACE_OBJ_ON_COUNTER:
        if held is None:
            return "place_obj_on_counter() needs an object in hand; you hold nothing"
    else:
        wanted, rule = NEEDS_HELD[skill]
        if held != wanted:
            holding = f"you hold {held}" if held else "you hold nothing"
            return f"{skill} {rule}; {holding}"
    targets = skill_targets(mdp, state, player_index, skill)
    if not targets:
        return f"{skill} cannot run: {NO_TARGET[skill]}"
    if not reachable_features(mdp, state.players[player_index].position, targets):
        return f"{skill} cannot run: {NO_TARGET[skill].replace('no ', 'no reachable ', 1)} from your side of the kitchen"
    return None


def is_complete(skill: Skill, held_now: str | None) -> bool:
    """Whether the player's hands show the skill's effect (not for wait(n), which the controller counts)."""
    if skill == PICKUP_ONION:
        return held_now == "onion"
    if skill == PICKUP_DISH:
        return held_now == "dish"
    if skill == PUT_ONION_IN_POT:
        return held_now != "onion"
    if skill == FILL_DISH_WITH_SOUP:
        return held_now == "soup"
    if skill == DELIVER_SOUP:
        return held_now != "soup"
    if skill == PLACE_OBJ_ON_COUNTER:
        return held_now is None
    return False
