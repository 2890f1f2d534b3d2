"""PPO self-play and the baselines runner: GAE against its closed form, a run that resumes where it
stopped, the trained policy as a partner, and the baseline table's resuming and intervals."""

import json

import numpy as np
import pytest

pytest.importorskip("overcooked.mdp.overcooked_mdp", reason="the overcooked package is not installed (scripts/setup.sh)")

from accord.agents.baselines import main as baselines_main
from accord.agents.baselines import make_pair, run_baselines
from accord.agents.partners import play_episodes
from accord.agents.ppo import PPOArgs, PPOPolicy, gae, train
from accord.errors import AccordError


def test_gae_matches_discounted_returns_at_lambda_one_and_td_error_at_zero():
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    gamma = 0.9
    returns = np.array([sum(gamma ** (k - t) * rewards[k] for k in range(t, 6)) for t in range(6)])
    assert np.allclose(gae(rewards, values, gamma, 1.0), returns - values)
    next_values = np.vstack([values[1:], np.zeros((1, 2))])
    assert np.allclose(gae(rewards, values, gamma, 0.0), rewards + gamma * next_values - values)


def test_ppo_runs_resumes_and_plays(tmp_path):
    args = PPOArgs(num_envs=1, total_steps=400, epochs=1, minibatches=2, out=str(tmp_path / "ppo"))
    first = train(args)
    assert first == {"env_steps": 400, "iterations": 1, "seconds": pytest.approx(first["seconds"]), "finished": True}
    args.total_steps = 800  # a changed budget is a changed run: refused, not silently mixed
    with pytest.raises(AccordError, match="other settings"):
        train(args)
    args.total_steps = 400
    assert train(args)["iterations"] == 1  # finished: a rerun does nothing more
    log = [json.loads(line) for line in (tmp_path / "ppo" / "results.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in log] == [1] and log[0]["env_steps"] == 400 and log[0]["shaping"] == 1.0
    policy = PPOPolicy(tmp_path / "ppo" / "checkpoint.pt")
    (result,) = play_episodes("cramped_room", policy, PPOPolicy(tmp_path / "ppo" / "checkpoint.pt"), horizon=10)
    assert result["steps"] == 10


def test_baselines_resume_and_summarise(tmp_path):
    rows = run_baselines(tmp_path, ["cramped_room"], ["greedy+greedy"], episodes=2)
    assert len(rows) == 1 and rows[0]["episodes"] == 2 and rows[0]["low"] <= rows[0]["mean_return"] <= rows[0]["high"]
    again = run_baselines(tmp_path, ["cramped_room"], ["greedy+greedy"], episodes=3)  # plays only episode 2
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3 and again[0]["episodes"] == 3
    assert [json.loads(x)["episode"] for x in lines] == [0, 1, 2]
    with pytest.raises(AccordError, match="unknown pair"):
        make_pair("bc+greedy", "cramped_room")
    with pytest.raises(AccordError, match="--ppo takes LAYOUT=CHECKPOINT"):
        baselines_main(["--out", str(tmp_path / "x"), "--ppo", "nolayout"])
