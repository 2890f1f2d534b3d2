"""Matrix games: validation, known games, exploitability and exact equilibria by linear programming.

A *preference game* (Zhang et al., "Magnetic Preference Optimization", arXiv 2410.16714) is given by a
matrix P with P[i, j] = P(y_i ≻ y_j) and P + Pᵀ = 1. It is the symmetric two-player constant-sum game
where a policy π scores πᵀ P π′ against π′; subtracting ½ gives the zero-sum payoff A = P − ½ (A = −Aᵀ).
A general two-player zero-sum game is a payoff matrix A (any shape) that the row player maximises.

Exploitability here is the duality gap  max_i (A y)_i − min_j (xᵀ A)_j  (zero exactly at a Nash
equilibrium). For a preference game and one policy π it equals 2·(max_y P(y ≻ π) − ½).

    from accord.games.matrix import load_game, exploitability, solve_lp
    game = load_game("random:100")          # or "rps", "perturbed-rps", "random:100:7", "game.npy"
    x, y, value = solve_lp(game.payoff)      # the exact equilibrium (scipy HiGHS)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accord.errors import AccordError

PREFERENCE_TOL = 1e-6
"""How far P + Pᵀ may be from 1 (entrywise) for P to count as a preference matrix."""


@dataclass(frozen=True)
class Game:
    """A two-player zero-sum matrix game."""

    payoff: np.ndarray
    """Row player's payoff A (the row player maximises xᵀ A y); for a preference game A = P − ½."""
    symmetric: bool
    """True for a preference game: both players share one policy and A = −Aᵀ."""
    name: str = "game"
    """A label for logs and plots."""

    @property
    def shape(self) -> tuple[int, int]:
        return self.payoff.shape


def as_matrix(values, what: str = "payoff matrix") -> np.ndarray:
    """A finite 2-D float array, or AccordError naming what is wrong."""
    try:
        matrix = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise AccordError(f"{what} must be numeric") from None
    if matrix.ndim != 2 or matrix.size == 0:
        raise AccordError(f"{what} must be a non-empty 2-D matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        bad = int(np.sum(~np.isfinite(matrix)))
        raise AccordError(f"{what} holds {bad} NaN or infinite entries")
    return matrix


def check_preference(values, tol: float = PREFERENCE_TOL) -> np.ndarray:
    """Validate a preference matrix P (square, entries in [0, 1], P + Pᵀ = 1 within `tol`); returns it."""
    P = as_matrix(values, "preference matrix")
    if P.shape[0] != P.shape[1]:
        raise AccordError(f"preference matrix must be square, got shape {P.shape}")
    if P.min() < -tol or P.max() > 1 + tol:
        raise AccordError(f"preference matrix entries must lie in [0, 1], got range [{P.min():.4g}, {P.max():.4g}]")
    worst = float(np.max(np.abs(P + P.T - 1.0)))
    if worst > tol:
        i, j = np.unravel_index(int(np.argmax(np.abs(P + P.T - 1.0))), P.shape)
        raise AccordError(
            f"not a preference matrix: P + Pᵀ must equal 1, but P[{i},{j}] + P[{j},{i}] = {P[i, j] + P[j, i]:.6g} "
            f"(tolerance {tol:g})"
        )
    return P


def preference_game(P, name: str = "preference") -> Game:
    """The symmetric zero-sum game A = P − ½ of a validated preference matrix."""
    P = check_preference(P)
    A = P - 0.5
    A = 0.5 * (A - A.T)  # exactly antisymmetric
    return Game(A, True, name)


def matrix_game(A, name: str = "matrix") -> Game:
    """A general two-player zero-sum game (row player maximises)."""
    return Game(as_matrix(A), False, name)


def rps() -> np.ndarray:
    """Rock-paper-scissors as a preference matrix; the unique equilibrium is uniform."""
    return np.array([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])


PERTURBED_RPS_EQUILIBRIUM = np.array([2.0, 5.0, 10.0]) / 17.0
"""Closed form equilibrium of `perturbed_rps`: π ∝ (c, b, a) for margins a, b, c = 0.5, 0.25, 0.1."""


def perturbed_rps(a: float = 0.5, b: float = 0.25, c: float = 0.1) -> np.ndarray:
    """RPS with unequal margins (paper beats rock by a, rock beats scissors by b, scissors beats paper by c).

    Solving A π = 0 gives the unique equilibrium π ∝ (c, b, a), here (2, 5, 10)/17.
    """
    A = np.array([[0.0, -a, b], [a, 0.0, -c], [-b, c, 0.0]])
    return 0.5 + A


def random_preference(n: int, seed: int = 0) -> np.ndarray:
    """A random n×n preference matrix: P[i, j] ~ U(0, 1) for i < j, P[j, i] = 1 − P[i, j], diagonal ½."""
    if n < 1:
        raise AccordError(f"game size must be positive, got {n}")
    upper = np.triu(np.random.default_rng(seed).uniform(size=(n, n)), 1)
    lower = np.tril(1.0 - upper.T, -1)
    return upper + lower + 0.5 * np.eye(n)


def random_matrix_game(m: int, n: int, seed: int = 0) -> np.ndarray:
    """A random m×n zero-sum payoff matrix with entries ~ U(−½, ½)."""
    return np.random.default_rng(seed).uniform(-0.5, 0.5, size=(m, n))


def load_game(spec: str) -> Game:
    """`rps`, `perturbed-rps`, `random:N[:SEED]` (preference game), `zerosum:M:N[:SEED]`, or a `.npy` file.

    A .npy matrix that satisfies P + Pᵀ = 1 is read as a preference game, anything else as a general
    zero-sum payoff matrix (row player maximises).
    """
    spec = spec.strip()
    if spec == "rps":
        return preference_game(rps(), "rps")
    if spec in ("perturbed-rps", "prps"):
        return preference_game(perturbed_rps(), "perturbed-rps")
    if spec.startswith("random:") or spec.startswith("zerosum:"):
        kind, *numbers = spec.split(":")
        try:
            values = [int(v) for v in numbers]
        except ValueError:
            raise AccordError(f"bad game spec {spec!r}: expected integers after {kind}:") from None
        if kind == "random" and len(values) in (1, 2) and values[0] > 0:
            seed = values[1] if len(values) == 2 else 0
            return preference_game(random_preference(values[0], seed), f"random{values[0]}")
        if kind == "zerosum" and len(values) in (2, 3) and min(values[:2]) > 0:
            seed = values[2] if len(values) == 3 else 0
            return matrix_game(random_matrix_game(values[0], values[1], seed), f"zerosum{values[0]}x{values[1]}")
        raise AccordError(f"bad game spec {spec!r}: use random:N[:SEED] or zerosum:M:N[:SEED] with N > 0")
    path = Path(spec)
    if path.suffix != ".npy":
        raise AccordError(f"unknown game {spec!r}: use rps, perturbed-rps, random:N, zerosum:M:N or a .npy file")
    try:
        matrix = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise AccordError(f"cannot read {path}: {error}") from None
    matrix = as_matrix(matrix, f"matrix in {path}")
    square = matrix.shape[0] == matrix.shape[1]
    if square and np.max(np.abs(matrix + matrix.T - 1.0)) <= PREFERENCE_TOL:
        return preference_game(matrix, path.stem)
    return matrix_game(matrix, path.stem)


def check_policy(policy, size: int, what: str = "policy") -> np.ndarray:
    """A probability vector of length `size` (non-negative, sums to 1 within 1e-6)."""
    p = np.asarray(policy, dtype=float)
    if p.shape != (size,):
        raise AccordError(f"{what} must have {size} entries, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or abs(p.sum() - 1.0) > 1e-6:
        raise AccordError(f"{what} must be a probability vector (non-negative, summing to 1)")
    return p


def duality_gap(A: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """max_i (A y)_i − min_j (xᵀ A)_j: how much both players together gain by best-responding (≥ 0)."""
    return float(np.max(A @ y) - np.min(x @ A))


def exploitability(game: Game | np.ndarray, x, y=None) -> float:
    """Duality gap of (x, y); for a preference game (or a matrix P) with one policy, y defaults to x.

    Passing a raw matrix means a preference matrix P.
    """
    if not isinstance(game, Game):
        game = preference_game(game)
    m, n = game.shape
    x = check_policy(x, m)
    y = x if y is None else check_policy(y, n, "column policy")
    return duality_gap(game.payoff, x, y)


def solve_lp(A) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact equilibrium (x, y, value) of max_x min_y xᵀ A y by two linear programs (scipy HiGHS)."""
    from scipy.optimize import linprog

    A = as_matrix(A)

    def maximin(M: np.ndarray) -> tuple[np.ndarray, float]:
        m, n = M.shape  # maximise v subject to Mᵀ x ≥ v, Σx = 1, x ≥ 0
        cost = np.zeros(m + 1)
        cost[-1] = -1.0
        a_ub = np.hstack([-M.T, np.ones((n, 1))])
        a_eq = np.hstack([np.ones((1, m)), np.zeros((1, 1))])
        bounds = [(0, None)] * m + [(None, None)]
        result = linprog(cost, A_ub=a_ub, b_ub=np.zeros(n), A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
        if result.status != 0:
            raise AccordError(f"linear program failed: {result.message}")
        x = np.clip(result.x[:m], 0.0, None)
        return x / x.sum(), float(result.x[-1])

    x, value = maximin(A)
    y, _ = maximin(-A.T)
    return x, y, value


def equilibrium(game: Game | np.ndarray) -> np.ndarray:
    """The row player's exact equilibrium policy (for a preference game: the Nash policy)."""
    if not isinstance(game, Game):
        game = preference_game(game)
    return solve_lp(game.payoff)[0]


def _logsumexp(v: np.ndarray) -> float:
    top = float(np.max(v))
    return top + float(np.log(np.sum(np.exp(v - top))))


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(q[mask]))))


def regularized_gap(game: Game, x, y, alpha: float, magnet_x, magnet_y=None) -> float:
    """Duality gap of the α-regularised game  xᵀAy − α·KL(x‖ρx) + α·KL(y‖ρy)  (closed form, ≥ 0).

    It is zero exactly at the quantal response equilibrium that MMD with a fixed magnet converges to.
    """
    if not alpha > 0:
        raise AccordError(f"regularisation alpha must be positive, got {alpha}")
    A = game.payoff
    magnet_y = magnet_x if magnet_y is None else magnet_y
    best_x = alpha * _logsumexp(np.log(magnet_x) + A @ y / alpha)
    best_y = alpha * _logsumexp(np.log(magnet_y) - x @ A / alpha)
    return best_x + best_y + alpha * (_kl(x, magnet_x) + _kl(y, magnet_y))
