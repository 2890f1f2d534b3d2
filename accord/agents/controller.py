"""The low-level controller of ProAgent (Zhang et al., AAAI 2024, arXiv 2308.11339, Sec. 4.5): it turns
the current skill into motion goals, walks the shortest path to the nearest goal with the teammate's cell
as an obstacle, and interacts; one action per environment step.

    controller = SkillController(mdp, player_index=0)
    controller.start(PICKUP_ONION, state)
    while controller.status == "running":
        action = controller.act(state)          # also detects completion and failure
        ...step the env, get the new state...

Per step (`act`):
    completion   the hands show the skill's effect (skills.is_complete), or wait(n) has waited n steps
    validity     the skill's precondition still holds (a teammate may have filled the pot): else "failed"
                 with the reason in `failure`
    path         breadth-first search (grid.py) to face the nearest goal cell, the teammate's cell blocked;
                 when the teammate blocks every route, the path through the teammate (they may move). The
                 path is kept while the goals stay the same and the moves happen; when the teammate steps
                 into it, the player yields one step (probability 1/2, seeded) or re-routes: two
                 re-planning agents in a ring otherwise swap routes back and forth forever
    act          the path's first move, or interact when facing the goal; at a cooking pot with a dish:
                 stay until the soup is ready
    unstick      after `stuck_limit` steps without the position or facing changing while a move was
                 intended, one random move (seeded), as the 2019 scripted agents do in corridors
    timeout      `max_skill_steps` steps on one skill: "failed" (the planner re-plans)
"""

from __future__ import annotations

import numpy as np

from accord.agents.grid import plan_to_targets, step_cell
from accord.agents.overcooked_env import DIRECTIONS, INTERACT, STAY
from accord.agents.skills import FILL_DISH_WITH_SOUP, Skill, held_name, is_complete, precondition, skill_targets


class SkillController:
    """Runs one skill at a time for one player. `status`: "idle", "running", "done" or "failed"."""

    def __init__(self, mdp, player_index: int, seed: int = 0, stuck_limit: int = 3, max_skill_steps: int = 100):
        self.mdp = mdp
        self.player_index = player_index
        self.rng = np.random.default_rng(seed)
        self.stuck_limit = stuck_limit
        self.max_skill_steps = max_skill_steps
        self.skill: Skill | None = None
        self.status = "idle"
        self.failure: str | None = None
        self.steps = 0
        self._plan, self._plan_targets, self._expected_pose = None, None, None
        self._last_pose = None
        self._last_moved = False
        self._still = 0

    def start(self, skill: Skill, state=None) -> None:
        """Begin `skill`; with `state`, a skill whose precondition fails is "failed" at once."""
        self.skill, self.status, self.failure, self.steps = skill, "running", None, 0
        self._last_pose, self._last_moved, self._still = None, False, 0
        self._plan = None
        if state is not None:
            reason = precondition(self.mdp, state, self.player_index, skill)
            if reason is not None:
                self._fail(reason)

    def _fail(self, reason: str) -> None:
        self.status, self.failure = "failed", reason

    def update(self, state) -> str:
        """Check completion and validity of the running skill in `state`; returns the status."""
        if self.status != "running":
            return self.status
        if self.skill.name == "wait":
            if self.steps >= self.skill.steps:
                self.status = "done"
            return self.status
        if self.steps > 0 and is_complete(self.skill, held_name(state, self.player_index)):
            self.status = "done"
            return self.status
        reason = precondition(self.mdp, state, self.player_index, self.skill)
        if reason is not None:
            self._fail(reason)
        elif self.steps >= self.max_skill_steps:
            self._fail(f"{self.skill} did not finish within {self.max_skill_steps} steps")
        return self.status

    def act(self, state) -> int:
        """The action for this step (STAY once the skill is done or failed)."""
        if self.update(state) != "running":
            return STAY
        self.steps += 1
        if self.skill.name == "wait":
            return STAY
        action = self._path_action(state)
        return self._unstick(state, action)

    def _path_action(self, state) -> int:
        me = state.players[self.player_index]
        mate = state.players[1 - self.player_index]
        targets = skill_targets(self.mdp, state, self.player_index, self.skill)
        plan = self._plan
        facing = step_cell(me.position, me.orientation)
        if plan is None or self._plan_targets != set(targets) or self._expected_pose != me.pos_and_or:
            plan = None  # no plan yet, goals changed, or the last move did not happen: plan afresh
        elif not plan and facing not in self._plan_targets:
            plan = None
        elif plan and step_cell(me.position, DIRECTIONS[plan[0]]) == mate.position:
            plan = None  # the teammate stepped into the path: yield a step half the time, else re-route
            if self.rng.random() < 0.5:
                self._expected_pose = me.pos_and_or
                self._plan = None
                return STAY
        if plan is None:
            plan = plan_to_targets(self.mdp, me.position, me.orientation, targets, blocked=[mate.position])
            if plan is None:  # the teammate blocks every route: head through them and let them move
                plan = plan_to_targets(self.mdp, me.position, me.orientation, targets)
        if plan is None:
            self._fail(f"{self.skill}: no path to any goal")
            return STAY
        if plan:
            action, self._plan, self._plan_targets = plan[0], plan[1:], set(targets)
            nxt = step_cell(me.position, DIRECTIONS[action])
            free = nxt in self.mdp.get_valid_player_positions() and nxt != mate.position
            self._expected_pose = (nxt if free else me.position, DIRECTIONS[action])
            return action
        self._plan = None
        if self.skill == FILL_DISH_WITH_SOUP:
            soup = state.get_object(facing)
            if not soup.is_ready:
                return STAY
        return INTERACT

    def _unstick(self, state, action: int) -> int:
        me = state.players[self.player_index]
        pose = (me.position, me.orientation)
        self._still = self._still + 1 if (self._last_moved and pose == self._last_pose) else 0
        self._last_pose = pose
        if self._still >= self.stuck_limit:
            self._still = 0
            action = int(self.rng.integers(4))
        self._last_moved = action not in (STAY, INTERACT)
        return action
