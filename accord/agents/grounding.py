"""State grounding for ProAgent: an Overcooked kitchen and both players written as text.

Zhang et al., "ProAgent: Building Proactive Cooperative Agents with Large Language Models", AAAI 2024,
arXiv 2308.11339 (section "Planner", state grounding). The released code describes, for the player it
controls: the kitchen's fixed objects, the time step, what each player holds and each pot's contents and
cooking time; on forced coordination it hides the teammate and counts the objects on the counters both
players can reach. The words here are ours; the information is the paper's, plus (option `counters="all"`)
the objects on every counter.

    text = scene_text(mdp, state, ego=0)
    # "Scene 12: <Player 0> holds one onion. <Player 1> holds nothing. Kitchen states: <Pot 0> has 2 onions."

Plain functions over `overcooked.mdp.overcooked_mdp` objects (OvercookedGridworld, OvercookedState); no
model, no environment stepping.
"""

from __future__ import annotations

from collections import Counter

from accord.agents.grid import reachable_features

FIXTURES = (("onion dispenser", "get_onion_dispenser_locations"), ("dish dispenser", "get_dish_dispenser_locations"),
            ("serving spot", "get_serving_locations"), ("pot", "get_pot_locations"))
"""Kitchen fixtures named in the layout line, in the paper's order (tomato dispensers are not used: the
paper's recipe is three onions)."""

COUNTED_OBJECTS = ("onion", "dish", "soup")
"""Objects whose counts on shared counters are always stated, zero included (the paper states onion and dish)."""


def layout_text(mdp) -> str:
    """One line naming the kitchen's fixtures with their numbers: "<Onion Dispenser 0>, ..., <Pot 0>"."""
    names = []
    for label, getter in FIXTURES:
        for number, _ in enumerate(getattr(mdp, getter)()):
            names.append(f"<{label.title()} {number}>")
    return "The kitchen has: " + ", ".join(names) + "."


def holding_text(player, ego: bool) -> str:
    """What a player holds, in the paper's phrasing (a held soup reminds the ego player to deliver it)."""
    held = player.held_object.name if player.held_object is not None else None
    if held is None:
        return "nothing."
    if held == "soup":
        return "a dish with soup and should deliver it." if ego else "a dish with soup."
    return f"one {held}."


def pot_text(mdp, state) -> list[str]:
    """One phrase per pot, in pot-number order: empty / n onions / full / cooking with steps left / ready."""
    phrases = []
    for number, position in enumerate(mdp.get_pot_locations()):
        name = f"<Pot {number}>"
        if not state.has_object(position):
            phrases.append(f"{name} is empty")
            continue
        soup = state.get_object(position)
        count = len(soup.ingredients)
        if soup.is_ready:
            phrases.append(f"{name} has cooked soup ready to be put in a dish")
        elif soup.is_cooking:
            phrases.append(f"{name} is cooking; the soup is ready in {soup.cook_time_remaining} steps")
        elif count >= 3:
            phrases.append(f"{name} has 3 onions and is full")
        else:
            phrases.append(f"{name} has {count} onion{'s' if count != 1 else ''}")
    return phrases


def shared_counters(mdp, state, ego: int) -> list:
    """Counters both players can reach (the paper's intersect counters), sorted."""
    counters = mdp.get_counter_locations()
    mine = set(reachable_features(mdp, state.players[ego].position, counters))
    theirs = set(reachable_features(mdp, state.players[1 - ego].position, counters))
    return sorted(mine & theirs)


def shared_counter_text(mdp, state, ego: int) -> str:
    """How many counters both players reach and what lies on them (paper: forced coordination)."""
    counters = shared_counters(mdp, state, ego)
    found = Counter(state.get_object(pos).name for pos in counters if state.has_object(pos))
    parts = [f"{len(counters)} counters can be reached by <Player {ego}>:"]
    for name in COUNTED_OBJECTS:
        count = found[name]
        parts.append(f"{count} hold {name};" if count else f"none holds {name};")
    parts.append(f"{len(counters) - sum(found.values())} are empty.")
    return " ".join(parts)


def all_counter_text(mdp, state) -> str:
    """Objects lying on any counter, counted by kind ("Counters hold: 1 onion, 1 dish." or "...: nothing.")."""
    found = Counter(state.get_object(pos).name for pos in mdp.get_counter_locations() if state.has_object(pos))
    if not found:
        return "Counters hold nothing."
    return "Counters hold: " + ", ".join(f"{n} {name}{'s' if n > 1 else ''}" for name, n in sorted(found.items())) + "."


def scene_text(mdp, state, ego: int, show_teammate: bool = True, counters: str = "none") -> str:
    """The scene as the planner reads it.

    ego: the index of the player the agent controls. show_teammate: False hides the teammate (paper:
    forced coordination). counters: "none" (paper, most layouts), "shared" (the counters both reach, paper:
    forced coordination) or "all" (every counter's objects, an accord option)."""
    if counters not in ("none", "shared", "all"):
        raise ValueError(f"counters must be none, shared or all, got {counters!r}")
    mate = 1 - ego
    parts = [f"Scene {state.timestep}:", f"<Player {ego}> holds {holding_text(state.players[ego], ego=True)}"]
    if show_teammate:
        parts.append(f"<Player {mate}> holds {holding_text(state.players[mate], ego=False)}")
    parts.append("Kitchen states: " + "; ".join(pot_text(mdp, state)) + ".")
    if counters == "shared":
        parts.append(shared_counter_text(mdp, state, ego))
    elif counters == "all":
        parts.append(all_counter_text(mdp, state))
    return " ".join(parts)
