"""Behaviour cloning: the 2019 state format read into the package's state, the feature vector of a known
state worked out by hand, data errors as one clear line, and a tiny training that must learn a known rule."""

import gzip
import json

import numpy as np
import pytest

pytest.importorskip("overcooked.mdp.overcooked_mdp", reason="the overcooked package is not installed (scripts/setup.sh)")

from accord.agents.bc import BCPolicy, action_index, load_bc_policy, load_human_data, to_package_state, train_bc
from accord.agents.features import feature_size, state_features
from accord.agents.overcooked_env import EAST, INTERACT, NORTH, SOUTH, make_mdp
from accord.errors import AccordError

CRAMPED = "['XXPXX', 'O  2O', 'X1  X', 'XDXSX']"


def state_2019(p0=(1, 2), held0=None, p1=(3, 1), objects=None):
    player0 = {"position": list(p0), "orientation": [0, -1]}
    if held0:
        player0["held_object"] = {"name": held0, "position": list(p0)}
    return {"players": [player0, {"position": list(p1), "orientation": [0, -1]}],
            "objects": objects or {}, "order_list": ["onion"], "pot_explosion": False}


def row(state, joint, layout="cramped_room", grid=CRAMPED):
    return {"layout_name": layout, "layout": grid, "state": repr(state), "joint_action": repr(joint)}


def write_rows(path, rows):
    with gzip.open(path, "wt") as handle:
        for r in rows:
            handle.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def test_actions_and_2019_state_conversion():
    assert [action_index(a) for a in ([0, -1], [0, 1], [1, 0], [-1, 0], [0, 0], "INTERACT")] == [0, 1, 2, 3, 4, 5]
    objects = {"2,0": {"name": "soup", "position": [2, 0], "state": ["onion", 3, 9]},
               "0,2": {"name": "onion", "position": [0, 2]}}
    state = to_package_state(state_2019(held0="dish", objects=objects))
    soup = state.get_object((2, 0))
    assert soup.is_cooking and soup.cook_time_remaining == 11 and len(soup.ingredients) == 3
    assert state.get_object((0, 2)).name == "onion" and state.players[0].held_object.name == "dish"
    filling = to_package_state(state_2019(objects={"2,0": {"name": "soup", "position": [2, 0], "state": ["onion", 1, 0]}}))
    assert filling.get_object((2, 0)).is_idle and len(filling.get_object((2, 0)).ingredients) == 1


def test_features_of_the_cramped_room_start_by_hand():
    mdp = make_mdp("cramped_room")  # pot (2,0); onions (0,1) (4,1); dish (1,3); window (3,3); grid 5 x 4
    f = state_features(mdp, mdp.get_standard_start_state(), 0)  # me (1,2) facing north, mate (3,1)
    s = 5.0
    expected = [1 / s, 2 / s, 1, 0, 0, 0, 0, 0, 0, 1,                # position, facing north, empty hands
                2 / s, -1 / s, 1, 0, 0, 0, 0, 0, 0, 1,               # teammate offset, facing, hands
                -1 / s, -1 / s, 0, 1 / s, 2 / s, 1 / s, -1 / s, 0, 0, 0,  # onion, dish, window, empty counter, soup
                1, 1 / s, -2 / s, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   # the one pot (empty), no second pot
                1, 0, 1, 0]                                          # free cell north, east; dish below; counter west
    assert f.shape == (feature_size(),) and np.allclose(f, expected)


def test_malformed_rows_give_one_clear_error(tmp_path):
    good = row(state_2019(), [[0, 0], "INTERACT"])
    with pytest.raises(AccordError, match=r"bad\.jsonl\.gz:2: malformed Overcooked row \(JSONDecodeError"):
        load_human_data(write_rows(tmp_path / "bad.jsonl.gz", [good, "{not json"]))
    with pytest.raises(AccordError, match=r":1: malformed .*unknown action 'JUMP'"):
        load_human_data(write_rows(tmp_path / "act.jsonl.gz", [row(state_2019(), [[0, 0], "JUMP"])]))
    with pytest.raises(AccordError, match=r":1: malformed .*unknown layout_name 'random9'"):
        load_human_data(write_rows(tmp_path / "lay.jsonl.gz", [row(state_2019(), [[0, 0], [0, 0]], layout="random9")]))
    with pytest.raises(AccordError, match="grid of cramped_room differs"):
        load_human_data(write_rows(tmp_path / "grid.jsonl.gz", [row(state_2019(), [[0, 0], [0, 0]], grid="['XXPXX', 'O  2O', 'X1 XX', 'XDXSX']")]))
    with pytest.raises(AccordError, match="human data not found"):
        load_human_data(tmp_path / "missing.jsonl.gz")
    with pytest.raises(AccordError, match="cannot read"):
        (tmp_path / "plain.jsonl.gz").write_text("not gzip")
        load_human_data(tmp_path / "plain.jsonl.gz")


def test_tiny_training_learns_a_known_rule(tmp_path):
    # player 0 interacts when holding an onion, else moves east; player 1 stays: a rule the features reveal
    rows = []
    for x, y in [(1, 1), (2, 1), (1, 2), (2, 2), (3, 2)]:
        for held in (None, "onion"):
            joint = ["INTERACT" if held else [1, 0], [0, 0]]
            rows.append(row(state_2019(p0=(x, y), held0=held, p1=(3, 1) if (x, y) != (3, 1) else (2, 2)), joint))
    write_rows(tmp_path / "human_train.jsonl.gz", rows)
    write_rows(tmp_path / "human_test.jsonl.gz", rows[:4])
    summary = train_bc("cramped_room", tmp_path, tmp_path / "out", epochs=300, hidden=16)
    assert summary["train_accuracy"] == 1.0 and summary["test_accuracy"] == 1.0 and summary["test_samples"] == 8
    assert (tmp_path / "out" / "bc_cramped_room.run.json").exists()
    policy = load_bc_policy("cramped_room", tmp_path / "out", stochastic=False)
    mdp = make_mdp("cramped_room")
    policy.reset(mdp, 0)
    assert policy.act(to_package_state(state_2019(p0=(2, 2)))) == EAST
    assert policy.act(to_package_state(state_2019(p0=(2, 2), held0="onion"))) == INTERACT
    with pytest.raises(AccordError, match="no rows for layout coordination_ring"):
        train_bc("coordination_ring", tmp_path, tmp_path / "out", epochs=1)
    with pytest.raises(AccordError, match="no trained BC proxy"):
        load_bc_policy("forced_coordination", tmp_path / "out")


def test_bc_policy_unsticks():
    import torch

    model = torch.nn.Linear(feature_size(), 6)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 9.0, 0.0, 0.0]))  # always west: into the counter at (0,2)
    policy = BCPolicy(model, stochastic=False, stuck_steps=3)
    mdp = make_mdp("cramped_room")
    policy.reset(mdp, 0, seed=0)
    state = to_package_state(state_2019(p0=(1, 2)))
    state.players[0].orientation = (-1, 0)
    actions = [policy.act(state) for _ in range(5)]
    # the state never changes here: after three steps in one pose the tried actions are removed (west, then
    # west and north), and the argmax falls to the next action in index order
    assert actions == [3, 3, 3, NORTH, SOUTH]


def test_human_data_grids_match_the_package(tmp_path):
    from accord.agents.bc import default_data_dir

    path = default_data_dir() / "human_test.jsonl.gz"
    if not path.exists():
        pytest.skip(f"human data not found at {path} (set ACCORD_OVERCOOKED_DATA)")
    first = {}
    with gzip.open(path, "rt") as handle:
        for line in handle:
            r = json.loads(line)
            first.setdefault(r["layout_name"], line)
            if len(first) == 5:
                break
    data = load_human_data(write_rows(tmp_path / "five.jsonl.gz", list(first.values())))
    assert sorted(data) == sorted(["cramped_room", "asymmetric_advantages", "coordination_ring",
                                   "forced_coordination", "counter_circuit"])
