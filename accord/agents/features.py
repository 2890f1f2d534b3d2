"""A hand-built feature vector of an Overcooked state from one player's seat, for the behaviour-cloning
human proxy (bc.py) and the PPO self-play baseline (ppo.py). It follows the spirit of the 2019 paper's
`featurize_state` (Carroll et al., NeurIPS 2019) without its all-pairs motion planner: distances are grid
offsets (dx, dy) to the nearest cell of each kind, scaled by the grid's larger side.

    own       x, y; facing (4 one-hot); holding onion/dish/soup/nothing (4)
    teammate  dx, dy; facing (4); holding (4)
    nearest   dx, dy to: onion source (dispenser or counter onion), dish source, serving window,
              empty counter, counter soup  (5 x 2)
    pots      the two nearest pots: present, dx, dy, onions/3, cooking, ready, cook steps left/20 (2 x 7)
    walls     for each direction north/south/east/west: is the next cell free floor (4)
"""

from __future__ import annotations

import numpy as np

from accord.agents.overcooked_env import COOK_TIME, DIRECTIONS

HELD = ("onion", "dish", "soup", None)
FACING = tuple(DIRECTIONS)


def feature_size() -> int:
    return 2 + 4 + 4 + 2 + 4 + 4 + 5 * 2 + 2 * 7 + 4


def one_hot(index: int, size: int) -> list[float]:
    out = [0.0] * size
    out[index] = 1.0
    return out


def held_one_hot(player) -> list[float]:
    return one_hot(HELD.index(player.held_object.name if player.has_object() else None), 4)


def nearest_offset(position, cells, scale: float) -> list[float]:
    if not cells:
        return [0.0, 0.0]
    cell = min(cells, key=lambda c: (abs(c[0] - position[0]) + abs(c[1] - position[1]), c))
    return [(cell[0] - position[0]) / scale, (cell[1] - position[1]) / scale]


def state_features(mdp, state, player_index: int) -> np.ndarray:
    """The feature vector of `state` seen by player `player_index` (float32, length feature_size())."""
    me, mate = state.players[player_index], state.players[1 - player_index]
    (x, y), scale = me.position, float(max(mdp.width, mdp.height))
    counters = mdp.get_counter_objects_dict(state)
    f = [x / scale, y / scale]
    f += one_hot(FACING.index(tuple(me.orientation)), 4) + held_one_hot(me)
    f += [(mate.position[0] - x) / scale, (mate.position[1] - y) / scale]
    f += one_hot(FACING.index(tuple(mate.orientation)), 4) + held_one_hot(mate)
    for cells in (
        list(mdp.get_onion_dispenser_locations()) + counters.get("onion", []),
        list(mdp.get_dish_dispenser_locations()) + counters.get("dish", []),
        list(mdp.get_serving_locations()),
        mdp.get_empty_counter_locations(state),
        counters.get("soup", []),
    ):
        f += nearest_offset(me.position, cells, scale)
    pots = sorted(mdp.get_pot_locations(), key=lambda c: (abs(c[0] - x) + abs(c[1] - y), c))[:2]
    for i in range(2):
        if i >= len(pots):
            f += [0.0] * 7
            continue
        pot = pots[i]
        soup = state.get_object(pot) if state.has_object(pot) else None
        onions = len(soup.ingredients) if soup else 0
        cooking = float(bool(soup) and soup.is_cooking)
        ready = float(bool(soup) and soup.is_ready)
        left = soup.cook_time_remaining / COOK_TIME if soup and soup.is_cooking else 0.0
        f += [1.0, (pot[0] - x) / scale, (pot[1] - y) / scale, onions / 3, cooking, ready, left]
    free = set(mdp.get_valid_player_positions())
    f += [float((x + dx, y + dy) in free) for dx, dy in DIRECTIONS]
    return np.asarray(f, dtype=np.float32)
