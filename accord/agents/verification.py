"""ProAgent's verification: a planned skill is checked against its preconditions; a skill that cannot run
gets a failure explanation and the planner is asked again, at most `max_replans` times, after which the
agent waits one step (a counted fallback).

Zhang et al., "ProAgent", AAAI 2024, arXiv 2308.11339 (sections "Verificator" and "Controller"). In the
released code the loop is: while the skill is invalid, explain the failure, re-plan, count; once the count
passes 3 the skill becomes wait(1). (That code asks a fourth time and then discards the answer; here the
bound stops the asking: `max_replans` re-plans, then wait(1).)

    outcome = verify(skill, check, explain, replan, max_replans=3)
    outcome.skill, outcome.replans, outcome.fell_back, outcome.explanations

`check(skill) -> None | reason`, `explain(skill, reason) -> text` and `replan(explanation) -> skill | None`
are plain callables, so the loop is tested without a model or an environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FALLBACK = "wait(1)"


@dataclass
class Outcome:
    skill: str
    """The skill to run: the first valid plan, or FALLBACK."""
    replans: int = 0
    """How many times the planner was asked again."""
    fell_back: bool = False
    """True when the bound was reached and FALLBACK replaced the plan."""
    explanations: list = field(default_factory=list)
    """The failure explanations given, in order."""


def verify(skill: str | None, check, explain, replan, max_replans: int = 3) -> Outcome:
    """Check `skill`; while it cannot run, explain, re-plan (at most max_replans times), then fall back."""
    outcome = Outcome(skill or FALLBACK)
    while True:
        reason = check(skill) if skill is not None else "the answer names no skill"
        if reason is None:
            outcome.skill = skill
            return outcome
        if outcome.replans >= max_replans:
            outcome.skill, outcome.fell_back = FALLBACK, True
            return outcome
        explanation = explain(skill, reason)
        outcome.explanations.append(explanation)
        skill = replan(explanation)
        outcome.replans += 1
