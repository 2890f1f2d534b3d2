"""Consensus by selection: draft N candidates, let every party's judge score all of them, pick one by a
social-choice rule matched to the goal.

ICSAP (Zhang et al. 2024, "Incentive Compatibility for AI Alignment in Sociotechnical Systems", arXiv
2402.12907) proposes mechanism design for aligning AI systems with societies; this is its simplest
measurable form on EuroCon: the parties' judged scores are the reports, a social-choice rule
(accord.games.social_choice) is the mechanism, and the resolution it selects is the outcome.

Rules (`rule`):

* `auto` (default): matched to the goal. Voting goals (simple_majority, two_thirds, veto): the candidate
  that passes the goal, ties by the seat-weighted mean score (for simple majority and two thirds this is the
  seat-weighted utilitarian rule; for veto it also needs the veto party's 6). Rawlsian: the largest minimum
  score (ties by the mean). Utilitarian: the largest mean score (every party counted equally).
* any rule of accord.games.social_choice (`seat-weighted` = utilitarian with seat weights, `utilitarian`,
  `rawlsian`, `nash`, `plurality`, `borda`, `copeland`, `condorcet`, `kemeny`, `maximal-lottery`): parties
  are voters weighted by their seats (`utilitarian` and `rawlsian` unweighted, as the goals define them).

Scores are the run's vote reading (expected digit by default). The judge that selects is the judge that
scores the outcome, so a gain of the selected draft over a single draft is measured *by the selecting
judge* (best-of-N against one's own metric); `rejudge` with another judge gives a held-out view.

    index, values = select_candidate(scores, seat_weights, goal="rawlsian")   # scores: candidates x parties
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from accord.consensus.drafting import draft_resolutions
from accord.consensus.goals import GOALS, VOTING_GOALS, evaluate
from accord.consensus.judge import judge_resolution
from accord.errors import AccordError
from accord.games import social_choice
from accord.lm.base import keeping_prefix

RULES = ("auto", "seat-weighted") + social_choice.RULES


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise AccordError(f"unknown selection rule {rule!r}; choose from {', '.join(RULES)}")
    return rule


def select_candidate(scores, seat_weights, goal: str, rule: str = "auto",
                     veto_index: int | None = None) -> tuple[int, list[float]]:
    """(index of the selected candidate, the rule's value of every candidate). scores: candidates x parties."""
    check_rule(rule)
    if goal not in GOALS:
        raise AccordError(f"unknown goal {goal!r}; choose from {', '.join(GOALS)}")
    S = np.asarray(scores, dtype=float)
    if S.ndim != 2 or S.shape[0] == 0 or S.shape[1] != len(seat_weights):
        raise AccordError(f"scores must be candidates x {len(seat_weights)} parties, got shape {S.shape}")
    names = [f"c{i}" for i in range(S.shape[0])]
    seats = social_choice.from_scores(names, S.T, seat_weights)
    equal = social_choice.from_scores(names, S.T)
    if rule == "auto":
        mean_seat = social_choice.utilitarian(seats)
        if goal in VOTING_GOALS:
            passes = np.array([evaluate(goal, row, seat_weights, veto_index)["value"] for row in S])
            values = passes * 10.0 + mean_seat  # passing first (0/1), then the seat-weighted mean (0..9)
            return int(np.flatnonzero(values >= values.max() - 1e-9)[0]), values.tolist()
        if goal == "rawlsian":
            return social_choice.winner(equal, "rawlsian"), social_choice.rawlsian(equal).tolist()
        return social_choice.winner(equal, "utilitarian"), social_choice.utilitarian(equal).tolist()
    if rule == "seat-weighted":
        return social_choice.winner(seats, "utilitarian"), social_choice.utilitarian(seats).tolist()
    profile = equal if rule in ("utilitarian", "rawlsian") else seats
    if rule in social_choice.SCORE_RULES:
        values = social_choice.SCORE_RULES[rule](profile)
    elif rule == "maximal-lottery":
        values = social_choice.maximal_lottery(profile)
    else:
        values = social_choice.copeland(profile)  # condorcet / kemeny: Copeland scores as the shown value
    return social_choice.winner(profile, rule), [float(v) for v in values]


def party_scores(votes, reading: str) -> list[float] | None:
    """One number per party from judge votes (accord.consensus.judge.Vote): the expected or argmax digit."""
    values = [v.expected if reading == "expected" else v.score for v in votes]
    return None if any(v is None for v in values) else [float(v) for v in values]


def draft_and_select(drafter, judge, batch, examples, sampling, method: str, protocol, candidates: int,
                     rule: str = "auto", reading: str = "expected",
                     method_overrides: dict | None = None) -> list[tuple]:
    """For each (task, goal, pool) of `batch`: `candidates` drafts (sampling seeds seed, seed+1, ...), every
    party's votes on each, and the selected one. Returns per item (draft, votes, judge seconds, extra record
    fields: selected_index, select_rule, and per candidate its draft, party scores and goal value)."""
    tasks, goals = [t for t, _, _ in batch], [g for _, g, _ in batch]
    drafts = [draft_resolutions(drafter, tasks, goals, method, replace(sampling, seed=(sampling.seed or 0) + c),
                                examples, method_overrides, protocol=protocol) for c in range(candidates)]
    out = []
    for i, (task, goal) in enumerate(zip(tasks, goals)):
        with keeping_prefix(judge):  # llama.cpp: the head a task's candidates share (system text, background) once
            judged = [judge_resolution(judge, task, drafts[c][i].text, protocol) for c in range(candidates)]
        scores = [party_scores(votes, reading) for votes, _ in judged]
        usable = [c for c in range(candidates) if scores[c] is not None]
        index, values = 0, [None] * candidates
        if usable:
            picked, picked_values = select_candidate([scores[c] for c in usable], task.seat_weights, goal, rule,
                                                     task.veto_index)
            index = usable[picked]
            for c, value in zip(usable, picked_values):
                values[c] = value
        extra = {"selected_index": index, "select_rule": rule, "candidates": [
            {"draft": drafts[c][i].text, "scores": scores[c], "selection_value": values[c],
             "value": None if scores[c] is None else
             evaluate(goal, scores[c], task.seat_weights, task.veto_index)["value"]}
            for c in range(candidates)]}
        out.append((drafts[index][i], judged[index][0], sum(seconds for _, seconds in judged), extra))
    return out


def goal_value(record: dict, reading: str) -> float | None:
    """A run record's goal metric under a vote reading (expected or argmax)."""
    return record.get("expected_value") if reading == "expected" else record.get("value")


def summarize_selection(records: list[dict], reading: str, single_records: list[dict] | None = None) -> dict:
    """Per goal: the goal metric of the selected draft against the first candidate alone (a single sampled
    draft, same run and tasks) and, given another run's records, against its drafts on the shared tasks.
    Means and paired differences with 95% bootstrap intervals (accord.stats)."""
    from accord.stats import bootstrap_ci

    others = {r["key"]: goal_value(r, reading) for r in single_records or [] if r.get("usable")}
    rows: dict[str, dict] = {}
    for record in records:
        candidates = record.get("candidates")
        if not record.get("usable") or not candidates:
            continue
        chosen, first = candidates[record["selected_index"]]["value"], candidates[0]["value"]
        if chosen is None or first is None:
            continue
        row = rows.setdefault(record["goal"], {"selected": [], "first": [], "pairs": []})
        row["selected"].append(chosen)
        row["first"].append(first)
        if others.get(record["key"]) is not None:
            row["pairs"].append((chosen, others[record["key"]]))
    out = {}
    for goal, row in rows.items():
        entry = {"n": len(row["selected"]), "selected": float(np.mean(row["selected"])),
                 "first_candidate": float(np.mean(row["first"])),
                 "selected_minus_first": bootstrap_ci(np.subtract(row["selected"], row["first"]))}
        if row["pairs"]:
            entry.update(n_shared_with_single_run=len(row["pairs"]),
                         single_run=float(np.mean([o for _, o in row["pairs"]])),
                         selected_minus_single_run=bootstrap_ci([c - o for c, o in row["pairs"]]))
        out[goal] = entry
    return out
