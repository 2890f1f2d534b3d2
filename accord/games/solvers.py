"""Iterative solvers for two-player zero-sum matrix games and preference games (numpy, exact gradients).

Each solver is one function returning a `SolverResult` (last and average iterate, an exploitability
curve, wall time):

* `mmd`  Magnetic Mirror Descent with a fixed magnet ρ (Sokota et al. 2022, "A Unified Approach to
  Reinforcement Learning, Quantal Response Equilibria, and Two-Player Zero-Sum Games", arXiv 2206.05825):
      π_{k+1}(y) ∝ [π_k(y) · ρ(y)^{ηα} · exp(η g_k(y))]^{1/(1+ηα)},   g_k = A π_k (= P(y ≻ π_k) − ½);
  its last iterate converges linearly to the α-regularised (quantal response) equilibrium.
* `mpo`  Magnetic Preference Optimization (Zhang et al. 2024, arXiv 2410.16714): MMD whose magnet is
  refreshed every `refresh_every` steps or, with `refresh_tol`, whenever the regularised game is solved
  to that duality gap; the last iterate then approaches the equilibrium of the original game. The refresh
  is Anderson-accelerated by default (`anderson=10`, see `_AndersonMagnet`) with an adaptive step: accord's
  rule, not the paper's. `mpo(game, iters, **mpo_preset("paper"))` is the paper's rule: magnet ← current
  policy every K steps with a fixed step.
* `mirror_descent`  plain entropic mirror descent / multiplicative weights (Freund & Schapire 1999,
  "Adaptive game playing using multiplicative weights"): the average iterate converges, the last cycles.
* `fictitious_play`  (Brown 1951; Robinson 1951): best response to the opponent's empirical average.

For a preference game (`Game.symmetric`) both players share one policy, so one matrix-vector product
per step; general games update row and column players simultaneously.

    from accord.games.matrix import load_game
    from accord.games.solvers import mpo
    result = mpo(load_game("random:100"), iters=50_000)
    print(result.last_exploitability, result.average_exploitability)

Command line: `accord games solve --game rps --solver mpo --iters 10000 --json`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from accord.errors import AccordError
from accord.games.matrix import Game, check_policy, duality_gap, regularized_gap

SOLVERS = ("mpo", "mmd", "md", "fp")
AUTO_ETA_SAFETY = 0.7
"""Fraction of MMD's stability limit 2α/scale² that the adaptive step size uses."""
AUTO_ETA_EVERY = 100
"""How often (iterations) the adaptive step size is re-evaluated at the current policy (plain refresh)."""
ANDERSON_ETA_EVERY = 1000
"""... and with the Anderson-accelerated refresh, whose history each re-evaluation drops."""
ANDERSON_CLIP = 1.0
"""Largest move (in log-probability) of the Anderson magnet away from the plain refresh."""
ANDERSON_MIN_PROB = 1e-4
"""Actions below this probability keep the plain refresh."""
ANDERSON_GUARD = 2.0
"""Drop the Anderson history when the weighted refresh residual exceeds this times its smallest value."""


@dataclass
class SolverResult:
    """What a solver run produced."""

    solver: str
    """Solver name (mpo, mmd, md, fp)."""
    last: tuple[np.ndarray, np.ndarray]
    """Last iterate (row policy, column policy); equal for a preference game."""
    average: tuple[np.ndarray, np.ndarray]
    """Uniform average of all iterates."""
    curve: list[dict] = field(default_factory=list)
    """Rows {iteration, last, average, seconds}: exploitability (duality gap) at logged iterations."""
    seconds: float = 0.0
    """Wall time of the iterations (logging excluded)."""
    refreshes: int = 0
    """How often the magnet was refreshed (MPO)."""
    params: dict = field(default_factory=dict)
    """The step size and other settings used."""

    @property
    def last_exploitability(self) -> float:
        return self.curve[-1]["last"]

    @property
    def average_exploitability(self) -> float:
        return self.curve[-1]["average"]


def log_points(iters: int, per_decade: int = 10) -> set[int]:
    """Iterations at which curves are recorded: ~`per_decade` per factor of 10, plus the last."""
    points = {int(round(v)) for v in np.logspace(0, np.log10(max(iters, 1)), per_decade * 8)}
    return {p for p in points if 1 <= p <= iters} | {iters}


def _check(iters: int, eta: float | None = None, alpha: float | None = None) -> None:
    if not isinstance(iters, (int, np.integer)) or iters < 1:
        raise AccordError(f"iterations must be a positive integer, got {iters!r}")
    if eta is not None and not (np.isfinite(eta) and eta > 0):
        raise AccordError(f"step size eta must be positive and finite, got {eta}")
    if alpha is not None and not (np.isfinite(alpha) and alpha >= 0):
        raise AccordError(f"regularisation alpha must be non-negative and finite, got {alpha}")


_max, _sum = np.maximum.reduce, np.add.reduce  # without ndarray.max/sum's Python wrappers (hot loops)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def local_scale(A: np.ndarray, x: np.ndarray, y: np.ndarray, steps: int = 30) -> float:
    """Spectral norm of diag(√x) A diag(√y) by power iteration: how strongly the game couples the policy's
    log-probabilities near (x, y). MMD's inner iteration is stable when η · scale² < 2α."""
    rx, ry = np.sqrt(x), np.sqrt(y)
    v = np.full(len(y), 1.0 / np.sqrt(len(y)))
    norm = 0.0
    for _ in range(steps):
        w = ry * (A.T @ (rx * (rx * (A @ (ry * v)))))
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            return 0.0
        v = w / norm
    return float(np.sqrt(norm))


def auto_eta(A, x, y, alpha, safety: float = AUTO_ETA_SAFETY) -> float:
    """The adaptive step size rule: η = safety · 2α / scale², capped to [1e-3, 1e3]."""
    scale = local_scale(A, x, y)
    return float(np.clip(safety * 2.0 * alpha / max(scale, 1e-12) ** 2, 1e-3, 1e3))


def _lognormalize(z: np.ndarray) -> np.ndarray:
    top = _max(z)
    return z - (top + np.log(_sum(np.exp(z - top))))


class _AndersonMagnet:
    """Anderson acceleration of MPO's magnet sequence in log-policy space (Walker & Ni 2011, type II).

    The plain refresh is the fixed-point map r ↦ T(r) = log π after K MMD steps from the magnet r; its
    residual is f = T(r) − r. With the last `memory` pairs (r_i, f_i), the new magnet is
    T(r) − (ΔR + ΔF) γ, γ = argmin ‖W (f − ΔF γ)‖ with weights W = √π (the entropy geometry near π).
    Safeguards: the extrapolation moves no log-probability more than ANDERSON_CLIP from the plain
    refresh, leaves actions with probability < ANDERSON_MIN_PROB on the plain refresh, and the memory is
    dropped (this refresh is plain) whenever the weighted residual exceeds ANDERSON_GUARD times the
    smallest one since the last drop.
    """

    def __init__(self, memory: int):
        self.memory, self.drops = memory, 0
        self.d_magnets = self.d_residuals = None  # ring buffers of differences, one column per refresh
        self.reset()

    def reset(self) -> None:
        self.previous, self.count, self.slot, self.best = None, 0, 0, np.inf

    def step(self, magnet: np.ndarray, refreshed: np.ndarray, policy: np.ndarray) -> np.ndarray:
        if self.d_magnets is None:
            self.d_magnets = np.empty((len(magnet), self.memory))
            self.d_residuals = np.empty((len(magnet), self.memory))
        residual = refreshed - magnet
        weights = np.sqrt(policy)
        weighted_residual = weights * residual
        norm = float(np.sqrt(weighted_residual @ weighted_residual))
        if norm > ANDERSON_GUARD * self.best:
            self.reset()
            self.drops += 1
        self.best = min(self.best, norm)
        if self.previous is not None:  # the least-squares fit does not depend on the column order
            self.d_magnets[:, self.slot] = magnet - self.previous[0]
            self.d_residuals[:, self.slot] = residual - self.previous[1]
            self.slot = (self.slot + 1) % self.memory
            self.count = min(self.count + 1, self.memory)
        self.previous = (magnet, residual)
        if self.count == 0:
            return refreshed
        d_res = self.d_residuals[:, :self.count]
        weighted = weights[:, None] * d_res
        gram = weighted.T @ weighted
        gram.flat[::self.count + 1] += 1e-10 * np.trace(gram) + 1e-300
        gamma = np.linalg.solve(gram, weighted.T @ weighted_residual)
        candidate = refreshed - (self.d_magnets[:, :self.count] + d_res) @ gamma
        candidate = np.minimum(np.maximum(candidate, refreshed - ANDERSON_CLIP), refreshed + ANDERSON_CLIP)
        return np.where(policy >= ANDERSON_MIN_PROB, candidate, refreshed)


def _magnetic_loop(game, iters, eta, alpha, magnet, refresh_every, refresh_tol, check_every, name, points,
                   anderson=0, eta_every=AUTO_ETA_EVERY):
    """Shared MMD loop; alpha = 0 is plain mirror descent, refresh_* turn on MPO's magnet refresh.

    eta = None means the adaptive rule `auto_eta`, re-evaluated every `eta_every` steps. anderson > 0
    accelerates the magnet refresh (`_AndersonMagnet` with that memory) and restarts the policy at the
    new magnet.
    """
    A = game.payoff
    m, n = A.shape
    if magnet is None:
        rho_x, rho_y = np.full(m, 1.0 / m), np.full(n, 1.0 / n)
    else:
        rho_x = check_policy(magnet, m, "magnet")
        rho_y = rho_x if game.symmetric else np.full(n, 1.0 / n)
        if np.any(rho_x <= 0):
            raise AccordError("magnet must give every action positive probability")
    points = log_points(iters) if points is None else points
    adaptive = eta is None
    eta = auto_eta(A, rho_x, rho_y, alpha) if adaptive else eta
    etas = [eta]
    shrink = 1.0 / (1.0 + eta * alpha)
    zx, zy = np.log(rho_x), np.log(rho_y)
    log_rho_x, log_rho_y = zx.copy(), zy.copy()  # the magnet, as log-probabilities
    x, y = rho_x.copy(), rho_y.copy()
    bias_x, bias_y = eta * alpha * log_rho_x, eta * alpha * log_rho_y
    sum_x, sum_y = np.zeros(m), np.zeros(n)
    accelerator = _AndersonMagnet(anderson) if anderson else None
    curve, refreshes, elapsed, start = [], 0, 0.0, time.perf_counter()
    symmetric = game.symmetric
    payoff = np.empty(m)
    for k in range(1, iters + 1):
        if adaptive and k % eta_every == 0:  # keep the biases ηα·log ρ consistent with the new η
            eta = auto_eta(A, x, y, alpha)
            shrink = 1.0 / (1.0 + eta * alpha)
            bias_x, bias_y = eta * alpha * log_rho_x, eta * alpha * log_rho_y
            etas.append(eta)
            if accelerator is not None:  # the refresh map changed with η: start a new history
                accelerator.reset()
        if symmetric:  # in place, same arithmetic order as (zx + bias + η·Ax)·shrink: ~2x less overhead
            np.dot(A, x, out=payoff)
            payoff *= eta
            zx += bias_x
            zx += payoff
            zx *= shrink
            zx -= _max(zx)
            x = np.exp(zx)
            x /= _sum(x)
            y = x
            sum_x += x
        else:
            gx, gy = A @ y, -(x @ A)
            zx = (zx + bias_x + eta * gx) * shrink
            zy = (zy + bias_y + eta * gy) * shrink
            x, y = _softmax(zx), _softmax(zy)
            sum_x += x
            sum_y += y
        refresh = refresh_every is not None and k % refresh_every == 0
        if refresh_tol is not None and k % check_every == 0:
            regularized = regularized_gap(game, x, y, alpha, np.exp(log_rho_x), np.exp(log_rho_y))
            refresh = refresh or regularized < refresh_tol * duality_gap(A, x, y)
        if refresh:  # magnet ← current policy (or its Anderson extrapolation), as finite log-probabilities
            new_x = _lognormalize(zx)
            new_y = new_x if symmetric else _lognormalize(zy)
            if accelerator is not None:
                if symmetric:
                    new_x = new_y = _lognormalize(accelerator.step(log_rho_x, new_x, x))
                else:
                    both = accelerator.step(np.concatenate([log_rho_x, log_rho_y]), np.concatenate([new_x, new_y]),
                                            np.concatenate([x, y]))
                    new_x, new_y = _lognormalize(both[:m]), _lognormalize(both[m:])
                zx, zy = new_x.copy(), new_y.copy()  # restart the inner iteration at the new magnet
                x = np.exp(zx)
                y = x if symmetric else np.exp(zy)
            log_rho_x, log_rho_y = new_x, new_y
            bias_x, bias_y = eta * alpha * log_rho_x, eta * alpha * log_rho_y
            refreshes += 1
        if k in points:
            elapsed += time.perf_counter() - start
            ax = sum_x / k
            ay = ax if symmetric else sum_y / k
            curve.append({"iteration": k, "last": duality_gap(A, x, y), "average": duality_gap(A, ax, ay),
                          "seconds": elapsed})
            start = time.perf_counter()
    elapsed += time.perf_counter() - start
    average = (sum_x / iters, sum_x / iters if symmetric else sum_y / iters)
    params = {"eta": "auto" if adaptive else eta, "alpha": alpha, "refresh_every": refresh_every,
              "refresh_tol": refresh_tol}
    if name == "mpo":
        params["anderson"] = anderson
        if accelerator is not None:
            params["anderson_drops"] = accelerator.drops
    if adaptive:
        params.update(eta_first=etas[0], eta_last=etas[-1], eta_min=min(etas), eta_max=max(etas))
    return SolverResult(name, (x, y), average, curve, elapsed, refreshes, params)


def mmd(game: Game, iters: int, eta: float = 1.0, alpha: float = 0.1, magnet=None,
        points: set[int] | None = None) -> SolverResult:
    """Magnetic Mirror Descent with a fixed magnet (uniform by default), Sokota et al. 2022.

    The last iterate converges to the α-regularised equilibrium π = softmax(log ρ + Aπ/α), not to the
    Nash equilibrium of the game itself.
    """
    _check(iters, eta, alpha)
    if alpha == 0:
        raise AccordError("mmd needs alpha > 0 (alpha = 0 is plain mirror descent: use solver md)")
    return _magnetic_loop(game, iters, eta, alpha, magnet, None, None, 1, "mmd", points)


# Defaults found by the search in benchmarks/games.py (see docs/games.md, "Step size and magnet rule").
MPO_ETA = None  # adaptive: auto_eta
MPO_ALPHA = 0.05
MPO_REFRESH_EVERY = 15
MPO_ANDERSON = 10


def mpo(game: Game, iters: int, eta: float | None = MPO_ETA, alpha: float = MPO_ALPHA,
        refresh_every: int | None = MPO_REFRESH_EVERY, refresh_tol: float | None = None, check_every: int = 10,
        anderson: int = MPO_ANDERSON, points: set[int] | None = None) -> SolverResult:
    """Magnetic Preference Optimization, Zhang et al. 2024: MMD plus magnet ← current policy.

    eta=None (default) picks the step size near MMD's stability limit at the current policy (`auto_eta`).
    The magnet is refreshed every `refresh_every` steps and/or, with `refresh_tol`, as soon as the
    regularised duality gap (checked every `check_every` steps) drops below it. With `anderson` = m > 0
    (default 10) the refresh is Anderson-accelerated over the last m magnets (`_AndersonMagnet`) and the
    policy restarts at the new magnet; anderson=0 is the paper's plain refresh magnet ← current policy
    (use it with refresh_every=10, the previous default).
    """
    _check(iters, None if eta is None else eta, alpha)
    if not alpha > 0:
        raise AccordError(f"mpo needs alpha > 0, got {alpha}")
    if refresh_every is None and refresh_tol is None:
        raise AccordError("mpo needs refresh_every or refresh_tol (without either it is mmd)")
    if refresh_every is not None and refresh_every < 1:
        raise AccordError(f"refresh_every must be a positive integer, got {refresh_every}")
    if refresh_tol is not None and not refresh_tol > 0:
        raise AccordError(f"refresh_tol must be positive, got {refresh_tol}")
    if not isinstance(anderson, (int, np.integer)) or anderson < 0:
        raise AccordError(f"anderson (memory) must be a non-negative integer, got {anderson!r}")
    return _magnetic_loop(game, iters, eta, alpha, None, refresh_every, refresh_tol, check_every, "mpo", points,
                          anderson, ANDERSON_ETA_EVERY if anderson else AUTO_ETA_EVERY)


PRESETS = ("accord", "paper")
PAPER_PRESET = {"eta": 1.0, "alpha": 0.1, "refresh_every": 10, "refresh_tol": None, "anderson": 0}
"""The paper's rule (Zhang et al. 2024): a fixed step and magnet <- current policy every K
steps, nothing else. The constants η = 1, α = 0.1, K = 10 are accord's choice (stable on rps, perturbed
rps and random games), not figures from the paper."""
LABELS = {"accord": "mpo (accord: Anderson-accelerated refresh, adaptive step, policy restarts)",
          "paper": "mpo (paper: plain magnet refresh every K steps, fixed step)"}


def mpo_preset(preset: str) -> dict:
    """The mpo options of a preset: {} for accord's defaults (those of `mpo`), PAPER_PRESET for paper."""
    if preset not in PRESETS:
        raise AccordError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return dict(PAPER_PRESET) if preset == "paper" else {}


def solver_label(solver: str, options: dict) -> str:
    """What a run of `solver` with these options is, named honestly ("mpo (accord: ...)")."""
    if solver != "mpo":
        return solver
    if options.get("anderson", MPO_ANDERSON) == 0 and options.get("eta", MPO_ETA) is not None:
        return LABELS["paper"]
    if options.get("anderson", MPO_ANDERSON) == 0:
        return "mpo (plain magnet refresh, accord's adaptive step)"
    return LABELS["accord"]


def mirror_descent(game: Game, iters: int, eta: float = 0.1, points: set[int] | None = None) -> SolverResult:
    """Entropic mirror descent (multiplicative weights / Hedge) with a constant step, simultaneous updates."""
    _check(iters, eta)
    return _magnetic_loop(game, iters, eta, 0.0, None, None, None, 1, "md", points)


def fictitious_play(game: Game, iters: int, points: set[int] | None = None) -> SolverResult:
    """Fictitious play: each player best-responds to the other's empirical average (ties: lowest index).

    The average iterate converges (slowly); the last iterate is a pure best response.
    """
    _check(iters)
    A = game.payoff
    m, n = A.shape
    points = log_points(iters) if points is None else points
    x_avg, y_avg = np.full(m, 1.0 / m), np.full(n, 1.0 / n)
    ay, xa = A @ y_avg, x_avg @ A  # payoff of each row against y_avg, of each column against x_avg
    curve, elapsed, start = [], 0.0, time.perf_counter()
    x = y = None
    for k in range(1, iters + 1):
        i = int(np.argmax(ay))
        j = i if game.symmetric else int(np.argmin(xa))
        step = 1.0 / (k + 1)  # the uniform start counts as the first play
        x_avg *= 1 - step
        x_avg[i] += step
        ay += step * (A[:, j] - ay)
        if game.symmetric:
            y_avg, xa = x_avg, -ay
        else:
            y_avg *= 1 - step
            y_avg[j] += step
            xa += step * (A[i, :] - xa)
        if k in points:
            elapsed += time.perf_counter() - start
            x, y = np.eye(m)[i], np.eye(n)[j]
            curve.append({"iteration": k, "last": duality_gap(A, x, y), "average": duality_gap(A, x_avg, y_avg),
                          "seconds": elapsed})
            start = time.perf_counter()
    elapsed += time.perf_counter() - start
    x, y = np.eye(m)[i], np.eye(n)[j]
    return SolverResult("fp", (x, y), (x_avg.copy(), y_avg.copy()), curve, elapsed, 0, {})


def solve(game: Game, solver: str, iters: int, **options) -> SolverResult:
    """Run a solver by name (mpo, mmd, md, fp); options go to that solver."""
    table = {"mpo": mpo, "mmd": mmd, "md": mirror_descent, "fp": fictitious_play}
    if solver not in table:
        raise AccordError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    return table[solver](game, iters, **options)
