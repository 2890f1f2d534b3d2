"""Hidden-action principal-agent contracts: optimal contracts by linear programming, and linear contracts.

Dütting, Roughgarden & Talgam-Cohen (2019), "Simple versus Optimal Contracts", ACM EC 2019 (arXiv 1808.03713).

The agent chooses one of n actions; action i costs it c_i and draws one of m outcomes from the distribution
F[i, ·]. Outcome j is worth r_j to the principal. The principal sees the outcome, not the action, and commits
to a contract t ∈ ℝ^m_{≥0} (limited liability: payments are never negative). The agent takes an action in
argmax_i  Σ_j F[i, j] t_j − c_i, ties broken in the principal's favour (the paper's convention).

* Cheapest implementation of action i (the paper's MIN-PAY LP):

      minimise   Σ_j F[i, j] t_j
      subject to Σ_j F[i, j] t_j − c_i ≥ Σ_j F[k, j] t_j − c_k   for every k ≠ i   (incentive compatibility)
                 t ≥ 0                                                          (limited liability)

  Infeasible means no contract makes i a best response.
* The principal's optimal contract implements the action with the largest R_i − T_i (R_i = Σ_j F[i, j] r_j,
  T_i the LP value above).
* A linear contract pays the share α ∈ [0, 1] of the outcome's value, t = α r. The agent's utility α R_i − c_i
  is linear in α, so the best α is 0 or one of the points where the agent's best response changes (the
  kinks of the upper envelope); we evaluate all pairwise crossings. The paper shows the optimal contract is at
  most n times better than the best linear one (its Theorem 4.1 bound on the ratio).

    from accord.games.contracts import make_instance, optimal_contract, best_linear_contract
    inst = make_instance(costs=[0, 1], outcomes=[[1, 0], [0.2, 0.8]], rewards=[0, 5])
    optimal_contract(inst).principal_utility       # 3.0: pay 1.25 on success, 0.8·5 − 1
    best_linear_contract(inst).alpha               # 0.25, also 3.0 here (no gap)

Command line: `accord games contract instance.json --json` (format in docs/games.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accord.errors import AccordError

TIE_TOL = 1e-9
"""Agent utilities closer than this count as a tie (broken in the principal's favour)."""


@dataclass(frozen=True)
class ContractInstance:
    """A hidden-action principal-agent problem."""

    costs: np.ndarray
    """c_i: the agent's cost of each action (n)."""
    outcomes: np.ndarray
    """F[i, j]: probability of outcome j under action i (n x m, rows sum to 1)."""
    rewards: np.ndarray
    """r_j: the principal's value of outcome j (m)."""
    actions: list[str] = field(default_factory=list)
    """Action names (default a0, a1, ...)."""


@dataclass
class Implementation:
    """The cheapest contract that makes one action the agent's best response."""

    action: int
    """The action implemented."""
    feasible: bool
    """False when no limited-liability contract makes this action a best response."""
    payment: np.ndarray | None
    """t_j for each outcome (None when infeasible)."""
    expected_payment: float
    """T_i = Σ_j F[i, j] t_j (inf when infeasible)."""
    principal_utility: float
    """R_i − T_i (−inf when infeasible)."""


@dataclass
class LinearContract:
    """The best contract of the form t = α r."""

    alpha: float
    """The share of the outcome's value paid to the agent."""
    action: int
    """The agent's best response to it (ties in the principal's favour)."""
    principal_utility: float
    """(1 − α) R_action."""


def make_instance(costs, outcomes, rewards, actions=None) -> ContractInstance:
    """Validate shapes and numbers; AccordError names what is wrong."""
    try:
        c = np.asarray(costs, dtype=float)
        F = np.asarray(outcomes, dtype=float)
        r = np.asarray(rewards, dtype=float)
    except (TypeError, ValueError):
        raise AccordError("costs, outcomes and rewards must be numeric") from None
    if c.ndim != 1 or c.size == 0:
        raise AccordError(f"costs must be a non-empty list, got shape {c.shape}")
    if r.ndim != 1 or r.size == 0:
        raise AccordError(f"rewards must be a non-empty list, got shape {r.shape}")
    if F.shape != (c.size, r.size):
        raise AccordError(f"outcomes must be an actions x outcomes matrix of shape ({c.size}, {r.size}), "
                          f"got {F.shape}")
    if not all(np.all(np.isfinite(v)) for v in (c, F, r)):
        raise AccordError("costs, outcomes and rewards must be finite")
    if F.min() < 0 or np.max(np.abs(F.sum(axis=1) - 1.0)) > 1e-6:
        raise AccordError("each row of outcomes must be a probability distribution (non-negative, sums to 1)")
    actions = list(actions) if actions is not None else [f"a{i}" for i in range(c.size)]
    if len(actions) != c.size:
        raise AccordError(f"expected {c.size} action names, got {len(actions)}")
    return ContractInstance(c, F / F.sum(axis=1, keepdims=True), r, [str(a) for a in actions])


def agent_response(instance: ContractInstance, payment) -> int:
    """The agent's best action under a contract, ties broken in the principal's favour."""
    t = np.asarray(payment, dtype=float)
    agent = instance.outcomes @ t - instance.costs
    best = np.flatnonzero(agent >= agent.max() - TIE_TOL)
    principal = instance.outcomes @ (instance.rewards - t)
    return int(best[np.argmax(principal[best])])


def principal_utility(instance: ContractInstance, payment) -> float:
    """The principal's expected utility R − T at the agent's best response to `payment`."""
    t = np.asarray(payment, dtype=float)
    action = agent_response(instance, t)
    return float(instance.outcomes[action] @ (instance.rewards - t))


def cheapest_contract(instance: ContractInstance, action: int) -> Implementation:
    """The MIN-PAY linear program for one action (scipy HiGHS)."""
    from scipy.optimize import linprog

    F, c = instance.outcomes, instance.costs
    others = [k for k in range(c.size) if k != action]
    # IC for each k ≠ i, rewritten as (F[k] − F[i]) · t ≤ c_k − c_i.
    a_ub = (F[others] - F[action]) if others else None
    b_ub = (c[others] - c[action]) if others else None
    result = linprog(F[action], A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    if result.status == 2:  # infeasible
        return Implementation(action, False, None, float("inf"), float("-inf"))
    if result.status != 0:
        raise AccordError(f"contract linear program failed for action {action}: {result.message}")
    payment = np.clip(result.x, 0.0, None)
    expected = float(F[action] @ payment)
    return Implementation(action, True, payment, expected, float(F[action] @ instance.rewards) - expected)


def all_implementations(instance: ContractInstance) -> list[Implementation]:
    """The cheapest contract for every action."""
    return [cheapest_contract(instance, action) for action in range(instance.costs.size)]


def optimal_contract(instance: ContractInstance) -> Implementation:
    """The principal's optimal contract: the implementable action with the largest R_i − T_i."""
    options = [option for option in all_implementations(instance) if option.feasible]
    if not options:  # cannot happen: the agent's unconstrained best response at t = 0 is always implementable
        raise AccordError("no action is implementable")
    return max(options, key=lambda option: option.principal_utility)


def best_linear_contract(instance: ContractInstance) -> LinearContract:
    """The best α ∈ [0, 1] for t = α r, over 0 and all points where two actions tie for the agent."""
    R = instance.outcomes @ instance.rewards
    c = instance.costs
    candidates = {0.0}
    for i in range(c.size):
        for k in range(i + 1, c.size):
            if abs(R[i] - R[k]) > 1e-15:
                alpha = (c[i] - c[k]) / (R[i] - R[k])
                if 0.0 <= alpha <= 1.0:
                    candidates.add(float(alpha))
    best = None
    for alpha in sorted(candidates):
        action = agent_response(instance, alpha * instance.rewards)
        value = (1.0 - alpha) * float(R[action])
        if best is None or value > best.principal_utility + 1e-12:
            best = LinearContract(alpha, action, value)
    return best


def instance_from_json(record: dict) -> ContractInstance:
    """{"costs": [...], "outcomes": [[...]], "rewards": [...], "actions"?: [...]}"""
    if not isinstance(record, dict):
        raise AccordError("a contract instance must be a JSON object")
    missing = [key for key in ("costs", "outcomes", "rewards") if key not in record]
    if missing:
        raise AccordError(f"contract instance lacks {', '.join(missing)}")
    return make_instance(record["costs"], record["outcomes"], record["rewards"], record.get("actions"))


def report(instance: ContractInstance) -> dict:
    """Everything the command line prints: per-action cheapest contracts, the optimum, the best linear contract
    and its gap (difference and ratio)."""
    implementations = all_implementations(instance)
    optimum = max((o for o in implementations if o.feasible), key=lambda o: o.principal_utility)
    linear = best_linear_contract(instance)
    ratio = (optimum.principal_utility / linear.principal_utility if linear.principal_utility > 1e-12
             else (1.0 if optimum.principal_utility <= 1e-12 else float("inf")))
    return {
        "actions": [
            {"action": instance.actions[o.action], "implementable": o.feasible,
             "payment": None if o.payment is None else np.round(o.payment, 9).tolist(),
             "expected_payment": o.expected_payment if o.feasible else None,
             "principal_utility": o.principal_utility if o.feasible else None}
            for o in implementations
        ],
        "optimal": {"action": instance.actions[optimum.action], "payment": np.round(optimum.payment, 9).tolist(),
                    "principal_utility": optimum.principal_utility},
        "linear": {"alpha": linear.alpha, "action": instance.actions[linear.action],
                   "principal_utility": linear.principal_utility},
        "gap": optimum.principal_utility - linear.principal_utility,
        "ratio": ratio,
    }
