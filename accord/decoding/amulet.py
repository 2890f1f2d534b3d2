"""Amulet: test-time realignment as an online-learning game, solved per token.

Paper: Zhang et al., "Amulet: ReAlignment During Test Time for Personalized Preference Adaptation of
LLMs", ICLR 2025, arXiv:2502.19148 (released code: github.com/zowiezhang/Amulet).

Per generated token, let  R = log_softmax(z_plain)  (the model without the preference) and
P = log_softmax(z_pref)  (the model with the preference sentence in its prompt). The released code runs
T iterations of a follow-the-regularized-leader update on the next-token log-policy x:

    x_0 = P
    for t = 1..T:
        Q_t = alpha * (x_{t-1} - R)                                   # utility of the current iterate
        y_t = (lam * P + (1/t) * sum_{s<=t} Q_s + x_{t-1} / (eta*t)) / (lam + 1/(eta*t))
        x_t = log_softmax(y_t)
    next-token logits = y_T

(`lam` pulls toward the preference-prompted policy, 1/(eta*t) is the proximal weight toward the last
iterate, alpha scales the utility.)

Exact closed form. Every iterate stays on the line  R + k (P - R)  up to an additive constant (which
log_softmax removes): x_0 has k_0 = 1, and if x_{s} = R + k_s (P - R) + c_s for s < t, then every term of
y_t is of that form, so y_t = R + k_t (P - R) + const with

    S_t = k_0 + ... + k_{t-1}
    k_t = (lam + alpha * S_t / t + k_{t-1} / (eta*t)) / (lam + 1/(eta*t)).

So the whole loop reduces to one scalar k_T (5.6487 at the defaults alpha=2, eta=10, lam=2, T=60), and
Amulet's logits are  R + k_T (P - R): one fused multiply-add per token instead of T vocabulary-sized
soft-maxes. `amulet_logits` (the default) uses it; `amulet_logits_iterative` is the published loop, and
the test suite checks both agree to 1e-5 on random logits over a grid of (alpha, eta, lam, T).

Example:
    >>> import torch
    >>> plain, pref = torch.randn(1, 10), torch.randn(1, 10)
    >>> torch.allclose(torch.log_softmax(amulet_logits(plain, pref), -1),
    ...                torch.log_softmax(amulet_logits_iterative(plain, pref), -1), atol=1e-5)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from accord.errors import AccordError


@dataclass
class AmuletConfig:
    alpha: float = 2.0
    """Scale of the utility alpha * (log pi_t - log pi_plain)."""
    eta: float = 10.0
    """Learning rate of the online update; the proximal weight at iteration t is 1/(eta*t)."""
    lam: float = 2.0
    """Regularization weight toward the preference-prompted policy."""
    iterations: int = 60
    """Number T of online-learning iterations per token."""
    form: str = "closed"
    """"closed" (exact scalar form, default) or "iterative" (the published loop)."""

    def __post_init__(self):
        validate_amulet(self.alpha, self.eta, self.lam, self.iterations)
        if self.form not in ("closed", "iterative"):
            raise AccordError(f"Amulet form must be 'closed' or 'iterative', got {self.form!r}")


def validate_amulet(alpha: float, eta: float, lam: float, iterations: int) -> None:
    if not eta > 0:
        raise AccordError(f"Amulet eta must be > 0, got {eta}")
    if int(iterations) != iterations or iterations <= 0:
        raise AccordError(f"Amulet iterations must be a positive integer, got {iterations}")
    if not lam >= 0:
        raise AccordError(f"Amulet lam must be >= 0, got {lam}")
    if alpha != alpha:
        raise AccordError("Amulet alpha must be a number")


@lru_cache(maxsize=256)
def amulet_coefficient(alpha: float = 2.0, eta: float = 10.0, lam: float = 2.0, iterations: int = 60) -> float:
    """k_T of the closed form: Amulet's log-policy is R + k_T (P - R) up to normalization."""
    validate_amulet(alpha, eta, lam, iterations)
    k_prev, running_sum = 1.0, 0.0
    for t in range(1, int(iterations) + 1):
        running_sum += k_prev
        proximal = 1.0 / (eta * t)
        k_prev = (lam + alpha * running_sum / t + k_prev * proximal) / (lam + proximal)
    if not abs(k_prev) < 1e30:
        raise AccordError(f"Amulet diverges for alpha={alpha}, eta={eta}, lam={lam}, T={iterations} (k_T={k_prev})")
    return k_prev


def _log_policies(plain_logits: torch.Tensor, pref_logits: torch.Tensor):
    dtype = torch.float64 if torch.float64 in (plain_logits.dtype, pref_logits.dtype) else torch.float32
    return torch.log_softmax(plain_logits.to(dtype), dim=-1), torch.log_softmax(pref_logits.to(dtype), dim=-1)


def amulet_logits(plain_logits: torch.Tensor, pref_logits: torch.Tensor, alpha: float = 2.0, eta: float = 10.0,
                  lam: float = 2.0, iterations: int = 60) -> torch.Tensor:
    """Amulet's next-token logits (closed form): R + k_T (P - R), R/P the log-softmax of the inputs.

    Computed in float32 (float64 if an input is float64). Inputs must be finite.
    """
    k = amulet_coefficient(float(alpha), float(eta), float(lam), int(iterations))
    plain_log, pref_log = _log_policies(plain_logits, pref_logits)
    return plain_log + k * (pref_log - plain_log)


def amulet_logits_iterative(plain_logits: torch.Tensor, pref_logits: torch.Tensor, alpha: float = 2.0,
                            eta: float = 10.0, lam: float = 2.0, iterations: int = 60) -> torch.Tensor:
    """Amulet's next-token logits by the published T-step online-learning loop (see module docstring)."""
    validate_amulet(alpha, eta, lam, iterations)
    plain_log, pref_log = _log_policies(plain_logits, pref_logits)
    current = pref_log
    utility_sum = torch.zeros_like(pref_log)
    logits = pref_log
    for t in range(1, int(iterations) + 1):
        utility_sum = utility_sum + alpha * (current - plain_log)
        proximal = 1.0 / (eta * t)
        logits = (lam * pref_log + utility_sum / t + current * proximal) / (lam + proximal)
        current = torch.log_softmax(logits, dim=-1)
    return logits
