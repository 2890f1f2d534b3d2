"""Social choice: aggregating many parties' preferences over a few candidates.

Textbook rules (Brandt, Conitzer, Endriss, Lang & Procaccia (eds.), "Handbook of Computational Social Choice",
Cambridge University Press 2016): plurality, Borda, Copeland, the Condorcet winner, Kemeny's rule, and the
maximal lottery (Kreweras 1965; Fishburn 1984, "Probabilistic social choice based on simple voting
comparisons"; Brandl, Brandt & Seedig 2016): the mixed strategy that is an equilibrium of the symmetric
zero-sum game whose payoff is the majority margin M[a, b] = #(a ≻ b) − #(b ≻ a). It is computed with
accord's own game solvers (`accord.games.matrix.solve_lp` exactly; `accord.games.solvers` iteratively).
Welfare rules on cardinal scores: utilitarian (weighted mean), Rawlsian (the worst-off party), Nash welfare
(weighted sum of log scores).

A profile is a matrix of scores, one row per party (voter or voter group), one column per candidate, with a
weight per row (a count, or seats). A strict ranking becomes scores m−1, m−2, ..., 0; equal scores are
indifference. Ordinal rules read only the order of each row: a tie between two candidates counts ½ for
each in pairwise comparisons and Borda, and a party's plurality weight is split among its tied favourites.
Every rule returns one winner; ties between candidates go to the lower index (the order given).

    from accord.games.social_choice import from_rankings, borda, condorcet_winner, maximal_lottery
    profile = from_rankings(["a", "b", "c"], [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]])
    condorcet_winner(profile)      # None: a cycle
    maximal_lottery(profile)       # (1/3, 1/3, 1/3)

Command line: `accord games vote profile.json --json` (format in docs/games.md).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from accord.errors import AccordError

KEMENY_MAX = 8
"""Kemeny's rule enumerates all m! orders; refuse more candidates than this."""


@dataclass(frozen=True)
class Profile:
    """Parties' scores over candidates."""

    candidates: list[str]
    """Candidate names, in the order that breaks ties."""
    scores: np.ndarray
    """scores[p, c]: party p's score (or utility) of candidate c; only the order matters to ordinal rules."""
    weights: np.ndarray
    """weights[p] ≥ 0: how many voters (or seats) party p stands for."""


def from_scores(candidates, scores, weights=None) -> Profile:
    """A profile from a parties x candidates score matrix (and optional non-negative weights)."""
    candidates = [str(c) for c in candidates]
    if not candidates or len(set(candidates)) != len(candidates):
        raise AccordError("candidates must be a non-empty list of distinct names")
    try:
        S = np.asarray(scores, dtype=float)
        w = np.ones(S.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        raise AccordError("scores and weights must be numeric") from None
    if S.ndim != 2 or S.shape[0] == 0 or S.shape[1] != len(candidates):
        raise AccordError(f"scores must be a parties x candidates matrix with {len(candidates)} columns, "
                          f"got shape {S.shape}")
    if w.shape != (S.shape[0],):
        raise AccordError(f"expected {S.shape[0]} weights, got shape {w.shape}")
    if not np.all(np.isfinite(S)) or not np.all(np.isfinite(w)) or w.min() < 0 or w.sum() <= 0:
        raise AccordError("scores must be finite and weights non-negative with a positive total")
    return Profile(candidates, S, w)


def from_rankings(candidates, rankings, counts=None) -> Profile:
    """A profile from strict rankings (each lists every candidate once, best first)."""
    candidates = [str(c) for c in candidates]
    index = {name: i for i, name in enumerate(candidates)}
    rows = []
    for ranking in rankings:
        ranking = [str(name) for name in ranking]
        if sorted(ranking) != sorted(candidates):
            raise AccordError(f"ranking {ranking} must list each of the candidates {candidates} exactly once")
        row = np.zeros(len(candidates))
        for position, name in enumerate(ranking):
            row[index[name]] = len(candidates) - 1 - position
        rows.append(row)
    if not rows:
        raise AccordError("the profile has no ballots")
    return from_scores(candidates, np.array(rows), counts)


def _argmax(values: np.ndarray) -> int:
    """The first index of the largest value (ties to the lower index), with a tolerance for rounding."""
    return int(np.flatnonzero(values >= np.max(values) - 1e-9)[0])


# ---------------------------------------------------------------------------------------------- ordinal rules

def pairwise(profile: Profile) -> np.ndarray:
    """N[a, b]: the weight of parties that prefer a to b (indifferent parties count ½ each way)."""
    S, w = profile.scores, profile.weights
    better = (S[:, :, None] > S[:, None, :]).astype(float)
    equal = (S[:, :, None] == S[:, None, :]).astype(float)
    N = np.einsum("p,pab->ab", w, better + 0.5 * equal)
    np.fill_diagonal(N, 0.0)
    return N


def margins(profile: Profile) -> np.ndarray:
    """The majority margin M[a, b] = N[a, b] − N[b, a] (antisymmetric)."""
    N = pairwise(profile)
    return N - N.T


def plurality(profile: Profile) -> np.ndarray:
    """Plurality scores: each party's weight goes to its favourite (split among tied favourites)."""
    S, w = profile.scores, profile.weights
    top = (S == S.max(axis=1, keepdims=True)).astype(float)
    return (w[:, None] * top / top.sum(axis=1, keepdims=True)).sum(axis=0)


def borda(profile: Profile) -> np.ndarray:
    """Borda scores: each candidate gets, per party, the number of candidates it beats (ties ½)."""
    return pairwise(profile).sum(axis=1)


def copeland(profile: Profile) -> np.ndarray:
    """Copeland scores: pairwise majority wins plus ½ per pairwise majority tie."""
    M = margins(profile)
    wins = (M > 1e-12).sum(axis=1) + 0.5 * ((np.abs(M) <= 1e-12).sum(axis=1) - 1)
    return wins.astype(float)


def condorcet_winner(profile: Profile) -> int | None:
    """The candidate that beats every other by a strict pairwise majority, or None when there is none."""
    M = margins(profile)
    for candidate in range(M.shape[0]):
        if all(M[candidate, other] > 1e-12 for other in range(M.shape[0]) if other != candidate):
            return candidate
    return None


def kemeny(profile: Profile) -> tuple[list[int], float]:
    """Kemeny's rule by enumeration: the order (best first) agreeing with the most pairwise preferences,
    and that agreement Σ_{a above b} N[a, b]. The first such order in lexicographic order wins ties."""
    N = pairwise(profile)
    m = N.shape[0]
    if m > KEMENY_MAX:
        raise AccordError(f"Kemeny's rule enumerates m! orders; at most {KEMENY_MAX} candidates, got {m}")
    best_order, best_score = None, -np.inf
    for order in itertools.permutations(range(m)):
        score = sum(N[order[i], order[j]] for i in range(m) for j in range(i + 1, m))
        if score > best_score + 1e-9:
            best_order, best_score = list(order), float(score)
    return best_order, best_score


def maximal_lottery(profile: Profile, solver: str = "lp", iters: int = 20_000) -> np.ndarray:
    """The maximal lottery: an equilibrium of the symmetric zero-sum game with payoff M (the margins).

    `solver="lp"` solves it exactly (`solve_lp`); any solver of `accord.games.solvers` ("mpo", ...) runs on
    the equivalent preference game P = ½ + M / (2 max|M|) and returns its last iterate. Unique when the
    number of voters is odd and preferences are strict (Laffond, Laslier & Le Breton 1997); otherwise one of
    the equilibria.
    """
    M = margins(profile)
    scale = float(np.max(np.abs(M)))
    if scale <= 1e-12:  # every pair tied: every lottery is maximal; return the uniform one
        return np.full(M.shape[0], 1.0 / M.shape[0])
    if solver == "lp":
        from accord.games.matrix import solve_lp

        return solve_lp(M / scale)[0]
    from accord.games.matrix import preference_game
    from accord.games.solvers import solve

    result = solve(preference_game(0.5 + M / (2.0 * scale), "margins"), solver, iters)
    return result.last[0]


# ----------------------------------------------------------------------------------------------- welfare rules

def utilitarian(profile: Profile) -> np.ndarray:
    """The weighted mean score of each candidate (seat-weighted when the weights are seats)."""
    return profile.weights @ profile.scores / profile.weights.sum()


def rawlsian(profile: Profile) -> np.ndarray:
    """The worst score any party (of positive weight) gives each candidate."""
    return profile.scores[profile.weights > 0].min(axis=0)


def nash_welfare(profile: Profile, floor: float = 0.0) -> np.ndarray:
    """Σ_p w_p log(score − floor) per candidate; −inf where some party scores a candidate at or below `floor`."""
    gains = profile.scores - floor
    with np.errstate(divide="ignore"):
        logs = np.where(gains > 0, np.log(np.where(gains > 0, gains, 1.0)), -np.inf)
    active = profile.weights > 0
    return (profile.weights[active, None] * logs[active]).sum(axis=0)


SCORE_RULES = {"plurality": plurality, "borda": borda, "copeland": copeland, "utilitarian": utilitarian,
               "rawlsian": rawlsian, "nash": nash_welfare}
RULES = tuple(SCORE_RULES) + ("condorcet", "kemeny", "maximal-lottery")


def winner(profile: Profile, rule: str) -> int:
    """One candidate by a named rule. "condorcet" falls back to Copeland when there is no Condorcet winner
    (Copeland always elects it when it exists); "maximal-lottery" returns the lottery's most likely candidate.
    Rawlsian ties go to the higher utilitarian score, then the lower index."""
    if rule in ("rawlsian", "min"):
        worst, mean = rawlsian(profile), utilitarian(profile)
        tied = np.flatnonzero(worst >= worst.max() - 1e-9)
        return int(tied[_argmax(mean[tied])])
    if rule in ("utilitarian", "mean"):
        return _argmax(utilitarian(profile))
    if rule in SCORE_RULES:
        return _argmax(SCORE_RULES[rule](profile))
    if rule == "condorcet":
        found = condorcet_winner(profile)
        return _argmax(copeland(profile)) if found is None else found
    if rule == "kemeny":
        return kemeny(profile)[0][0]
    if rule == "maximal-lottery":
        return _argmax(maximal_lottery(profile))
    raise AccordError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")


def profile_from_json(record: dict) -> Profile:
    """{"candidates": [...], "ballots": [{"ranking": [...], "count"?: n}, ...]} or
    {"candidates": [...], "scores": [[...], ...], "weights"?: [...]}"""
    if not isinstance(record, dict) or "candidates" not in record:
        raise AccordError("a voting profile must be a JSON object with 'candidates'")
    if not isinstance(record["candidates"], list):
        raise AccordError("'candidates' must be a list of names")
    if "ballots" in record:
        ballots = record["ballots"]
        if not isinstance(ballots, list) or not all(isinstance(b, dict) and "ranking" in b for b in ballots):
            raise AccordError("'ballots' must be a list of objects with a 'ranking' (and optional 'count')")
        return from_rankings(record["candidates"], [b["ranking"] for b in ballots],
                             [b.get("count", 1) for b in ballots])
    if "scores" in record:
        return from_scores(record["candidates"], record["scores"], record.get("weights"))
    raise AccordError("a voting profile needs 'ballots' (rankings) or 'scores' (parties x candidates)")


def report(profile: Profile) -> dict:
    """Every rule's winner and scores, the margins, the Condorcet winner, Kemeny's order, the maximal lottery."""
    names = profile.candidates
    out = {"candidates": names, "margins": margins(profile).round(9).tolist()}
    for rule, function in SCORE_RULES.items():
        values = function(profile)
        out[rule] = {"winner": names[winner(profile, rule)],
                     "scores": [None if not np.isfinite(v) else round(float(v), 9) for v in values]}
    found = condorcet_winner(profile)
    out["condorcet_winner"] = None if found is None else names[found]
    if len(names) <= KEMENY_MAX:
        order, agreement = kemeny(profile)
        out["kemeny"] = {"order": [names[i] for i in order], "agreement": agreement}
    lottery = maximal_lottery(profile)
    out["maximal_lottery"] = {name: round(float(p), 9) for name, p in zip(names, lottery)}
    return out
