"""Known-answer tests for accord.games.persuasion, contracts and social_choice (exact solvers)."""

import itertools
import json

import numpy as np
import pytest

from accord.errors import AccordError
from accord.games import contracts, persuasion, social_choice
from accord.games.contracts import best_linear_contract, cheapest_contract, make_instance, optimal_contract
from accord.games.persuasion import make_problem, prosecutor, scheme_value, solve_persuasion
from accord.games.social_choice import (
    borda, condorcet_winner, copeland, from_rankings, from_scores, kemeny, margins, maximal_lottery, plurality,
    winner,
)

# ------------------------------------------------------------------------------------------------- persuasion


def test_prosecutor_convicts_with_probability_0_6():
    problem = prosecutor(0.3)
    solution = solve_persuasion(problem)
    assert solution.sender_value == pytest.approx(0.6, abs=1e-9)
    # K&G's scheme: a guilty defendant always gets "convict"; an innocent one with probability 3/7.
    assert np.allclose(solution.scheme, [[4 / 7, 3 / 7], [0.0, 1.0]], atol=1e-8)
    assert np.allclose(solution.signal_probability, [0.4, 0.6], atol=1e-9)
    assert np.allclose(solution.posteriors[1], [0.5, 0.5], atol=1e-8)  # judge indifferent after "convict"
    assert np.allclose(solution.posteriors[0], [1.0, 0.0], atol=1e-8)  # "acquit" reveals innocence
    assert solution.value_no_information == pytest.approx(0.0)
    assert solution.value_full_information == pytest.approx(0.3)
    assert solution.receiver_value == pytest.approx(0.7)  # 0.4 (right acquittals) + 0.3 (right convictions)


@pytest.mark.parametrize("p", [0.05, 0.2, 0.45])
def test_prosecutor_closed_form_below_half(p):
    assert solve_persuasion(prosecutor(p)).sender_value == pytest.approx(2 * p, abs=1e-9)


def test_limit_prior_already_persuades():
    # Above ½ the judge convicts on the prior: no information is optimal and the value is 1.
    solution = solve_persuasion(prosecutor(0.6))
    assert solution.sender_value == pytest.approx(1.0) and solution.value_no_information == pytest.approx(1.0)


def test_limit_aligned_interests_reveal_everything():
    rng = np.random.default_rng(0)
    for _ in range(5):
        u = rng.uniform(size=(4, 3))
        problem = make_problem(rng.dirichlet(np.ones(4)), u, u)
        solution = solve_persuasion(problem)
        assert solution.sender_value == pytest.approx(solution.value_full_information, abs=1e-9)
        assert solution.sender_value == pytest.approx(np.sum(problem.prior * u.max(axis=1)), abs=1e-9)


def test_limit_opposed_interests_reveal_nothing():
    # Zero-sum with a receiver that matches the state: any information only helps the Receiver.
    u_r = np.eye(3)
    problem = make_problem([0.5, 0.3, 0.2], -u_r, u_r)
    solution = solve_persuasion(problem)
    assert solution.sender_value == pytest.approx(solution.value_no_information, abs=1e-9)
    assert solution.sender_value == pytest.approx(-0.5)


def _concavified_value(problem, prior_1, grid):
    """Independent check for two states: the upper concave envelope of v̂ on a grid, at the prior."""
    beliefs = np.linspace(0.0, 1.0, grid)
    values = []
    for q in beliefs:  # v̂(q) written out: receiver's argmax with sender-favourable ties
        belief = np.array([1 - q, q])
        receiver = belief @ problem.receiver_utility
        sender = belief @ problem.sender_utility
        values.append(max(sender[a] for a in range(len(receiver)) if receiver[a] >= receiver.max() - 1e-12))
    values = np.array(values)
    lo, hi = beliefs <= prior_1, beliefs >= prior_1
    q1, v1 = beliefs[lo][:, None], values[lo][:, None]
    q2, v2 = beliefs[hi][None, :], values[hi][None, :]
    span = np.where(q2 - q1 > 0, q2 - q1, 1.0)
    mix = np.where(q2 - q1 > 0, v1 + (v2 - v1) * (prior_1 - q1) / span, np.maximum(v1, v2))
    return float(mix.max())


@pytest.mark.parametrize("seed", range(8))
def test_two_states_agree_with_concavification(seed):
    rng = np.random.default_rng(seed)
    n_actions = int(rng.integers(2, 5))
    prior_1 = float(rng.uniform(0.1, 0.9))
    problem = make_problem([1 - prior_1, prior_1], rng.uniform(size=(2, n_actions)), rng.uniform(size=(2, n_actions)))
    solution = solve_persuasion(problem)
    envelope = _concavified_value(problem, prior_1, grid=4001)
    assert envelope <= solution.sender_value + 1e-9  # the grid can only miss kinks
    assert solution.sender_value - envelope <= 2e-3
    assert solution.sender_value >= max(solution.value_no_information, solution.value_full_information) - 1e-9
    # the LP's scheme, replayed by the Receiver best-responding to each posterior, earns the LP's value
    assert scheme_value(problem, solution.scheme)[0] == pytest.approx(solution.sender_value, abs=1e-7)
    # Bayes plausibility: posteriors average back to the prior
    used = solution.signal_probability > 1e-12
    assert np.allclose(solution.signal_probability[used] @ solution.posteriors[used], problem.prior)


def test_persuasion_bad_input():
    with pytest.raises(AccordError, match="sum to 1"):
        make_problem([0.5, 0.6], [[0, 1], [0, 1]], [[1, 0], [0, 1]])
    with pytest.raises(AccordError, match="differ in shape"):
        make_problem([0.5, 0.5], [[0, 1], [0, 1]], [[1, 0, 0], [0, 1, 0]])
    with pytest.raises(AccordError, match="lacks receiver_utility"):
        persuasion.problem_from_json({"prior": [1.0], "sender_utility": [[1.0]]})

# -------------------------------------------------------------------------------------------------- contracts


def test_contract_hand_solved_two_actions():
    # shirk (cost 0, fails surely) or work (cost 1, succeeds w.p. 0.8); success is worth 5.
    inst = make_instance([0, 1], [[1, 0], [0.2, 0.8]], [0, 5])
    work = cheapest_contract(inst, 1)
    assert np.allclose(work.payment, [0, 1.25]) and work.expected_payment == pytest.approx(1.0)
    best = optimal_contract(inst)
    assert best.action == 1 and best.principal_utility == pytest.approx(3.0)
    linear = best_linear_contract(inst)
    assert linear.alpha == pytest.approx(0.25) and linear.principal_utility == pytest.approx(3.0)


def test_contract_hand_solved_with_linear_gap():
    # Three outcomes worth 0, 1, 10. Action "low" (cost 0) gives outcome 1 surely; "high" (cost 1) gives
    # outcome 0 or 2 with probability ½ each. The optimum pays nothing on outcome 1 (only "low" produces it)
    # and an expected 1 = the cost (e.g. t = (0, 0, 2)): utility 5 − 1 = 4. Linear: high needs
    # α·5 − 1 ≥ α·1 → α = ¼, utility ¾·5 = 3.75; low at α = 0 gives 1.
    inst = make_instance([0, 1], [[0, 1, 0], [0.5, 0, 0.5]], [0, 1, 10])
    best = optimal_contract(inst)
    assert best.action == 1 and best.payment[1] == pytest.approx(0) and best.expected_payment == pytest.approx(1)
    assert best.principal_utility == pytest.approx(4)
    linear = best_linear_contract(inst)
    assert linear.alpha == pytest.approx(0.25) and linear.principal_utility == pytest.approx(3.75)
    out = contracts.report(inst)
    assert out["gap"] == pytest.approx(0.25) and out["ratio"] == pytest.approx(4 / 3.75)


def test_contract_unimplementable_action():
    # "dominated" costs more than "good" and produces the same outcomes: no contract makes it a best response.
    inst = make_instance([0, 1, 2], [[1, 0], [0, 1], [0, 1]], [0, 3])
    assert not cheapest_contract(inst, 2).feasible
    assert cheapest_contract(inst, 1).feasible


@pytest.mark.parametrize("seed", range(4))
def test_contract_lp_matches_payment_grid(seed):
    rng = np.random.default_rng(seed)
    n, m = 3, 2
    inst = make_instance(rng.uniform(0, 1, n), rng.dirichlet(np.ones(m), n), rng.uniform(0, 4, m))
    step, top = 0.02, 4.0
    grid = np.arange(0.0, top + step / 2, step)
    best_grid = -np.inf
    cheapest_grid = np.full(n, np.inf)
    for t in itertools.product(grid, repeat=m):
        t = np.array(t)
        best_grid = max(best_grid, contracts.principal_utility(inst, t))
        agent = inst.outcomes @ t - inst.costs
        for action in np.flatnonzero(agent >= agent.max() - 1e-12):
            cheapest_grid[action] = min(cheapest_grid[action], inst.outcomes[action] @ t)
    best = optimal_contract(inst)
    # The LP is exact: the grid never beats it, and comes within the grid's resolution when t* lies in range.
    assert best_grid <= best.principal_utility + 1e-9
    if best.payment.max() < top - step:
        assert best.principal_utility - best_grid <= 0.1
    for action in range(n):
        lp = cheapest_contract(inst, action)
        if np.isfinite(cheapest_grid[action]):
            assert lp.feasible and lp.expected_payment <= cheapest_grid[action] + 1e-9
        if lp.feasible and lp.payment.max() < top - 4 * step:
            assert cheapest_grid[action] - lp.expected_payment <= 0.2
    # the best linear contract, by a fine grid over α
    alphas = np.linspace(0, 1, 20001)
    linear_grid = max((1 - a) * inst.outcomes[contracts.agent_response(inst, a * inst.rewards)] @ inst.rewards
                      for a in alphas)
    linear = best_linear_contract(inst)
    assert linear_grid <= linear.principal_utility + 1e-9 and linear.principal_utility - linear_grid <= 1e-3
    assert linear.principal_utility <= best.principal_utility + 1e-9


def test_linear_contract_within_n_of_optimum():
    # Dütting, Roughgarden & Talgam-Cohen (2019): the best linear contract earns at least 1/n of the optimum.
    rng = np.random.default_rng(7)
    for _ in range(30):
        n, m = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        inst = make_instance(np.sort(rng.uniform(0, 1, n)), rng.dirichlet(np.ones(m), n), rng.uniform(0, 5, m))
        optimum, linear = optimal_contract(inst).principal_utility, best_linear_contract(inst).principal_utility
        assert linear <= optimum + 1e-9 and optimum <= n * linear + 1e-9


def test_contract_bad_input():
    with pytest.raises(AccordError, match="probability distribution"):
        make_instance([0, 1], [[1, 0], [0.5, 0.6]], [0, 1])
    with pytest.raises(AccordError, match="shape"):
        make_instance([0, 1], [[1, 0]], [0, 1])

# ---------------------------------------------------------------------------------------------- social choice


def test_condorcet_cycle_has_no_winner_and_uniform_lottery():
    profile = from_rankings("abc", ["abc", "bca", "cab"])
    assert condorcet_winner(profile) is None
    assert np.allclose(margins(profile), [[0, 1, -1], [-1, 0, 1], [1, -1, 0]])
    assert np.allclose(copeland(profile), [1, 1, 1])
    assert np.allclose(maximal_lottery(profile), 1 / 3, atol=1e-8)


def test_borda_and_plurality_disagree():
    # 3 voters a>b>c, 2 voters b>c>a: plurality elects a (3 vs 2), Borda elects b (3·1 + 2·2 = 7 vs 6).
    profile = from_rankings("abc", ["abc", "bca"], [3, 2])
    assert np.allclose(plurality(profile), [3, 2, 0]) and winner(profile, "plurality") == 0
    assert np.allclose(borda(profile), [6, 7, 2]) and winner(profile, "borda") == 1
    # b beats... a 2:3 loses; a is the Condorcet winner (beats b 3:2 and c 3:2); the maximal lottery is pure.
    assert condorcet_winner(profile) == 0
    assert np.allclose(maximal_lottery(profile), [1, 0, 0], atol=1e-8)
    assert kemeny(profile)[0] == [0, 1, 2]


def test_kemeny_by_hand():
    # 4 voters: a>b>c (2), b>c>a (1), c>a>b (1). N[a,b]=3, N[b,c]=3, N[c,a]=2 (tie with a over c).
    profile = from_rankings("abc", ["abc", "bca", "cab"], [2, 1, 1])
    order, agreement = kemeny(profile)
    assert order == [0, 1, 2] and agreement == pytest.approx(3 + 2 + 3)


@pytest.mark.parametrize("seed", range(6))
def test_maximal_lottery_lp_and_game_solver_agree(seed):
    # odd electorate, strict rankings: the maximal lottery is unique
    rng = np.random.default_rng(seed)
    m = 5
    rankings = [list(rng.permutation(m)) for _ in range(15)]
    names = [f"c{i}" for i in range(m)]
    profile = from_rankings(names, [[names[i] for i in r] for r in rankings])
    lp = maximal_lottery(profile)
    mpo = maximal_lottery(profile, solver="mpo", iters=10_000)
    assert np.allclose(lp, mpo, atol=1e-4)
    M = margins(profile)
    assert np.min(lp @ M) >= -1e-9  # no candidate beats the lottery in expectation
    found = condorcet_winner(profile)
    if found is not None:
        assert lp[found] == pytest.approx(1.0)


def test_welfare_rules_from_scores():
    # Two parties with 3 and 1 seats. Utilitarian (seat-weighted) picks x, Rawlsian y, Nash z.
    profile = from_scores(["x", "y", "z"], [[1.0, 0.5, 0.8], [0.1, 0.5, 0.4]], [3, 1])
    assert winner(profile, "utilitarian") == 0       # means 0.775, 0.5, 0.7
    assert winner(profile, "rawlsian") == 1          # minima 0.1, 0.5, 0.4
    assert winner(profile, "nash") == 2              # 3 log .8 + log .4 > 3 log .5 + log .5, 3 log 1 + log .1
    assert social_choice.nash_welfare(profile)[2] == pytest.approx(3 * np.log(0.8) + np.log(0.4))
    tie = from_scores(["x", "y"], [[0.2, 0.2], [0.9, 0.5]])
    assert winner(tie, "rawlsian") == 0  # equal minima: the higher mean wins


def test_social_choice_bad_input():
    with pytest.raises(AccordError, match="exactly once"):
        from_rankings("abc", ["ab"])
    with pytest.raises(AccordError, match="unknown rule"):
        winner(from_rankings("ab", ["ab"]), "approval")
    with pytest.raises(AccordError, match="ballots"):
        social_choice.profile_from_json({"candidates": ["a"]})

# --------------------------------------------------------------------------------------------- command line


def _cli(capsys, tmp_path, command, record):
    from accord.cli import main

    path = tmp_path / "problem.json"
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    code = main(["games", command, str(path), "--json"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_persuade_contract_vote(capsys, tmp_path):
    code, out, _ = _cli(capsys, tmp_path, "persuade", {
        "states": ["innocent", "guilty"], "actions": ["acquit", "convict"], "prior": [0.7, 0.3],
        "sender_utility": [[0, 1], [0, 1]], "receiver_utility": [[1, 0], [0, 1]]})
    record = json.loads(out)
    assert code == 0 and record["sender_value"] == pytest.approx(0.6)
    assert record["scheme"]["innocent"]["convict"] == pytest.approx(3 / 7)
    code, out, _ = _cli(capsys, tmp_path, "contract", {
        "actions": ["low", "high"], "costs": [0, 1], "outcomes": [[0, 1, 0], [0.5, 0, 0.5]], "rewards": [0, 1, 10]})
    record = json.loads(out)
    assert code == 0 and record["optimal"]["action"] == "high" and record["gap"] == pytest.approx(0.25)
    code, out, _ = _cli(capsys, tmp_path, "vote", {
        "candidates": ["a", "b", "c"],
        "ballots": [{"ranking": ["a", "b", "c"], "count": 3}, {"ranking": ["b", "c", "a"], "count": 2}]})
    record = json.loads(out)
    assert code == 0 and record["plurality"]["winner"] == "a" and record["borda"]["winner"] == "b"
    assert record["condorcet_winner"] == "a" and record["maximal_lottery"]["a"] == pytest.approx(1.0)


@pytest.mark.parametrize("command,text,message", [
    ("persuade", "{", "malformed JSON"),
    ("persuade", "", "is empty"),
    ("persuade", '{"prior": [0.5, 0.5], "sender_utility": [[1]], "receiver_utility": [[1]]}', "states x actions"),
    ("contract", '{"costs": [0], "outcomes": [[1]]}', "lacks rewards"),
    ("vote", '{"candidates": ["a", "b"], "ballots": [{"ranking": ["a"]}]}', "exactly once"),
    ("vote", "[1, 2]", "JSON object"),
])
def test_cli_bad_input_is_one_line(capsys, tmp_path, command, text, message):
    code, out, err = _cli(capsys, tmp_path, command, text)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
