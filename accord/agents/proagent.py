"""ProAgent: a language-model agent that cooperates with an unknown teammate in Overcooked-AI.

Zhang, Yang, Hu, Wang, Li, Sun, Zhang, Zhang, Liu, Zhu, Chang, Zhang, Yin, Liang, Yang, "ProAgent: Building
Proactive Cooperative Agents with Large Language Models", AAAI 2024, arXiv 2308.11339; released code
github.com/PKU-Alignment/ProAgent (src/proagent/proagent.py, ProMediumLevelAgent).

One decision, taken when no skill is running (the previous one finished or failed):

    ground     the scene in text (grounding.py), after the belief records (belief.py) when asked for
    plan       one model call (planner.py): free text parsed to a skill (paper) or a constrained choice
    verify     the skill's preconditions (skills.precondition); a skill that cannot run gets a failure
               explanation (one more model call, or the checked reason) and a re-plan with the recent memory
               (memory.py), at most `max_replans` times, then wait(1) (verification.py)
    act        the controller (controller.py) walks and interacts, one action per step, until the skill is
               done or fails; no model call meanwhile

    agent = ProAgent(load_model("qwen2.5-coder-1.5b"), ProAgentConfig(layout="cramped_room"))
    play_episodes("cramped_room", agent, make_partner("greedy"), episodes=1)
    agent.stats          # decisions, model_calls, replans, fallbacks, unparsed, belief mismatches
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from accord.agents.belief import Belief
from accord.agents.controller import SkillController
from accord.agents.grounding import layout_text, scene_text
from accord.agents.memory import Memory
from accord.agents.overcooked_env import ACTION_NAMES, COOK_TIME
from accord.agents.planner import ChoicePlanner, FreeTextPlanner, explain_failure, parse_plan, wait_steps
from accord.agents.prompts import (REPLAN_SUFFIX, explainer_system, failure_question, planner_system,
                                   seat_skills)
from accord.agents.skills import parse_skill, precondition
from accord.agents.verification import verify
from accord.errors import AccordError

PLANNER_MODES = ("freetext", "choice")
MIN_WAIT = {"forced_coordination": 3}
"""Layouts where a planned wait lasts at least this many steps (the paper's code, forced coordination)."""
PAPER_COUNTERS = {"forced_coordination": "shared"}
"""Counter grounding per layout under the paper's protocol (elsewhere: none); see grounding.scene_text."""
HIDDEN_TEAMMATE = {"forced_coordination"}
"""Layouts whose scene leaves the teammate out (the paper's code)."""


@dataclass
class ProAgentConfig:
    layout: str = "cramped_room"
    """Overcooked layout the agent plays (chooses the prompt's layout notes)."""
    planner_mode: str = "freetext"
    """freetext: the paper's analysis + parsed plan; choice: constrained choice over the skills (accord)."""
    belief: bool = False
    """Ask for the teammate's intention and put the belief records before the scene (paper's l3-aip with
    belief revision); off = l2-ap, the prompt level of the paper's reported experiments."""
    memory_k: int = 1
    """Recent messages retrieved for a re-plan (paper: recent_k, K = 1 by default; 0 or 1 in its tables)."""
    max_replans: int = 3
    """Re-plans after failed verification before the counted fallback to wait(1) (paper: 3)."""
    max_new_tokens: int = 256
    """Longest free-text answer of the planner and the explainer (paper: 256)."""
    explainer: str = "model"
    """model: the model explains a failed skill (paper); checks: the precondition's own reason, no call."""
    counters: str = "paper"
    """paper: shared counters on forced coordination only; all: every counter's objects on every layout."""
    choice_options: str = "all"
    """Choice planner only: all (the seat's skills) or valid (only skills whose preconditions hold now, an
    accord option: no failed plan, hence no explanation or re-plan)."""
    wait_moves: str = "random"
    """random: each waiting step takes a uniformly random action (the paper's code); stay: stand still."""

    def __post_init__(self):
        if self.planner_mode not in PLANNER_MODES:
            raise AccordError(f"unknown planner mode {self.planner_mode!r}; modes: {', '.join(PLANNER_MODES)}")
        if self.explainer not in ("model", "checks"):
            raise AccordError(f"explainer must be model or checks, got {self.explainer!r}")
        if self.counters not in ("paper", "all"):
            raise AccordError(f"counters must be paper or all, got {self.counters!r}")
        if self.choice_options not in ("all", "valid"):
            raise AccordError(f"choice_options must be all or valid, got {self.choice_options!r}")
        if self.wait_moves not in ("random", "stay"):
            raise AccordError(f"wait_moves must be random or stay, got {self.wait_moves!r}")
        if self.max_replans < 0 or self.memory_k < 0:
            raise AccordError("max_replans and memory_k must be >= 0")


class ProAgent:
    """A policy (reset/act, as partners.py's) that plans skills with a language model."""

    name = "proagent"

    def __init__(self, lm, config: ProAgentConfig | None = None, explainer_lm=None):
        """explainer_lm: the model that explains failures (default `lm`); a second instance of the same model
        keeps its own prompt cache, so explanations do not evict the planner's kept instructions."""
        self.lm = lm
        self.explainer_lm = explainer_lm or lm
        self.config = config or ProAgentConfig()
        self.seat = None

    # ---- per episode -----------------------------------------------------------------------------
    def reset(self, mdp, player_index: int, seed: int = 0) -> None:
        config = self.config
        self.mdp, self.seat = mdp, player_index
        self.system = planner_system(config.layout, player_index, cook_time=COOK_TIME, with_intention=config.belief)
        self.explainer_system = explainer_system(player_index)
        self.planner = self.make_planner()
        self.controller = SkillController(mdp, player_index, seed=seed)
        self.rng = np.random.default_rng(seed)
        self.memory = Memory(config.memory_k)
        self.belief = Belief(mate=1 - player_index)
        self.previous = None
        self.decisions: list[dict] = []
        self.stats = {"decisions": 0, "model_calls": 0, "replans": 0, "fallbacks": 0, "unparsed": 0}

    def make_planner(self):
        config, seat = self.config, self.seat
        if config.planner_mode == "choice":
            return ChoicePlanner(self.lm, self.system, seat, seat_skills(config.layout, seat), with_intention=config.belief)
        return FreeTextPlanner(self.lm, self.system, seat, config.max_new_tokens, with_intention=config.belief)

    def restored(self) -> None:
        """After a mid-episode checkpoint was put back (checkpoint.py, which leaves the models out)."""
        self.planner = self.make_planner()

    def prompts(self) -> dict:
        """The instructions this agent sends (for run.json)."""
        return {"planner_system": self.system, "explainer_system": self.explainer_system}

    # ---- grounding ---------------------------------------------------------------------------------
    def scene(self, state) -> str:
        layout = self.config.layout
        counters = PAPER_COUNTERS.get(layout, "none") if self.config.counters == "paper" else "all"
        return scene_text(self.mdp, state, self.seat, show_teammate=layout not in HIDDEN_TEAMMATE, counters=counters)

    def user_text(self, state, replan: bool = False) -> str:
        """The planner's user message: [belief records] [recent memory, on a re-plan] layout + scene."""
        head = self.belief.prompt() if self.config.belief else ""
        notes = self.memory.text() if replan else ""
        return head + notes + layout_text(self.mdp) + "\n" + self.scene(state) + (REPLAN_SUFFIX if replan else "")

    # ---- one decision --------------------------------------------------------------------------------
    def ask_planner(self, state, replan: bool) -> str:
        """One planner call; the planned skill (wait(1) when the answer names none, counted as unparsed)."""
        user = self.user_text(state, replan)
        start = time.perf_counter()
        allowed = None
        if self.config.planner_mode == "choice" and self.config.choice_options == "valid":
            allowed = tuple(s for s in self.planner.skills if self.check(state, s) is None)
        plan = self.planner.plan(user, allowed)
        seconds = time.perf_counter() - start
        self.stats["model_calls"] += 1
        self.belief.record_intention(state.timestep, plan.intention)
        skill = plan.skill
        if skill is None:
            self.stats["unparsed"] += 1
            skill = "wait(1)"
        if wait_steps(skill) is not None:
            skill = f"wait({max(wait_steps(skill), MIN_WAIT.get(self.config.layout, 0))})"
        elif self.config.planner_mode == "freetext":  # the paper keeps non-wait answers in the dialogue
            self.memory.add("user", user)
            self.memory.add("assistant", plan.text)
        self.decisions[-1]["plans"].append({"skill": skill, "intention": plan.intention, "text": plan.text,
                                            "probs": plan.probs, "seconds": round(seconds, 3)})
        return skill

    def check(self, state, skill: str) -> str | None:
        try:
            return precondition(self.mdp, state, self.seat, parse_skill(skill))
        except ValueError as error:
            return str(error)

    def explain(self, state, skill: str, reason: str) -> str:
        if self.config.explainer == "model":
            question = failure_question(self.scene(state), self.seat, skill)
            text = explain_failure(self.explainer_lm, self.explainer_system, question, self.config.max_new_tokens)
            self.stats["model_calls"] += 1
        else:
            text = f"<Player {self.seat}> failed at {skill}: {reason}."
        self.memory.add("user", text)
        return text

    def decide(self, state, failed: str | None = None, reason: str | None = None) -> str:
        """Choose, verify and start the next skill. `failed`: the running skill the controller gave up on,
        for `reason`; it is explained and re-planned as an invalid plan is."""
        self.stats["decisions"] += 1
        self.decisions.append({"t": state.timestep, "failed": failed, "reason": reason, "plans": []})
        skill = failed if failed is not None else self.ask_planner(state, replan=False)
        pending = [reason] if failed is not None else []

        def check(s):
            return pending.pop() if pending else self.check(state, s)

        outcome = verify(skill, check, lambda s, r: self.explain(state, s, r),
                         lambda _explanation: self.ask_planner(state, replan=True), self.config.max_replans)
        self.stats["replans"] += outcome.replans
        self.stats["fallbacks"] += int(outcome.fell_back)
        self.decisions[-1].update(skill=outcome.skill, replans=outcome.replans, fell_back=outcome.fell_back)
        self.controller.start(parse_skill(outcome.skill), state)
        return outcome.skill

    # ---- one step ------------------------------------------------------------------------------------
    def act(self, state) -> int:
        if self.previous is not None:
            self.belief.observe(self.mdp, self.previous, state)
        self.previous = state
        status = self.controller.update(state) if self.controller.skill is not None else "idle"
        if status == "done" and self.controller.skill.name != "wait":
            self.memory.add("user", f"Player {self.seat} succeeded at {self.controller.skill}.")
        if status == "failed":
            self.decide(state, failed=str(self.controller.skill), reason=self.controller.failure)
        elif status != "running":
            self.decide(state)
        action = self.controller.act(state)
        if self.controller.skill.name == "wait" and self.config.wait_moves == "random":
            action = int(self.rng.integers(len(ACTION_NAMES)))
        return action

    def episode_stats(self) -> dict:
        """The counters of the episode just played, with the belief's mismatches."""
        return {**self.stats, "intentions": len(self.belief.intentions),
                "belief_mismatches": len(self.belief.mismatches()) if self.config.belief else 0}

    def settings(self) -> dict:
        return asdict(self.config)


__all__ = ["ProAgent", "ProAgentConfig", "PLANNER_MODES", "parse_plan"]
