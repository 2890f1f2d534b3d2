"""PPO self-play and the baselines runner: GAE against its closed form, a run that resumes where it
stopped, the trained policy as a partner, and the baseline table's resuming and intervals."""

import json

import numpy as np
import pytest

pytest.importorskip("overcooked.mdp.overcooked_mdp", reason="the overcooked package is not installed (scripts/setup.sh)")

from accord.agents.baselines import run_baselines
from accord.agents.partners import make_partner, play_episodes
from accord.agents.ppo import PPOArgs, PPOPolicy, gae, plot_curves, train
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
    plot_curves({"tiny": tmp_path / "ppo"}, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    policy = PPOPolicy(tmp_path / "ppo" / "checkpoint.pt")
    (result,) = play_episodes("cramped_room", policy, PPOPolicy(tmp_path / "ppo" / "checkpoint.pt"), horizon=10)
    assert result["steps"] == 10


def test_baselines_resume_and_summarise(tmp_path):
    rows = run_baselines(tmp_path, ["cramped_room"], ["greedy+greedy"], episodes=2)
    assert len(rows) == 1 and rows[0]["episodes"] == 2
    assert rows[0]["return_low"] <= rows[0]["return_mean"] <= rows[0]["return_high"]
    again = run_baselines(tmp_path, ["cramped_room"], ["greedy+greedy"], episodes=3)  # plays only episode 2
    lines = (tmp_path / "cramped_room" / "greedy" / "greedy-seat0" / "results.jsonl").read_text().splitlines()
    assert [json.loads(x)["episode"] for x in lines] == [0, 1, 2] and again[0]["episodes"] == 3
    with pytest.raises(AccordError, match="unknown pair"):
        run_baselines(tmp_path, ["cramped_room"], ["bc+greedy"])
    with pytest.raises(AccordError, match="no PPO checkpoint at"):
        run_baselines(tmp_path / "p", ["cramped_room"], ["ppo+ppo"], ppo_dir=tmp_path / "none")


def test_ppo_partner_loads_from_its_folder(tmp_path):
    train(PPOArgs(num_envs=1, total_steps=400, epochs=1, minibatches=2, out=str(tmp_path / "cramped_room")))
    policy = make_partner("ppo", "cramped_room", ppo_dir=tmp_path)
    (result,) = play_episodes("coordination_ring", policy, make_partner("stay"), horizon=5)
    assert result["steps"] == 5


def test_cli_train_and_baselines_commands(tmp_path, capsys):
    from accord.cli import main

    assert main(["agents", "baselines", "--layout", "kitchen", "--out", str(tmp_path)]) == 2
    assert "unknown layout 'kitchen'; known layouts: cramped_room" in capsys.readouterr().err
    assert main(["agents", "train-bc", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "bc")]) == 2
    assert "human data not found" in capsys.readouterr().err
    out = str(tmp_path / "ppo")
    assert main(["agents", "train-ppo", "--total-steps", "400", "--num-envs", "1", "--out", out]) == 0
    assert "cramped_room: 400 env steps" in capsys.readouterr().out
    assert main(["agents", "baselines", "--layout", "cramped_room", "--pair", "ppo+ppo", "--episodes", "1",
                 "--ppo-dir", str(tmp_path), "--out", str(tmp_path / "runs")]) == 2  # looks in <dir>/<layout>
    assert "no PPO checkpoint at" in capsys.readouterr().err
    assert main(["agents", "baselines", "--layout", "cramped_room", "--pair", "greedy+greedy", "--episodes", "1",
                 "--out", str(tmp_path / "runs")]) == 0
    assert "| cramped_room | greedy | greedy | 0 | 1 |" in capsys.readouterr().out
