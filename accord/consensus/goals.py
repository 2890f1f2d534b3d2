"""The five consensus goals of EuroCon: three voting rules and two social-welfare principles.

Every party i rates a resolution s_i in 0..9 and holds seat share w_i (sum 1); V = sum_i w_i s_i.

- simple_majority: passes iff V >= 5
- two_thirds:      passes iff V >= 20/3  (two thirds of 10, the benchmark's threshold)
- veto:            passes iff s_veto >= 6 and V >= 5
- rawlsian:        value = min_i s_i   (the worst-off party)
- utilitarian:     value = mean_i s_i  (every party counted equally)

How each goal is worded for the drafter depends on the protocol (accord.consensus.protocols).

    >>> evaluate("veto", [6, 4], [0.5, 0.5], veto_index=0)["passed"]
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.errors import AccordError

VOTING_GOALS = ("simple_majority", "two_thirds", "veto")
VALUE_GOALS = ("rawlsian", "utilitarian")
GOALS = VOTING_GOALS + VALUE_GOALS
MAJORITY = 5.0
SUPERMAJORITY = 20.0 / 3.0
VETO_MIN = 6
EPS = 1e-9  # V is a sum of products of tenths; guard float rounding at the thresholds


@dataclass(frozen=True)
class GoalResult:
    goal: str
    weighted_vote: float
    value: float
    """The goal's metric: 1.0/0.0 for voting goals (pass/fail), min or mean score for the principles."""
    passed: bool | None
    """Pass/fail for voting goals, None for the principles."""

    def as_dict(self) -> dict:
        return {"goal": self.goal, "weighted_vote": self.weighted_vote, "value": self.value, "passed": self.passed}


def parse_goals(text: str) -> list[str]:
    """'all' or a comma list of goal names."""
    if text.strip() == "all":
        return list(GOALS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in GOALS]
    if unknown or not names:
        raise AccordError(f"unknown goal {', '.join(unknown) or text!r}; choose from {', '.join(GOALS)} or all")
    return list(dict.fromkeys(names))


def weighted_vote(scores, weights) -> float:
    if len(scores) != len(weights):
        raise AccordError(f"{len(scores)} scores for {len(weights)} seat weights")
    return float(sum(float(w) * float(s) for w, s in zip(weights, scores)))


def evaluate(goal: str, scores, weights, veto_index: int | None = None) -> dict:
    """The goal's outcome for party scores (integers 0-9, or expected scores)."""
    if goal not in GOALS:
        raise AccordError(f"unknown goal {goal!r}; choose from {', '.join(GOALS)}")
    if not len(scores):
        raise AccordError("no party scores")
    vote = weighted_vote(scores, weights)
    passed = None
    if goal == "simple_majority":
        passed = vote >= MAJORITY - EPS
    elif goal == "two_thirds":
        passed = vote >= SUPERMAJORITY - EPS
    elif goal == "veto":
        if veto_index is None:
            raise AccordError("the veto goal needs the veto party")
        passed = float(scores[veto_index]) >= VETO_MIN - EPS and vote >= MAJORITY - EPS
    if passed is not None:
        value = 1.0 if passed else 0.0
    elif goal == "rawlsian":
        value = float(min(scores))
    else:
        value = float(sum(scores)) / len(scores)
    return GoalResult(goal, vote, value, passed).as_dict()


def requirement(goal: str, names: list[str], weights: list[float], veto_party: str | None = None) -> str:
    """The goal's requirement as accord's earlier protocol words it for the drafter (see
    accord.consensus.protocols.goal_text for any protocol)."""
    from accord.consensus.protocols import ACCORD, goal_text

    return goal_text(ACCORD, goal, names, weights, veto_party)
