"""Shortest paths on an Overcooked grid: breadth-first search over (cell, facing) with the teammate's cell
as an obstacle.

A move in a direction turns the player to face it and steps forward when the next cell is free (an empty
floor cell that the teammate does not stand on); against a wall or counter it only turns. A goal is a
feature cell (pot, dispenser, counter, serving window): the player must stand on a free neighbour facing it,
then interact. Every move costs one step, so breadth-first search gives shortest plans; the grids are at
most ~9x5 so a search is a few hundred states. The package's MediumLevelActionManager precomputes all-pairs
plans without obstacles and takes seconds per layout; this search is exact with the teammate and instant.
"""

from __future__ import annotations

from collections import deque

from accord.agents.overcooked_env import DIRECTIONS, INTERACT


def step_cell(cell, direction):
    return (cell[0] + direction[0], cell[1] + direction[1])


def free_cells(mdp) -> set:
    return set(mdp.get_valid_player_positions())


def reachable_cells(mdp, start) -> set:
    """Floor cells reachable from `start`, ignoring the teammate (who can move away)."""
    free = free_cells(mdp)
    seen, queue = {start}, deque([start])
    while queue:
        cell = queue.popleft()
        for d in DIRECTIONS:
            nxt = step_cell(cell, d)
            if nxt in free and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def reachable_features(mdp, start, targets) -> list:
    """The target cells that a player at `start` can face from a reachable floor cell."""
    region = reachable_cells(mdp, start)
    return [t for t in targets if any(step_cell(t, d) in region for d in DIRECTIONS)]


def plan_to_targets(mdp, position, orientation, targets, blocked=()) -> list[int] | None:
    """Shortest list of action indices that leaves the player facing one of `targets`, ready to interact.

    `blocked` cells (the teammate's) cannot be entered. [] when already facing a target; None when no
    target can be faced. Ties are broken by the fixed order of DIRECTIONS, so plans are deterministic.
    """
    targets = set(targets)
    if not targets:
        return None
    free = free_cells(mdp) - set(blocked)
    start = (tuple(position), tuple(orientation))
    parents = {start: None}
    queue = deque([start])
    while queue:
        cell, facing = queue.popleft()
        if step_cell(cell, facing) in targets:
            actions, node = [], (cell, facing)
            while parents[node] is not None:
                node, action = parents[node]
                actions.append(action)
            return actions[::-1]
        for index, d in enumerate(DIRECTIONS):
            nxt = step_cell(cell, d)
            node = (nxt if nxt in free else cell, d)
            if node not in parents:
                parents[node] = ((cell, facing), index)
                queue.append(node)
    return None


def plan_length(plan: list[int] | None) -> float:
    """Steps to complete an interaction: the moves plus the interact (inf when unreachable)."""
    return float("inf") if plan is None else len(plan) + 1


__all__ = ["plan_to_targets", "plan_length", "reachable_cells", "reachable_features", "free_cells", "INTERACT"]
