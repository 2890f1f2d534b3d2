"""Known-answer tests for accord.games (exact equilibria, closed forms, bad input)."""

import json

import numpy as np
import pytest

from accord.errors import AccordError
from accord.games.matrix import (
    PERTURBED_RPS_EQUILIBRIUM, check_preference, equilibrium, exploitability, load_game, matrix_game,
    perturbed_rps, preference_game, random_matrix_game, random_preference, regularized_gap, rps, solve_lp,
)
from accord.games.solvers import fictitious_play, mirror_descent, mmd, mpo, solve


def test_lp_rps_is_uniform():
    assert np.allclose(equilibrium(rps()), 1 / 3, atol=1e-8)
    assert exploitability(rps(), np.full(3, 1 / 3)) == pytest.approx(0.0, abs=1e-12)
    # a pure policy is beaten for sure: max_y P(y ≻ rock) = 1, gap = 2(1 − ½)
    assert exploitability(rps(), [1.0, 0.0, 0.0]) == pytest.approx(1.0)


def test_lp_perturbed_rps_closed_form():
    assert np.allclose(equilibrium(perturbed_rps()), PERTURBED_RPS_EQUILIBRIUM, atol=1e-8)


def test_lp_general_game_value():
    # matching pennies scaled: value 0, uniform; a 2x2 with known mixed solution
    A = np.array([[3.0, -1.0], [-2.0, 1.0]])  # x = (3/7, 4/7), y = (2/7, 5/7), value 1/7
    x, y, value = solve_lp(A)
    assert np.allclose(x, [3 / 7, 4 / 7]) and np.allclose(y, [2 / 7, 5 / 7]) and value == pytest.approx(1 / 7)


@pytest.mark.parametrize("solver", ["mpo"])
@pytest.mark.parametrize("spec", ["rps", "perturbed-rps", "random:10:0", "random:10:3"])
def test_mpo_last_iterate_converges(spec, solver):
    game = load_game(spec)
    result = mpo(game, 10_000)
    assert result.last_exploitability <= 1e-6
    assert np.allclose(result.last[0], equilibrium(game), atol=1e-4)


def test_mpo_plain_refresh_still_available():
    # anderson=0 is the paper's rule (magnet <- current policy), the default before the accelerated refresh
    game = load_game("perturbed-rps")
    result = mpo(game, 10_000, anderson=0, refresh_every=10)
    assert result.last_exploitability <= 1e-6 and "anderson_drops" not in result.params
    assert np.allclose(result.last[0], PERTURBED_RPS_EQUILIBRIUM, atol=1e-4)


def test_mpo_anderson_reaches_lp_equilibrium_on_random_30():
    # known answer for the accelerated refresh on a game with a partial support: the LP equilibrium
    game = load_game("random:30:5")
    star = equilibrium(game)
    result = mpo(game, 20_000)
    assert result.params["anderson"] == 10
    assert result.last_exploitability < 1e-6
    assert np.abs(result.last[0] - star).sum() < 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_random_games_match_lp(seed):
    game = load_game(f"random:12:{seed}")
    star = equilibrium(game)
    assert exploitability(game, star) < 1e-8
    assert np.abs(mpo(game, 20_000).last[0] - star).sum() < 1e-3
    assert np.abs(mirror_descent(game, 20_000).average[0] - star).sum() < 0.05


def test_general_zero_sum_game():
    game = matrix_game(random_matrix_game(6, 4, seed=2))
    x, y, _ = solve_lp(game.payoff)
    result = mpo(game, 20_000, alpha=0.1)
    assert result.last_exploitability < 1e-5
    assert np.allclose(result.last[0], x, atol=1e-3) and np.allclose(result.last[1], y, atol=1e-3)
    assert fictitious_play(game, 20_000).average_exploitability < 0.05


def test_mmd_fixed_point_is_quantal_response_equilibrium():
    game = preference_game(perturbed_rps())
    alpha, magnet = 0.2, np.array([0.5, 0.3, 0.2])
    pi = mmd(game, 3000, eta=1.0, alpha=alpha, magnet=magnet).last[0]
    # closed-form fixed point: π = softmax(log ρ + Aπ/α), and the regularised duality gap is zero
    logits = np.log(magnet) + game.payoff @ pi / alpha
    assert np.allclose(pi, np.exp(logits) / np.exp(logits).sum(), atol=1e-10)
    assert regularized_gap(game, pi, pi, alpha, magnet) < 1e-10
    # ... and it is not the Nash equilibrium of the unregularised game
    assert exploitability(game, pi) > 1e-2


def test_fictitious_play_rps_average():
    result = fictitious_play(load_game("rps"), 5000)
    assert np.allclose(result.average[0], 1 / 3, atol=0.02)


def test_md_last_iterate_does_not_converge_on_rps():
    result = mirror_descent(load_game("perturbed-rps"), 5000, eta=0.5)
    assert result.last_exploitability > 1e-2 and result.average_exploitability < result.last_exploitability


def test_bad_input():
    with pytest.raises(AccordError, match="square"):
        check_preference(np.full((2, 3), 0.5))
    with pytest.raises(AccordError, match="P \\+ Pᵀ"):
        check_preference([[0.5, 0.9], [0.9, 0.5]])
    with pytest.raises(AccordError, match="NaN"):
        check_preference([[0.5, np.nan], [np.nan, 0.5]])
    with pytest.raises(AccordError, match="step size"):
        mirror_descent(load_game("rps"), 10, eta=0.0)
    with pytest.raises(AccordError, match="step size"):
        mpo(load_game("rps"), 10, eta=-1.0)
    with pytest.raises(AccordError, match="anderson"):
        mpo(load_game("rps"), 10, anderson=-1)
    with pytest.raises(AccordError, match="unknown solver"):
        solve(load_game("rps"), "nope", 10)
    with pytest.raises(AccordError, match="unknown game"):
        load_game("rock")


def test_random_preference_is_valid():
    P = random_preference(50, seed=4)
    assert np.allclose(P + P.T, 1) and check_preference(P) is not None


def test_cli_solve_json(capsys, tmp_path):
    from accord.cli import main

    assert main(["games", "solve", "--game", "perturbed-rps", "--solver", "mpo", "--iters", "5000", "--json",
                 "--lp"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["last_exploitability"] < 1e-6 and out["lp_equilibrium"] is not None
    np.save(tmp_path / "bad.npy", np.array([[0.5, np.nan], [0.5, 0.5]]))
    assert main(["games", "solve", "--game", str(tmp_path / "bad.npy")]) == 2
    assert "NaN" in capsys.readouterr().err
    np.save(tmp_path / "p.npy", rps())
    assert main(["games", "solve", "--game", str(tmp_path / "p.npy"), "--solver", "fp", "--iters", "100"]) == 0


def test_cli_plot(tmp_path):
    from accord.cli import main

    out = tmp_path / "curves.png"
    assert main(["games", "plot", "--game", "rps", "--iters", "300", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000


# ---- the paper preset and the lazy LP reference (issue 13) ---------------------------------------------------

def plain_refresh_mpo(P, iters, eta, alpha, refresh_every):
    """MPO written out independently for a preference game: MMD on A = P - 1/2 from the uniform policy,
    pi <- softmax((log pi + eta*alpha*log rho + eta*A pi) / (1 + eta*alpha)), rho <- pi every K steps."""
    A = P - 0.5
    n = len(P)
    pi, rho = np.full(n, 1.0 / n), np.full(n, 1.0 / n)
    for k in range(1, iters + 1):
        logits = (np.log(pi) + eta * alpha * np.log(rho) + eta * (A @ pi)) / (1.0 + eta * alpha)
        pi = np.exp(logits - logits.max())
        pi /= pi.sum()
        if k % refresh_every == 0:
            rho = pi.copy()
    return pi


@pytest.mark.parametrize("name", ["perturbed-rps", "random:10:3"])
def test_paper_preset_equals_a_plain_refresh_loop(name):
    from accord.games.solvers import PAPER_PRESET, mpo_preset

    game = load_game(name)
    options = mpo_preset("paper")
    assert options["anderson"] == 0 and options["eta"] is not None  # plain refresh, fixed step
    result = mpo(game, 2000, **options)
    expected = plain_refresh_mpo(game.payoff + 0.5, 2000, PAPER_PRESET["eta"], PAPER_PRESET["alpha"],
                                 PAPER_PRESET["refresh_every"])
    assert np.allclose(result.last[0], expected, atol=1e-9)
    assert result.refreshes == 2000 // PAPER_PRESET["refresh_every"]
    # accord's accelerated default is another rule: its early iterates differ (both reach the equilibrium)
    early = plain_refresh_mpo(game.payoff + 0.5, 40, PAPER_PRESET["eta"], PAPER_PRESET["alpha"],
                              PAPER_PRESET["refresh_every"])
    assert np.allclose(mpo(game, 40, **options).last[0], early, atol=1e-12)
    assert not np.allclose(mpo(game, 40).last[0], early, atol=1e-3)


def test_cli_names_the_rule_and_skips_the_lp_unless_asked(capsys, monkeypatch):
    import accord.games.matrix as matrix
    from accord.cli import main

    def no_lp(*args, **kwargs):
        raise AssertionError("the LP reference was computed without --lp")

    monkeypatch.setattr(matrix, "solve_lp", no_lp)
    assert main(["games", "solve", "--game", "random:200", "--iters", "50"]) == 0
    out = capsys.readouterr().out
    assert "mpo (accord: Anderson-accelerated refresh" in out and "exact LP" not in out
    assert main(["games", "solve", "--game", "rps", "--iters", "50", "--preset", "paper", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["solver_label"].startswith("mpo (paper: plain magnet refresh")
    assert record["params"]["anderson"] == 0 and record["params"]["eta"] == 1.0 and record["game_value"] is None
    calls = []
    monkeypatch.setattr(matrix, "solve_lp", lambda A: calls.append(A.shape) or (np.ones(3) / 3, np.ones(3) / 3, 0.0))
    assert main(["games", "solve", "--game", "rps", "--iters", "50", "--lp"]) == 0
    assert calls == [(3, 3)] and "exact LP: game value 0" in capsys.readouterr().out
