"""The five consensus goals of EuroCon: three voting rules and two social-welfare principles.

Every party i rates a resolution s_i in 0..9 and holds seat share w_i (sum 1); V = sum_i w_i s_i.

- simple_majority: passes iff V >= 5
- two_thirds:      passes iff V >= 20/3  (two thirds of 10, the benchmark's threshold)
- veto:            passes iff s_veto >= 6 and V >= 5
- rawlsian:        value = min_i s_i   (the worst-off party)
- utilitarian:     value = mean_i s_i  (every party counted equally)

Each goal also words its requirement for the drafting prompt (seat shares as percentages, the veto party
named, the principle spelled out).

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


def _percent(weight: float) -> str:
    return f"{weight * 100:.0f}%"


def seat_sentence(names: list[str], weights: list[float]) -> str:
    return ", ".join(f"{name} {_percent(w)}" for name, w in zip(names, weights))


def requirement(goal: str, names: list[str], weights: list[float], veto_party: str | None = None) -> str:
    """The goal's requirement, worded for the drafting prompt."""
    seats = seat_sentence(names, weights)
    if goal == "simple_majority":
        return (f"The resolution is adopted by simple majority. Seat shares: {seats}. Each party rates it from 0 "
                "to 9, and the seat-weighted average rating must reach at least 5, so write a text that parties "
                "holding most of the seats will support.")
    if goal == "two_thirds":
        return (f"The resolution needs a two-thirds supermajority. Seat shares: {seats}. Each party rates it "
                "from 0 to 9, and the seat-weighted average rating must reach at least 6.67, so write a text "
                "that parties holding at least two thirds of the seats will firmly support.")
    if goal == "veto":
        if not veto_party:
            raise AccordError("the veto goal needs the veto party")
        return (f"The resolution needs a simple majority and {veto_party} holds a veto. Seat shares: {seats}. "
                f"It passes only if {veto_party} rates it at least 6 out of 9 and the seat-weighted average "
                f"rating reaches at least 5, so secure the support of {veto_party} and of most seats.")
    if goal == "rawlsian":
        return ("Follow the Rawlsian maximin principle: make the least satisfied party as satisfied as "
                f"possible, whatever its size. Parties: {', '.join(names)}.")
    if goal == "utilitarian":
        return ("Follow the utilitarian principle: make the parties' average satisfaction as high as possible, "
                f"counting every party equally whatever its size. Parties: {', '.join(names)}.")
    raise AccordError(f"unknown goal {goal!r}; choose from {', '.join(GOALS)}")
