"""Bayesian persuasion with finite states and actions, solved exactly by linear programming.

Kamenica & Gentzkow (2011), "Bayesian Persuasion", American Economic Review 101(6): 2590-2615.

A state ω is drawn from a common prior μ. The Sender commits to a signalling scheme π(s | ω), sees ω,
and sends a signal s; the Receiver forms the posterior μ_s and takes the action that maximises its expected
utility u_R(ω, a) under μ_s. The Sender's utility is u_S(ω, a).

By the revelation principle (K&G, Proposition 1) it is enough to consider schemes whose signals are action
recommendations that the Receiver is willing to obey. With joint variables x[ω, a] = μ(ω) π(a | ω) the
Sender's problem is the linear program

    maximise   Σ_ω Σ_a x[ω, a] u_S(ω, a)
    subject to Σ_a x[ω, a] = μ(ω)                                   for every state ω      (consistency)
               Σ_ω x[ω, a] (u_R(ω, a) − u_R(ω, a′)) ≥ 0           for every pair a ≠ a′  (obedience)
               x ≥ 0.

Ties in the Receiver's choice are broken in the Sender's favour, as K&G assume; the obedience constraints
allow exactly that. The values of no information (the Receiver acts on the prior) and of full information
(the Receiver sees ω) use the same tie-breaking, so  value ≥ max(no information, full information).

    from accord.games.persuasion import PersuasionProblem, solve_persuasion, prosecutor
    solution = solve_persuasion(prosecutor())
    solution.sender_value          # 0.6: the judge convicts with probability 0.6
    solution.scheme                # π(a | ω): rows states (innocent, guilty), columns actions (acquit, convict)

Command line: `accord games persuade problem.json --json` (format in docs/games.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accord.errors import AccordError

TIE_TOL = 1e-9
"""Two expected utilities closer than this count as a tie (broken in the Sender's favour)."""


@dataclass(frozen=True)
class PersuasionProblem:
    """A finite Bayesian persuasion problem."""

    prior: np.ndarray
    """μ(ω): probability of each state (non-negative, sums to 1)."""
    sender_utility: np.ndarray
    """u_S[ω, a]: the Sender's utility when the state is ω and the Receiver takes action a."""
    receiver_utility: np.ndarray
    """u_R[ω, a]: the Receiver's utility, same shape."""
    states: list[str] = field(default_factory=list)
    """State names (default s0, s1, ...)."""
    actions: list[str] = field(default_factory=list)
    """Action names (default a0, a1, ...)."""


@dataclass
class PersuasionSolution:
    """The Sender-optimal scheme and the values it is compared with."""

    scheme: np.ndarray
    """π(a | ω): the probability of recommending action a in state ω (rows sum to 1; a state of prior 0 gets
    the Receiver's full-information action)."""
    sender_value: float
    """The Sender's expected utility under the optimal scheme (the LP optimum)."""
    receiver_value: float
    """The Receiver's expected utility under that scheme when it obeys."""
    signal_probability: np.ndarray
    """P(a): how often each action is recommended."""
    posteriors: np.ndarray
    """μ_a(ω): the posterior after recommendation a, one row per action (NaN rows for P(a) = 0)."""
    value_no_information: float
    """The Sender's utility when the Receiver acts on the prior."""
    value_full_information: float
    """The Sender's utility when the Receiver sees the state."""


def make_problem(prior, sender_utility, receiver_utility, states=None, actions=None) -> PersuasionProblem:
    """Validate shapes and numbers; AccordError names what is wrong."""
    try:
        mu = np.asarray(prior, dtype=float)
        u_s = np.asarray(sender_utility, dtype=float)
        u_r = np.asarray(receiver_utility, dtype=float)
    except (TypeError, ValueError):
        raise AccordError("prior and utilities must be numeric") from None
    if mu.ndim != 1 or mu.size == 0:
        raise AccordError(f"prior must be a non-empty list of probabilities, got shape {mu.shape}")
    if not np.all(np.isfinite(mu)) or mu.min() < 0 or abs(mu.sum() - 1.0) > 1e-6:
        raise AccordError(f"prior must be non-negative and sum to 1, got {mu.tolist()}")
    for name, u in (("sender_utility", u_s), ("receiver_utility", u_r)):
        if u.ndim != 2 or u.shape[0] != mu.size or u.shape[1] == 0:
            raise AccordError(f"{name} must be a states x actions matrix ({mu.size} rows), got shape {u.shape}")
        if not np.all(np.isfinite(u)):
            raise AccordError(f"{name} holds NaN or infinite entries")
    if u_s.shape != u_r.shape:
        raise AccordError(f"sender_utility {u_s.shape} and receiver_utility {u_r.shape} differ in shape")
    n_states, n_actions = u_s.shape
    states = list(states) if states is not None else [f"s{i}" for i in range(n_states)]
    actions = list(actions) if actions is not None else [f"a{i}" for i in range(n_actions)]
    if len(states) != n_states or len(actions) != n_actions:
        raise AccordError(f"expected {n_states} state names and {n_actions} action names, "
                          f"got {len(states)} and {len(actions)}")
    return PersuasionProblem(mu / mu.sum(), u_s, u_r, [str(s) for s in states], [str(a) for a in actions])


def prosecutor(prior_guilty: float = 0.3) -> PersuasionProblem:
    """K&G's motivating example: a prosecutor (Sender) persuades a judge (Receiver) to convict.

    States (innocent, guilty), actions (acquit, convict). The judge gets 1 for the right verdict, the
    prosecutor 1 for a conviction. For prior_guilty p < ½ the optimum convicts with probability 2p.
    """
    return make_problem([1 - prior_guilty, prior_guilty], [[0, 1], [0, 1]], [[1, 0], [0, 1]],
                        ["innocent", "guilty"], ["acquit", "convict"])


def best_response(problem: PersuasionProblem, belief) -> int:
    """The Receiver's best action at a belief over states, ties broken in the Sender's favour."""
    belief = np.asarray(belief, dtype=float)
    receiver = belief @ problem.receiver_utility
    best = np.flatnonzero(receiver >= receiver.max() - TIE_TOL)
    return int(best[np.argmax((belief @ problem.sender_utility)[best])])


def sender_value_at(problem: PersuasionProblem, belief) -> float:
    """v̂(μ): the Sender's expected utility when the Receiver holds belief μ (K&G's value function)."""
    belief = np.asarray(belief, dtype=float)
    return float(belief @ problem.sender_utility[:, best_response(problem, belief)])


def value_no_information(problem: PersuasionProblem) -> float:
    """The Sender's utility when the scheme reveals nothing (the Receiver acts on the prior)."""
    return sender_value_at(problem, problem.prior)


def value_full_information(problem: PersuasionProblem) -> float:
    """The Sender's utility when the scheme reveals the state."""
    total = 0.0
    for state, weight in enumerate(problem.prior):
        if weight > 0:
            total += weight * sender_value_at(problem, np.eye(problem.prior.size)[state])
    return float(total)


def solve_persuasion(problem: PersuasionProblem) -> PersuasionSolution:
    """The Sender-optimal scheme by the obedience LP (scipy HiGHS)."""
    from scipy.optimize import linprog

    mu, u_s, u_r = problem.prior, problem.sender_utility, problem.receiver_utility
    n_states, n_actions = u_s.shape

    # Phase 1: variables x[ω, a] flattened row-major; maximise Σ x u_S, so minimise −u_S.
    cost = -u_s.reshape(-1)
    a_eq = np.zeros((n_states, n_states * n_actions))
    for state in range(n_states):
        a_eq[state, state * n_actions:(state + 1) * n_actions] = 1.0

    # Phase 2: obedience, written as Σ_ω x[ω, a] (u_R(ω, a′) − u_R(ω, a)) ≤ 0 for each a ≠ a′.
    rows = []
    for action in range(n_actions):
        for other in range(n_actions):
            if other == action:
                continue
            row = np.zeros((n_states, n_actions))
            row[:, action] = u_r[:, other] - u_r[:, action]
            rows.append(row.reshape(-1))
    a_ub = np.array(rows) if rows else None
    b_ub = np.zeros(len(rows)) if rows else None

    # Phase 3: solve.
    result = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=mu, bounds=(0, None), method="highs")
    if result.status != 0:
        raise AccordError(f"persuasion linear program failed: {result.message}")
    joint = np.clip(result.x.reshape(n_states, n_actions), 0.0, None)

    # Phase 4: read off the scheme, the signal probabilities and the posteriors.
    scheme = np.zeros_like(joint)
    for state in range(n_states):
        if mu[state] > 0:
            scheme[state] = joint[state] / joint[state].sum()
        else:
            scheme[state, best_response(problem, np.eye(n_states)[state])] = 1.0
    signal_probability = joint.sum(axis=0)
    posteriors = np.full((n_actions, n_states), np.nan)
    used = signal_probability > 1e-12
    posteriors[used] = (joint[:, used] / signal_probability[used]).T
    return PersuasionSolution(
        scheme=scheme,
        sender_value=float(np.sum(joint * u_s)),
        receiver_value=float(np.sum(joint * u_r)),
        signal_probability=signal_probability,
        posteriors=posteriors,
        value_no_information=value_no_information(problem),
        value_full_information=value_full_information(problem),
    )


def scheme_value(problem: PersuasionProblem, scheme) -> tuple[float, float]:
    """(Sender, Receiver) expected utility of any scheme π(s | ω) with finitely many signals, when the Receiver
    best-responds to each signal's posterior (ties in the Sender's favour). Checks a learned scheme."""
    scheme = np.asarray(scheme, dtype=float)
    if scheme.ndim != 2 or scheme.shape[0] != problem.prior.size:
        raise AccordError(f"scheme must be a states x signals matrix, got shape {scheme.shape}")
    joint = problem.prior[:, None] * scheme
    sender = receiver = 0.0
    for signal in range(scheme.shape[1]):
        weight = joint[:, signal].sum()
        if weight <= 0:
            continue
        action = best_response(problem, joint[:, signal] / weight)
        sender += float(joint[:, signal] @ problem.sender_utility[:, action])
        receiver += float(joint[:, signal] @ problem.receiver_utility[:, action])
    return sender, receiver


def problem_from_json(record: dict) -> PersuasionProblem:
    """{"prior": [...], "sender_utility": [[...]], "receiver_utility": [[...]], "states"?: [...], "actions"?: [...]}"""
    if not isinstance(record, dict):
        raise AccordError("a persuasion problem must be a JSON object")
    missing = [key for key in ("prior", "sender_utility", "receiver_utility") if key not in record]
    if missing:
        raise AccordError(f"persuasion problem lacks {', '.join(missing)}")
    return make_problem(record["prior"], record["sender_utility"], record["receiver_utility"],
                        record.get("states"), record.get("actions"))


def solution_to_json(problem: PersuasionProblem, solution: PersuasionSolution) -> dict:
    """A JSON-ready summary (scheme as {state: {action: probability}}, posteriors per recommended action)."""
    scheme = {state: {action: round(float(p), 9) for action, p in zip(problem.actions, row)}
              for state, row in zip(problem.states, solution.scheme)}
    posteriors = {action: {state: round(float(p), 9) for state, p in zip(problem.states, row)}
                  for action, row, prob in zip(problem.actions, solution.posteriors, solution.signal_probability)
                  if prob > 1e-12}
    return {
        "sender_value": solution.sender_value,
        "receiver_value": solution.receiver_value,
        "value_no_information": solution.value_no_information,
        "value_full_information": solution.value_full_information,
        "scheme": scheme,
        "signal_probability": {a: round(float(p), 9) for a, p in zip(problem.actions, solution.signal_probability)},
        "posteriors": posteriors,
    }
