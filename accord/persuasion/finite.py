"""The advisor's learning loop on a finite abstraction, checked against the exact persuasion solver.

Bai, Wang, Zhang et al. (2024), "Efficient Model-agnostic Alignment via Bayesian Persuasion", arXiv
2405.18718, train an Advisor's signalling strategy π(s | ω) by policy gradient on the Receiver's success.
Here ω, the signals and the Receiver's actions are finite, so the optimum is known exactly
(Kamenica & Gentzkow 2011; `accord.games.persuasion.solve_persuasion`) and the learner can be checked
against it.

The scheme is a softmax policy π_θ(s | ω) (the Advisor), trained by gradient ascent (Adam) on the Sender's
expected utility with a KL(π_θ ‖ π_0) penalty to the initial scheme (logged at every step), as the LM loop
does. The expected policy gradient is computed exactly by enumerating (ω, s) instead of sampling (numpy).

The Receiver's response is known: a quantal best response to its posterior μ_s,
q(a | s) ∝ exp(E_{μ_s}[u_R(·, a)] / τ), which tends to K&G's best response as τ → 0.

`through_receiver` says what the Advisor knows about the Receiver:

* True (commitment, K&G): the gradient also flows through the Receiver's Bayesian update, i.e. the Advisor
  anticipates that the Receiver reads its committed scheme. This reaches the LP optimum (best of 3 random
  starts; tests: the prosecutor's 0.6 and random problems).
* False (the LM loop's REINFORCE): the Receiver is part of the environment; its response to each signal
  is held fixed within a step. With aligned interests (the alignment setting: both want the Receiver to be
  right) this too reaches the optimum, full revelation; with misaligned interests it drifts to a babbling
  (pooling) outcome, e.g. the prosecutor gets ≈ 0 instead of 0.6 — cheap talk, not persuasion.

    from accord.games.persuasion import prosecutor
    from accord.persuasion.finite import FiniteConfig, train_scheme
    result = train_scheme(prosecutor(), FiniteConfig())
    result.exact_value            # ≈ 0.6, the LP's value, when the Receiver best-responds exactly
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accord.errors import AccordError
from accord.games.persuasion import PersuasionProblem, scheme_value, solve_persuasion


@dataclass
class FiniteConfig:
    """Settings of the finite learner."""

    steps: int = 2000
    """Gradient steps."""
    learning_rate: float = 0.05
    """Adam's learning rate on the scheme's logits."""
    receiver_temperature: float = 0.002
    """τ of the Receiver's quantal response at the end (utility units); smaller is closer to an exact best
    response."""
    start_temperature: float = 0.2
    """τ at the first step; it falls geometrically to `receiver_temperature` (a smooth start, a sharp end)."""
    kl_coef: float = 0.0
    """Weight of KL(π_θ ‖ π_0), averaged over the prior, in the loss (it is logged either way)."""
    signals: int | None = None
    """Number of signals (default: the number of actions, enough by the revelation principle)."""
    through_receiver: bool = True
    """True: differentiate through the Receiver's posterior (commitment); False: the Receiver is environment."""
    step_decay: float = 0.5
    """The step size falls with the temperature, as (τ_t / τ_0)^step_decay: near the end the Receiver's
    response is a cliff of width ~τ and a fixed step jumps across it."""
    init_scale: float = 0.5
    """Standard deviation of the random initial logits."""
    seed: int = 0
    """Seed of the initial logits (restart k uses seed + k)."""
    restarts: int = 3
    """Independent runs from different random starts; the one with the best training objective is kept
    (the objective is not concave: a single run can stop at a pooling scheme or another local optimum)."""
    log_every: int = 100
    """Record a row of the curve every this many steps."""


@dataclass
class FiniteResult:
    """What a run produced."""

    scheme: np.ndarray
    """The learned π(s | ω), states x signals."""
    value: float
    """The Sender's expected utility against the quantal Receiver (the training objective)."""
    exact_value: float
    """The learned scheme's value against an exact best-responding Receiver (ties to the Sender)."""
    optimal_value: float
    """The LP optimum (accord.games.persuasion)."""
    curve: list[dict] = field(default_factory=list)
    """Rows {step, value, exact_value, kl_to_initial}."""


def receiver_response(problem: PersuasionProblem, scheme: np.ndarray, temperature: float) -> np.ndarray:
    """q(a | s): the Receiver's quantal best response to each signal's posterior, signals x actions."""
    joint = problem.prior[:, None] * scheme                                  # P(ω, s)
    posterior = joint / np.maximum(joint.sum(0, keepdims=True), 1e-300)      # μ_s(ω), one column per signal
    z = posterior.T @ problem.receiver_utility / temperature
    q = np.exp(z - z.max(1, keepdims=True))
    return q / q.sum(1, keepdims=True)


def value_and_gradient(problem: PersuasionProblem, logits: np.ndarray, log_initial: np.ndarray, temperature: float,
                       kl_coef: float, through_receiver: bool) -> tuple[float, float, np.ndarray]:
    """(V, KL, ∇_θ (V − α KL)) for V = Σ_ω μ(ω) Σ_s π_θ(s | ω) Σ_a q(a | s) u_S(ω, a), KL = E_μ KL(π_θ ‖ π_0).

    The gradient is written out (the chain rule through the softmax scheme, the posterior and the Receiver's
    softmax); tests/test_persuasion.py checks it against torch autograd."""
    mu, u_s, u_r = problem.prior, problem.sender_utility, problem.receiver_utility
    log_scheme = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    scheme = np.exp(log_scheme)
    joint = mu[:, None] * scheme
    mass = np.maximum(joint.sum(0), 1e-300)                  # P(s)
    posterior = joint / mass
    q = receiver_response(problem, scheme, temperature)
    direct = u_s @ q.T                                       # G[ω, s] = Σ_a q(a | s) u_S(ω, a)
    value = float(np.sum(joint * direct))
    grad_joint = direct.copy()
    if through_receiver:
        h = joint.T @ u_s                                    # ∂V/∂q[s, a]
        dz = q * (h - np.sum(q * h, axis=1, keepdims=True)) / temperature
        d_post = u_r @ dz.T                                  # ∂V/∂posterior[ω, s]
        grad_joint += (d_post - np.sum(posterior * d_post, axis=0, keepdims=True)) / mass
    grad_scheme = mu[:, None] * grad_joint
    grad = scheme * (grad_scheme - np.sum(scheme * grad_scheme, axis=1, keepdims=True))
    ratio = log_scheme - log_initial
    kl_rows = np.sum(scheme * ratio, axis=1)
    kl = float(mu @ kl_rows)
    grad -= kl_coef * mu[:, None] * scheme * (ratio - kl_rows[:, None])
    return value, kl, grad


def train_scheme(problem: PersuasionProblem, config: FiniteConfig | None = None) -> FiniteResult:
    """Gradient ascent on the Sender's value over softmax schemes (see the module docstring); the best of
    `restarts` runs (seeds seed, seed+1, ...) by the training objective."""
    config = config or FiniteConfig()
    if config.steps < 1 or config.restarts < 1 or not config.learning_rate > 0 or not min(
            config.receiver_temperature, config.start_temperature) > 0:
        raise AccordError("steps, restarts, learning_rate and the receiver temperatures must be positive")
    runs = [_train_once(problem, config, config.seed + k) for k in range(config.restarts)]
    return max(runs, key=lambda run: run.value)


def _train_once(problem: PersuasionProblem, config: FiniteConfig, seed: int) -> FiniteResult:
    n_states, n_actions = problem.sender_utility.shape
    n_signals = config.signals or n_actions
    logits = config.init_scale * np.random.default_rng(seed).standard_normal((n_states, n_signals))
    log_initial = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    first, second = np.zeros_like(logits), np.zeros_like(logits)          # Adam's moments
    beta1, beta2 = 0.9, 0.999
    decay = (config.receiver_temperature / config.start_temperature) ** (1.0 / max(config.steps - 1, 1))
    curve = []
    for step in range(1, config.steps + 1):
        temperature = config.start_temperature * decay ** (step - 1)
        # score + loss: the Sender's value against the Receiver's response, its KL to the start, the gradient
        value, kl, grad = value_and_gradient(problem, logits, log_initial, temperature, config.kl_coef,
                                             config.through_receiver)
        # update: one Adam ascent step
        first = beta1 * first + (1 - beta1) * grad
        second = beta2 * second + (1 - beta2) * grad ** 2
        step_size = config.learning_rate * (temperature / config.start_temperature) ** config.step_decay
        logits = logits + step_size * (first / (1 - beta1 ** step)) / (
            np.sqrt(second / (1 - beta2 ** step)) + 1e-8)
        # log
        if step % config.log_every == 0 or step == config.steps:
            scheme = np.exp(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))
            curve.append({"step": step, "value": value, "exact_value": scheme_value(problem, scheme)[0],
                          "kl_to_initial": kl, "receiver_temperature": temperature})
    scheme = np.exp(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))
    final = value_and_gradient(problem, logits, log_initial, config.receiver_temperature, 0.0, False)[0]
    return FiniteResult(scheme, final, scheme_value(problem, scheme)[0], solve_persuasion(problem).sender_value,
                        curve)
