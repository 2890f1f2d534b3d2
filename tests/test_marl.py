"""accord.marl: environment rules, reward-model masks and equivariance, credit recovery on synthetic
returns, GAE against a slow reference, PPO resume, the command line."""

import copy
import json

import numpy as np
import pytest
import torch

from accord.marl.credit import CreditAssigner, RewardModelSettings, fixed_credit
from accord.marl.envs import make_env
from accord.marl.envs.alice_bob import AliceBob, DOORS, KEYS, TREASURE, WALL
from accord.marl.reward_model import (KINDS, ReturnDecomposer, RewardModelConfig, causal_padding_mask,
                                      decomposition_loss, sample_coalitions)

RIGHT, LEFT, UP, DOWN = 0, 1, 2, 3   # column+1, column-1, row-1, row+1
STAY_BUMP = UP                       # both start on row 1: moving up hits the border wall


@pytest.fixture(autouse=True)
def one_thread():
    """Small torch models run fastest on one thread; two threads on a busy 2-core box crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def play(env, pairs):
    """Step through (alice, bob) action pairs; returns every step's (paid, done, info)."""
    return [env.step_arrays(list(pair))[1:] for pair in pairs]


# Bob (1,7) -> key 0 at (3,5) in his room while Alice bumps the border above her
BOB_TO_KEY0 = [(UP, LEFT), (UP, LEFT), (UP, DOWN), (UP, DOWN)]
# Alice (1,1) -> (1,2),(2,2),(3,2), her door (4,2), (5,2), key 1 at (5,1); Bob bumps the wall at (3,4)
ALICE_OUT_TO_KEY1 = [(RIGHT, LEFT), (DOWN, LEFT), (DOWN, LEFT), (DOWN, LEFT), (DOWN, LEFT), (LEFT, LEFT)]
# Alice (5,1) -> (7,1) -> (7,7), the treasure; Bob still bumps inside his room
ALICE_TO_TREASURE = [(DOWN, LEFT)] * 2 + [(RIGHT, LEFT)] * 6
# Bob (3,5) -> (3,6) -> his door (4,6), outside the room; Alice bumps the border below the treasure
BOB_OUT = [(DOWN, RIGHT), (DOWN, DOWN)]


def test_alice_bob_doors_open_only_with_their_key():
    env = AliceBob()
    env.reset_arrays(0)
    assert env.grid[DOORS[0]] == WALL and env.grid[DOORS[1]] == WALL
    # Alice walks to her closed door and bumps it twice: she stays in the room
    play(env, [(RIGHT, UP), (DOWN, UP), (DOWN, UP), (DOWN, UP), (DOWN, UP)])
    assert env.positions[0] == [3, 2] and env.team_return == pytest.approx(-0.1 * (2 + 5))
    # Bob picks key 0 (in his room): Alice's door opens, his own stays shut and still blocks him
    env.reset_arrays(0)
    play(env, BOB_TO_KEY0)
    assert env.grid[DOORS[0]] != WALL and env.grid[DOORS[1]] == WALL and not env.key_on_floor[0]
    assert env.events[1] == 2
    play(env, [(UP, RIGHT), (UP, DOWN)])
    assert env.positions[1] == [3, 6] and env.events[1] == -1             # bumped his closed door
    play(env, [(RIGHT, UP), (DOWN, UP), (DOWN, UP), (DOWN, UP)])
    assert env.positions[0] == [4, 2]                                     # Alice through her open door


def test_alice_bob_treasure_pays_only_when_both_out():
    env = AliceBob()
    env.reset_arrays(0)
    play(env, BOB_TO_KEY0 + ALICE_OUT_TO_KEY1)
    assert env.grid[DOORS[1]] != WALL and tuple(env.positions[0]) == KEYS[1] and env.events[0] == 3
    steps = play(env, ALICE_TO_TREASURE)
    assert tuple(env.positions[0]) == TREASURE and env.positions[1] == [3, 5]
    assert all(paid == 0.0 and not done for paid, done, _ in steps)     # Bob still in his room: nothing
    (paid1, done1, _), (paid2, done2, info) = play(env, BOB_OUT)
    assert not done1 and done2 and info["success"] and info["terminated"]
    bumps = 4 + 6 + 8 + 2
    assert info["team_return"] == pytest.approx(100 - 0.1 * bumps) and paid2 == pytest.approx(info["team_return"])
    assert info["length"] == 20 and env.events[0] == 7


def test_alice_bob_reward_only_at_the_end_and_sum_is_team_return():
    env = AliceBob()
    env.reset_arrays(0)
    paid = [env.step_arrays([STAY_BUMP, STAY_BUMP])[1] for _ in range(40)]
    assert paid[:-1] == [0.0] * 39 and paid[-1] == pytest.approx(-0.1 * 2 * 40)
    with pytest.raises(RuntimeError):
        env.step_arrays([0, 0])
    dense = AliceBob(delayed=False)
    dense.reset_arrays(0)
    assert dense.step_arrays([STAY_BUMP, LEFT])[1] == pytest.approx(-0.1)


def test_alice_bob_observation_layout():
    env = AliceBob()
    obs = env.reset_arrays(0)
    assert obs.shape == (2, 19)
    alice = obs[0]
    assert alice[4] == 5 and alice[0] == WALL                           # patch centre is Alice herself
    assert list(alice[9:11]) == [1, 1] and list(alice[11:13]) == [0, -6]
    assert list(alice[13:15]) == [1 - 3, 1 - 5] and alice[17] == 1 and alice[18] == 0


@pytest.mark.parametrize("name", ["alice-bob", "mpe-spread"])
def test_episodes_replay_from_seed(name):
    def run(seed):
        env, rng = make_env(name), np.random.default_rng(seed)
        rows = [env.reset_arrays(seed)]
        done = False
        while not done:
            obs, paid, done, info = env.step_arrays(rng.integers(0, env.n_actions, env.n_agents))
            rows.append(obs)
        return np.stack(rows), info["team_return"]

    a, b, c = run(3), run(3), run(4)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    if name == "mpe-spread":
        assert not np.array_equal(a[0][0], c[0][0])


def test_mpe_spread_reward_and_observation_known_case():
    env = make_env("mpe-spread")
    env.reset_arrays(0)
    env.position = np.array([[0.0, 0.0], [0.2, 0.0], [2.0, 2.0]])
    env.velocity = np.zeros((3, 2))
    env.landmarks = np.array([[0.0, 1.0], [2.0, 2.0], [-1.0, 0.0]])
    # landmark distances to the closest agent: 1, 0, 1; agents 0 and 1 overlap (0.2 < 0.3): 2 ordered pairs
    assert env.team_reward() == pytest.approx(-2.0 - 2.0)
    obs = env._observe()
    assert obs.shape == (3, 14)
    assert np.allclose(obs[0][4:6], [0.0, 1.0]) and np.allclose(obs[0][6:8], [-1.0, 0.0])   # nearest first
    assert np.allclose(obs[0][10:12], [0.2, 0.0])
    # the overlapping pair is pushed apart; a lone agent under action +x moves by dt^2 * 5
    env.step_arrays([0, 0, 2])
    assert env.position[0, 0] < 0 and env.position[1, 0] > 0.2
    assert np.allclose(env.position[2], [2.0 + 0.05, 2.0])


def test_parallel_api_checks():
    pytest.importorskip("pettingzoo", reason="pettingzoo (optional test dependency) not installed")
    from pettingzoo.test import parallel_api_test

    for name in ("alice-bob", "mpe-spread"):
        parallel_api_test(make_env(name), num_cycles=60)


def tiny(kind, **kw):
    config = RewardModelConfig(kind=kind, emb_dim=16, n_heads=2, n_layers=2, n_coalitions=3, dropout=0.0, **kw)
    torch.manual_seed(0)
    return ReturnDecomposer(config, obs_dim=5, n_actions=3, n_agents=3, max_steps=7).eval()


def batch(seed=0, B=4, N=3, T=7):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, N, T, 5, generator=g), torch.randint(0, 3, (B, N, T), generator=g), \
        torch.tensor([7, 5, 1, 3])[:B]


def test_causal_padding_mask():
    allowed = causal_padding_mask(torch.tensor([3, 1]), 4)
    assert allowed[0].tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    assert allowed[1].sum() == 1 and allowed[1, 0, 0]


def test_coalitions_always_hold_the_agent_itself():
    masks = sample_coalitions(200, 4, torch.Generator().manual_seed(0))
    assert masks.diagonal(dim1=1, dim2=2).all()
    off = masks[:, ~torch.eye(4, dtype=torch.bool)].float().mean()
    assert 0.4 < off < 0.6                                              # others kept with probability 1/2


@pytest.mark.parametrize("kind", KINDS)
def test_causal_and_padding_masks_hold_in_the_model(kind):
    model = tiny(kind)
    obs, actions, lengths = batch()
    masks = sample_coalitions(3, 3, torch.Generator().manual_seed(1))
    ids = torch.arange(3)
    base = model(obs, actions, lengths, masks, ids)
    assert (base[1, :, 5:] == 0).all() and (base[2, :, 1:] == 0).all()  # zero after each episode's end
    later = obs.clone()
    later[:, :, 4:] += 3.0                                              # change steps 4.. of every agent
    changed = model(later, actions, lengths, masks, ids)
    assert torch.allclose(changed[:, :, :4], base[:, :, :4], atol=1e-5)  # earlier steps see no future
    assert not torch.allclose(changed[0, :, 4:], base[0, :, 4:])
    padded = obs.clone()
    padded[1, :, 5:] = 100.0                                            # padding of episode 1
    assert torch.allclose(model(padded, actions, lengths, masks, ids), base, atol=1e-5)


@pytest.mark.parametrize("kind", ["stas", "stas-ml"])
def test_singleton_coalitions_isolate_agents(kind):
    model = tiny(kind)
    obs, actions, lengths = batch()
    alone = torch.eye(3, dtype=torch.bool).repeat(3, 1, 1)
    ids = torch.arange(3)
    other = obs.clone()
    other[:, 2] += 5.0                                                  # change only agent 2
    a, b = model(obs, actions, lengths, alone, ids), model(other, actions, lengths, alone, ids)
    assert torch.allclose(a[:, :2], b[:, :2], atol=1e-5) and not torch.allclose(a[:, 2], b[:, 2])
    full = torch.ones(3, 3, 3, dtype=torch.bool)
    a, b = model(obs, actions, lengths, full, ids), model(other, actions, lengths, full, ids)
    assert not torch.allclose(a[:, 0], b[:, 0])                        # a full coalition lets agent 2 in


@pytest.mark.parametrize("kind", KINDS)
def test_agent_permutation_equivariance(kind):
    """Relabel agents by a permutation p (new agent p[i] is old agent i): with the agent-specific
    queries, coalitions and agent ids relabelled alike, each agent's rewards move with it."""
    model = tiny(kind)
    obs, actions, lengths = batch()
    p = torch.tensor([2, 0, 1])
    inverse = torch.argsort(p)
    masks = sample_coalitions(3, 3, torch.Generator().manual_seed(2))
    ids = torch.tensor([1, 2, 0])
    base = model(obs, actions, lengths, masks, ids)
    relabelled = copy.deepcopy(model)
    with torch.no_grad():
        for layer in relabelled.across_agents:
            if layer.coalitions:
                layer.query_weight.copy_(layer.query_weight[inverse])
                layer.query_bias.copy_(layer.query_bias[inverse])
    new_masks = masks[:, inverse][:, :, inverse]
    out = relabelled(obs[:, inverse], actions[:, inverse], lengths, new_masks, ids[inverse])
    assert torch.allclose(out, base[:, inverse], atol=1e-5)


def test_paper_and_standard_blocks_differ():
    obs, actions, lengths = batch()
    ids, masks = torch.arange(3), sample_coalitions(3, 3, torch.Generator().manual_seed(0))
    a = tiny("stas")(obs, actions, lengths, masks, ids)
    b = tiny("stas", block="standard")(obs, actions, lengths, masks, ids)
    assert not torch.allclose(a, b)


def synthetic_episodes(n, seed):
    """3 agents, 6 steps; obs = agent one-hot + noise; the true reward of agent i at a step is
    WEIGHT[i] when it plays action 0, else 0; R is their sum."""
    rng = np.random.default_rng(seed)
    N, T = 3, 6
    obs = np.concatenate([np.broadcast_to(np.eye(N)[None, :, None, :], (n, N, T, N)),
                          rng.normal(size=(n, N, T, 2))], axis=-1).astype(np.float32)
    actions = rng.integers(0, 3, (n, N, T))
    true = (actions == 0) * np.array([1.0, 3.0, 0.0])[None, :, None]
    return obs, actions, np.full(n, T), true.sum(axis=(1, 2)).astype(np.float32), true


def test_decomposition_recovers_known_per_agent_credit():
    """Only sum_{i,t} r̂ = R is supervised, so per-agent constant offsets that cancel are not
    identifiable; what is identifiable is how much each agent's action changes its own credit:
    agent 0 earns 1 for action 0, agent 1 earns 3, agent 2 nothing."""
    torch.manual_seed(0)
    settings = RewardModelSettings(kind="stas", emb_dim=32, n_heads=2, n_layers=1, dropout=0.0, agent_id="none",
                                   lr=3e-3, batch_episodes=64, updates_per_iteration=300, min_episodes=0)
    credit = CreditAssigner("stas", settings, obs_dim=5, n_actions=3, n_agents=3, max_steps=6, seed=0)
    obs, actions, lengths, returns, _ = synthetic_episodes(1024, 0)
    credit.observe(obs, actions, lengths, returns)
    credit.train(0)
    obs, actions, lengths, returns, true = synthetic_episodes(128, 1)
    predicted = credit.rewards(obs, actions, lengths, returns)
    assert np.abs(predicted.sum(axis=(1, 2)) - returns).mean() < 0.6     # sums to R (R spans 0..24)
    contrast = [predicted[:, i][actions[:, i] == 0].mean() - predicted[:, i][actions[:, i] != 0].mean()
                for i in range(3)]
    assert abs(contrast[2]) < 0.2 and contrast[0] > 0.4 and contrast[1] > 2 * contrast[0]


def test_fixed_credits_sum_to_the_return():
    lengths, returns = np.array([3, 5]), np.array([6.0, -1.0])
    episodic = fixed_credit("episodic", lengths, returns, 2, 5)
    uniform = fixed_credit("uniform", lengths, returns, 2, 5)
    assert episodic[0, :, 2].tolist() == [6.0, 6.0] and episodic[0].sum() == 12.0
    assert np.allclose(uniform.sum(axis=(1, 2)), returns) and uniform[0, 0, 3] == 0.0


def test_learned_credit_sums_follow_the_loss():
    model = tiny("temporal")
    obs, actions, lengths = batch()
    rewards = model(obs, actions, lengths)
    assert torch.allclose(rewards[:, 0], rewards[:, 1])                 # no agent split: equal shares
    returns = rewards.sum(dim=(1, 2)).detach() + torch.tensor([1.0, -2.0, 0.0, 0.0])
    assert decomposition_loss(rewards, returns).item() == pytest.approx((1 + 4) / 4)


def known_return_episodes(n, seed, N=2, T=8, offset=-40.0):
    """R = offset + sum_{i,t} (obs[i, t, 0] + 2 [action = 0] - [action = 2]): a known function of
    (observation, action) with a large mean, like MPE's returns (about -150)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, N, T, 4)).astype(np.float32)
    actions = rng.integers(0, 3, (n, N, T))
    per_step = obs[..., 0] + 2.0 * (actions == 0) - 1.0 * (actions == 2)
    return obs, actions, np.full(n, T), (offset + per_step.sum(axis=(1, 2))).astype(np.float32)


@pytest.mark.parametrize("kind", ["stas", "temporal"])
def test_cpu_scale_reward_model_fits_a_known_return(kind):
    """The cpu preset's reward model, after the updates it gets before PPO first reads it (warm-up +
    one iteration), explains a known return: R² > 0.9 on its episodes, > 0.75 on fresh ones. The preset
    before the fix (dropout 0.5, lr 5e-4, raw returns, 4 updates per iteration, no warm-up) scored R² -16.8
    on its episodes here, and -4.3 after the 120 updates of a whole run."""
    from dataclasses import replace

    from accord.marl.credit import r_squared
    from accord.marl.presets import make_config

    torch.manual_seed(0)
    settings = replace(make_config("mpe-spread", kind, "cpu").reward_model, min_episodes=0)
    credit = CreditAssigner(kind, settings, obs_dim=4, n_actions=3, n_agents=2, max_steps=8, seed=0)
    seen = known_return_episodes(128, 0)
    credit.observe(*seen)
    credit.train(0)
    assert credit.fit(*seen) > 0.9 and credit.fit(*known_return_episodes(128, 1)) > 0.75
    assert r_squared(seen[3], seen[3]) == 1.0 and r_squared(np.full(128, seen[3].mean()), seen[3]) == 0.0


def test_return_norm_credit_sums_to_the_model_scaled_back():
    """With return_norm the model fits (R - mean) / std; the credit std * r̂ + mean / (N * T) sums to
    std * sum r̂ + mean, is zero after each episode's end, and warm-up updates come only once."""
    settings = RewardModelSettings(kind="temporal", emb_dim=16, n_heads=2, n_layers=1, batch_episodes=16,
                                   updates_per_iteration=2, warmup_updates=5, min_episodes=0, return_norm=True)
    credit = CreditAssigner("temporal", settings, obs_dim=4, n_actions=3, n_agents=2, max_steps=8, seed=0)
    obs, actions, lengths, returns = known_return_episodes(32, 0)
    lengths[:4] = [3, 5, 8, 1]
    credit.observe(obs, actions, lengths, returns)
    credit.train(0)
    steps = lambda: credit.optimizer.state_dict()["state"][0]["step"].item()
    assert steps() == 7 and credit.frozen_mean == pytest.approx(returns.mean())
    credit.train(1)
    assert steps() == 9
    rewards = credit.rewards(obs, actions, lengths, returns)
    raw = credit.frozen(torch.from_numpy(obs), torch.from_numpy(actions), torch.from_numpy(lengths)).detach().numpy()
    assert np.allclose(rewards.sum(axis=(1, 2)), credit.frozen_std * raw.sum(axis=(1, 2)) + returns.mean(),
                       atol=1e-3 * credit.frozen_std)
    assert (rewards[0, :, 3:] == 0).all() and (rewards[3, :, 1:] == 0).all()


def test_gae_matches_a_slow_reference():
    from accord.marl.ppo import gae

    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(3, 2, 5)).astype(np.float32), rng.normal(size=(3, 2, 5)).astype(np.float32)
    lengths = np.array([5, 2, 1])
    gamma, lam = 0.9, 0.8
    advantages, returns = gae(rewards, values, lengths, gamma, lam)
    for b in range(3):
        for i in range(2):
            L = lengths[b]
            for t in range(5):
                if t >= L:
                    assert advantages[b, i, t] == 0 and returns[b, i, t] == 0
                    continue
                expected = 0.0
                for k in range(t, L):                                   # sum of (gamma lam)^k delta_k
                    next_value = values[b, i, k + 1] if k + 1 < L else 0.0
                    delta = rewards[b, i, k] + gamma * next_value - values[b, i, k]
                    expected += (gamma * lam) ** (k - t) * delta
                assert advantages[b, i, t] == pytest.approx(expected, abs=1e-5)
                assert returns[b, i, t] == pytest.approx(expected + values[b, i, t], abs=1e-5)


def tiny_ppo(credit, **kw):
    from accord.marl.ppo import PPOConfig

    settings = RewardModelSettings(emb_dim=16, n_heads=2, n_layers=1, batch_episodes=8, updates_per_iteration=2,
                                   min_episodes=2, capacity=64)
    return PPOConfig(**{**dict(env="alice-bob", credit=credit, total_steps=4 * 160, steps_per_iteration=160,
                               parallel_envs=4, epochs=1, minibatch_size=64, eval_every=1, eval_episodes=4,
                               checkpoint_every=2, reward_model=settings), **kw})


def test_ppo_resumes_after_a_kill_exactly(tmp_path):
    from accord.marl.ppo import train

    whole = train(tiny_ppo("stas"), tmp_path / "whole")

    class Killed(Exception):
        pass

    def kill_at_3(entry):
        if entry["iteration"] == 3:
            raise Killed

    with pytest.raises(Killed):
        train(tiny_ppo("stas"), tmp_path / "cut", log=kill_at_3)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["iteration"] == 2
    resumed = train(tiny_ppo("stas"), tmp_path / "cut")
    lines = [json.loads(line) for line in (tmp_path / "cut" / "curve.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in lines] == [0, 1, 2, 3, 4]                # nothing lost, nothing repeated
    for a, b in zip(whole, resumed):
        assert a["iteration"] == b["iteration"] and a["team_return"] == b["team_return"]
        assert a.get("reward_loss") == pytest.approx(b.get("reward_loss"))


@pytest.mark.parametrize("credit", ["episodic", "uniform", "temporal", "arel", "stas-ml"])
def test_ppo_runs_with_every_credit(credit):
    from accord.marl.ppo import train

    records = train(tiny_ppo(credit, total_steps=2 * 160))
    assert [r["iteration"] for r in records] == [0, 1, 2]
    assert records[-1]["env_steps"] >= 320 and "policy_loss" in records[-1]


def test_cli_train_and_report(tmp_path, capsys):
    from accord.cli import main

    for credit in ("uniform", "episodic"):
        assert main(["marl", "train", "--env", "alice-bob", "--credit", credit, "--scale", "cpu", "--steps", "600",
                     "--eval-episodes", "4", "--eval-every", "1", "--out", str(tmp_path / credit)]) == 0
    settings = json.loads((tmp_path / "uniform" / "run.json").read_text())["settings"]
    assert settings["credit"] == "uniform" and settings["scale"] == "cpu" and settings["reward_model"]["emb_dim"] == 32
    assert main(["marl", "report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| alice-bob | uniform | success |" in out and (tmp_path / "curves.png").stat().st_size > 1000
    assert main(["marl", "report", str(tmp_path / "nothing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    # resuming with other settings is refused with one line
    assert main(["marl", "train", "--env", "alice-bob", "--credit", "uniform", "--scale", "cpu", "--steps", "900",
                 "--out", str(tmp_path / "uniform")]) == 2


def test_report_differences_against_stas():
    """The difference of final means and an interval that holds it; separated groups exclude 0, a group
    against itself straddles it."""
    from accord.marl.report import differences

    def seeds(values):
        return [{"seed": k, "curve": [{"env_steps": 0, "success": 0.0}, {"env_steps": 9, "success": v}]}
                for k, v in enumerate(values)]

    runs = {("alice-bob", "stas"): seeds([0.6, 0.7, 0.8]), ("alice-bob", "episodic"): seeds([0.1, 0.2, 0.3]),
            ("alice-bob", "uniform"): seeds([0.8, 0.6, 0.7])}
    rows = {r["credit"]: r for r in differences(runs)}
    assert set(rows) == {"episodic", "uniform"}
    assert rows["episodic"]["difference"] == pytest.approx(0.5) and rows["episodic"]["low"] > 0
    assert rows["episodic"]["low"] <= 0.5 <= rows["episodic"]["high"]
    assert rows["uniform"]["difference"] == pytest.approx(0.0) and rows["uniform"]["low"] < 0 < rows["uniform"]["high"]
