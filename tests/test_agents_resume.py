"""Mid-episode resume of Overcooked episodes (accord/agents/checkpoint.py): an episode killed after N steps
and rerun from its last checkpoint gives the same trajectory, return, counters and decision log as an
uninterrupted run. The planner is a scripted model whose answers are a function of the prompt (as greedy
decoding is), so it plays varied skills, fails, explains and re-plans; seconds."""

import hashlib
import json

import numpy as np
import pytest

pytest.importorskip("overcooked.mdp.overcooked_mdp", reason="the overcooked package is not installed (scripts/setup.sh)")

from overcooked.mdp.overcooked_mdp import Recipe  # noqa: E402

from accord.agents.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from accord.agents.episodes import Stopped, checkpoint_path, run_cell  # noqa: E402
from accord.agents.partners import make_partner  # noqa: E402
from accord.agents.proagent import ProAgent, ProAgentConfig  # noqa: E402
from accord.agents.prompts import SKILLS  # noqa: E402
from accord.errors import AccordError  # noqa: E402
from accord.lm.base import Generation  # noqa: E402


def digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


class PromptScriptedLM:
    """A fake model with no state between calls: its answer depends on the prompt only."""

    name, backend = "prompt-scripted", "fake"

    def __init__(self):
        self.calls = 0

    def chat_prompt(self, user, system=None):
        return f"[SYS]{system}[USER]{user}[ASSISTANT]"

    def generate(self, prompts, sampling, on_token=None):
        self.calls += 1
        out = []
        for prompt in prompts:
            skill = SKILLS[digest(prompt) % len(SKILLS)]
            out.append(Generation(f'Analysis: scripted. Intention for Player 1: "{SKILLS[digest(prompt) % 3]}". '
                                  f'Plan for Player 0: "{skill}" Plan for Player 1: "{skill}"'))
        return out

    def choice_logprobs(self, prompts, choices, prefix=""):
        self.calls += 1
        rows = [np.random.default_rng(digest(prefix + p)).dirichlet(np.ones(len(choices))) for p in prompts]
        return np.log(np.asarray(rows))


class Kill(Exception):
    pass


def play(cell, config, partner, seat, episodes, horizon, kill_at=None, checkpoint_every=0, should_stop=None):
    """A fresh agent and partner (as a new process has) playing the cell; the steps seen as (k, t, state)."""
    agent = ProAgent(PromptScriptedLM(), config)
    seen = []

    def on_step(k, t, state):
        seen.append((k, t, json.dumps(state.to_dict(), sort_keys=True, default=str)))
        if kill_at is not None and (k, t) == kill_at:
            raise Kill

    partner = partner() if callable(partner) else make_partner(partner)
    rows = run_cell(cell, config.layout, agent, partner, seat, episodes, horizon=horizon,
                    on_step=on_step, checkpoint_every=checkpoint_every, should_stop=should_stop)
    return rows, seen


def without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def decision_logs(cell, episodes):
    logs = [json.loads((cell / "decisions" / f"ep{k}.json").read_text()) for k in range(episodes)]
    for log in logs:
        for decision in log:
            for plan in decision["plans"]:
                plan.pop("seconds")
    return logs


def untrained_bc():
    """The BC human proxy's policy (sampling, unstuck history) with seeded untrained weights."""
    import torch

    from accord.agents.bc import BCPolicy, make_model

    torch.manual_seed(0)
    return BCPolicy(make_model())


CASES = [
    (ProAgentConfig(layout="cramped_room", planner_mode="choice", explainer="checks"), "greedy", 0),
    (ProAgentConfig(layout="coordination_ring", planner_mode="freetext", belief=True), "random", 1),
    (ProAgentConfig(layout="asymmetric_advantages", planner_mode="choice", belief=True), untrained_bc, 0),
]


@pytest.mark.parametrize("config, partner, seat", CASES)
def test_killed_episode_resumes_to_the_same_trajectory_and_return(tmp_path, monkeypatch, config, partner, seat):
    episodes, horizon = 2, 60
    want_rows, want_steps = play(tmp_path / "whole", config, partner, seat, episodes, horizon)
    assert sum(r["model_calls"] for r in want_rows) > 10  # the scripted planner really plays

    cell = tmp_path / "killed"
    with pytest.raises(Kill):  # killed in episode 1 at step 47: the checkpoint is from an earlier step
        play(cell, config, partner, seat, episodes, horizon, kill_at=(1, 47), checkpoint_every=3)
    saved = load_checkpoint(checkpoint_path(cell, 1), {"horizon": horizon})
    assert 0 < saved["t"] < 47 and saved["policies"][seat]["stats"]["decisions"] >= 3
    monkeypatch.setattr(Recipe, "_configured", False)  # as in a new process: the package's recipes are unset
    rows, resumed_steps = play(cell, config, partner, seat, episodes, horizon, checkpoint_every=3)

    assert resumed_steps[0][:2] == (1, saved["t"] + 1)  # continued, not replayed from the start
    assert resumed_steps == want_steps[horizon + saved["t"]:]  # every later state as in the uninterrupted run
    assert without_seconds(rows) == without_seconds(want_rows)  # returns, soups, calls, re-plans, fallbacks
    assert decision_logs(cell, episodes) == decision_logs(tmp_path / "whole", episodes)
    assert not checkpoint_path(cell, 1).exists()  # removed once the row is stored


def test_stop_saves_the_state_at_once_and_a_rerun_continues(tmp_path):
    config, partner, seat = CASES[0]
    want_rows, want_steps = play(tmp_path / "whole", config, partner, seat, 1, 50)
    cell, budget = tmp_path / "stopped", iter(range(20, -1, -1))  # stop after step 21, no periodic saves
    with pytest.raises(Stopped, match="stopped in episode 0"):
        play(cell, config, partner, seat, 1, 50, should_stop=lambda: next(budget) == 0)
    rows, steps = play(cell, config, partner, seat, 1, 50, checkpoint_every=0)
    assert steps[0][1] == 22 and steps == want_steps[21:]
    assert without_seconds(rows) == without_seconds(want_rows)


def test_a_checkpoint_of_another_episode_or_a_broken_file_is_one_clear_error(tmp_path):
    path = tmp_path / "ep0.pkl"
    save_checkpoint(path, {"layout": "cramped_room", "seed": 0, "horizon": 400})
    assert load_checkpoint(tmp_path / "none.pkl", {"seed": 0}) is None
    assert load_checkpoint(path, {"seed": 0, "horizon": 400})["layout"] == "cramped_room"
    with pytest.raises(AccordError, match="another episode \\(seed differ"):
        load_checkpoint(path, {"seed": 2, "horizon": 400})
    path.write_bytes(b"\x80\x05truncated")
    with pytest.raises(AccordError, match="cannot read the episode checkpoint"):
        load_checkpoint(path, {"seed": 0})


# ---- `accord agents table`: every cell, resumable, then the report ---------------------------------------
def table_cli(monkeypatch, root, *extra):
    from accord.cli import main

    monkeypatch.setattr("accord.lm.load_model", lambda *args, **kwargs: PromptScriptedLM())
    return main(["agents", "table", "--layout", "cramped_room", "--layout", "forced_coordination", "--partner", "greedy",
                 "--partner", "stay", "--episodes", "2", "--horizon", "30", "--planner", "scripted", "--planner-mode",
                 "choice", "--explainer", "checks", "--checkpoint-every", "2", "--out", str(root), *extra])


def test_table_plays_every_cell_and_a_stopped_table_resumes_to_the_same_rows(tmp_path, monkeypatch, capsys):
    from accord.agents.episodes import load_cells

    assert table_cli(monkeypatch, tmp_path / "whole") == 0
    whole = load_cells([tmp_path / "whole"])
    assert len(whole) == 2 * 2 * 2 * 2 and {(r["layout"], r["partner"], r["seat"]) for r in whole} == {
        (layout, partner, seat) for layout in ("cramped_room", "forced_coordination")
        for partner in ("greedy", "stay") for seat in (0, 1)}
    report = (tmp_path / "whole" / "report.md").read_text()
    assert report.count("| proagent-choice-checks-scripted |") == 8
    runs = 0
    while table_cli(monkeypatch, tmp_path / "chunks", "--stop-after-steps", "70") == 3:  # ~70 of the 480 steps per command
        runs += 1
    assert runs == 6 and "rerun the same command to continue the table" in capsys.readouterr().out
    chunks = load_cells([tmp_path / "chunks"])
    assert without_seconds([{**r, "cell": None} for r in chunks]) == without_seconds([{**r, "cell": None} for r in whole])
    assert not list((tmp_path / "chunks").rglob("*.pkl"))


def test_table_bad_partner_is_one_error_line(tmp_path, monkeypatch, capsys):
    from accord.cli import main

    assert main(["agents", "table", "--partner", "alien", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown partner 'alien'" in err and len(err.splitlines()) == 1
