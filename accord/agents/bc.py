"""Behaviour-cloning human proxy for Overcooked, trained here per layout on the 2019 human-human games
(Carroll et al., NeurIPS 2019, arXiv 1910.05789, Sec. 5: "BC" agents; ProAgent evaluates against them).

Data: ../shared/data/overcooked/human_{train,test}.jsonl.gz (one row per timestep, see the data README);
the 2019 names random0/random3 are forced_coordination/counter_circuit. Every layout's grid in the data is
checked against the package's (terrain equal once the players' digits are blanked).

    load    each row -> the package's OvercookedState and both players' actions (both seats are samples)
    encode  features.state_features from each player's seat (48 numbers)
    train   a 2-layer MLP (64 tanh units each) with cross-entropy, Adam, full-batch epochs over the
            training rows of one layout; seconds per layout on a CPU
    test    held-out action accuracy (argmax) on the test split, beside the majority-action (stay) rate
            and the accuracy on the other actions (humans stay ~70% of the steps)
    play    BCPolicy samples from the softmax, stay included (2019's stochastic BC agents, as ProAgent's
            code plays them); when its pose is the same as in each of the last `stuck_steps` (3) steps, the
            actions of those steps are removed before sampling (their "unblock if stuck" rule)

    accord agents train-bc --layout cramped_room        # -> $ACCORD_CACHE/agents/bc/bc_cramped_room.pt
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from accord.agents.features import feature_size, state_features
from accord.agents.overcooked_env import DATA_LAYOUT_NAMES, configure_recipes, DIRECTIONS, INTERACT, LAYOUTS, STAY, make_mdp
from accord.errors import AccordError
from accord.runs import sha256_file, write_run_metadata

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "overcooked"
DATA_ENV = "ACCORD_OVERCOOKED_DATA"


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_ENV, DEFAULT_DATA))


def default_bc_dir() -> Path:
    return Path(os.environ.get("ACCORD_CACHE", Path.home() / ".cache" / "accord")) / "agents" / "bc"


def action_index(action) -> int:
    if isinstance(action, str):
        if action.upper() != "INTERACT":
            raise ValueError(f"unknown action {action!r}")
        return INTERACT
    move = tuple(action)
    return STAY if move == (0, 0) else DIRECTIONS.index(move)


def to_package_state(state: dict):
    """A 2019 state dict (players, objects by "x,y", soups as ["onion", n, cooked]) as an OvercookedState."""
    from overcooked.mdp.overcooked_mdp import ObjectState, OvercookedState, PlayerState, SoupState

    configure_recipes()
    def make_object(obj):
        position = tuple(obj["position"])
        if obj["name"] != "soup":
            return ObjectState(obj["name"], position)
        _, onions, cooked = obj["state"]
        soup = SoupState.get_soup(position, num_onions=onions, cooking_tick=cooked if onions == 3 else -1)
        return soup

    players = [
        PlayerState(tuple(p["position"]), tuple(p["orientation"]),
                    make_object(p["held_object"]) if p.get("held_object") else None)
        for p in state["players"]
    ]
    objects = {tuple(o["position"]): make_object(o) for o in state["objects"].values()}
    return OvercookedState(players, objects, all_orders=[{"ingredients": ["onion"] * 3}])


def terrain_rows(rows) -> list[str]:
    return ["".join(" " if c.isdigit() else c for c in row) for row in rows]


def load_human_data(path: str | Path, layout: str | None = None) -> dict[str, list]:
    """Rows of a human_*.jsonl.gz file by (paper) layout: [(OvercookedState, (action_0, action_1)), ...].

    A malformed row or a grid that differs from the package's raises AccordError naming file and line.
    """
    path = Path(path)
    if not path.exists():
        raise AccordError(f"human data not found: {path} (set --data or {DATA_ENV})")
    data: dict[str, list] = {}
    checked: set[str] = set()
    try:
        handle = gzip.open(path, "rt") if path.suffix == ".gz" else open(path)
        with handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    name = DATA_LAYOUT_NAMES.get(row["layout_name"])
                    if name is None:
                        raise ValueError(f"unknown layout_name {row['layout_name']!r}")
                    if layout is not None and name != layout:
                        continue
                    if name not in checked:
                        grid = terrain_rows(ast.literal_eval(row["layout"]))
                        if grid != ["".join(r) for r in make_mdp(name).terrain_mtx]:
                            raise ValueError(f"grid of {row['layout_name']} differs from the package's {LAYOUTS[name]}")
                        checked.add(name)
                    state = to_package_state(ast.literal_eval(row["state"]))
                    actions = tuple(action_index(a) for a in ast.literal_eval(row["joint_action"]))
                except (ValueError, KeyError, TypeError, SyntaxError, IndexError, AssertionError) as error:
                    raise AccordError(f"{path}:{number}: malformed Overcooked row ({type(error).__name__}: {error})") from None
                data.setdefault(name, []).append((state, actions))
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise AccordError(f"{path}: cannot read ({error})") from None
    if layout is not None and layout not in data:
        raise AccordError(f"{path}: no rows for layout {layout}")
    return data


def encode(mdp, rows) -> tuple[np.ndarray, np.ndarray]:
    """Both seats of every row: features (2n x 48) and actions (2n)."""
    features, actions = [], []
    for state, joint in rows:
        for seat in (0, 1):
            features.append(state_features(mdp, state, seat))
            actions.append(joint[seat])
    return np.stack(features), np.asarray(actions, dtype=np.int64)


def make_model(hidden: int = 64) -> nn.Module:
    return nn.Sequential(nn.Linear(feature_size(), hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, 6))


def split_paths(data_dir: str | Path | None) -> tuple[Path, Path]:
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    return data_dir / "human_train.jsonl.gz", data_dir / "human_test.jsonl.gz"


def train_bc(layout: str, data_dir: str | Path | None = None, out: str | Path | None = None, epochs: int = 300,
             lr: float = 3e-3, hidden: int = 64, seed: int = 0, splits: tuple[dict, dict] | None = None) -> dict:
    """Train the layout's proxy on the train split, score it on the test split, save it under `out`.

    `splits` (train, test) from load_human_data saves re-reading the files when training several layouts.
    """
    out = Path(out) if out else default_bc_dir()
    train_path, test_path = split_paths(data_dir)
    start = time.perf_counter()
    if splits is None:
        splits = (load_human_data(train_path, layout), load_human_data(test_path, layout))
    for split, path in zip(splits, (train_path, test_path)):
        if layout not in split:
            raise AccordError(f"{path}: no rows for layout {layout}")
    mdp = make_mdp(layout)
    x_train, y_train = (torch.as_tensor(a) for a in encode(mdp, splits[0][layout]))
    x_test, y_test = (torch.as_tensor(a) for a in encode(mdp, splits[1][layout]))
    torch.set_num_threads(1)  # a tiny network: more threads only spin on a shared machine
    torch.manual_seed(seed)
    model = make_model(hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):  # full batch: ~20k samples x 48 features
        loss = nn.functional.cross_entropy(model(x_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        train_hits = model(x_train).argmax(-1) == y_train
        test_hits = model(x_test).argmax(-1) == y_test
    majority = int(torch.bincount(y_train, minlength=6).argmax())
    moving = y_test != majority
    summary = {
        "layout": layout, "train_samples": len(y_train), "test_samples": len(y_test),
        "train_accuracy": train_hits.float().mean().item(), "test_accuracy": test_hits.float().mean().item(),
        "test_majority_rate": (y_test == majority).float().mean().item(),
        "test_accuracy_other_actions": test_hits[moving].float().mean().item() if moving.any() else float("nan"),
        "final_loss": loss.item(), "seconds": time.perf_counter() - start,
    }
    settings = {"method": "behaviour cloning (Carroll et al. 2019)", "layout": layout, "epochs": epochs, "lr": lr,
                "hidden": hidden, "seed": seed, "features": feature_size(),
                "data_hash": {p.name: sha256_file(p) for p in (train_path, test_path)}}
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "settings": settings, "summary": summary}, out / f"bc_{layout}.pt")
    (out / f"bc_{layout}.run.json").unlink(missing_ok=True)  # a new training, not a resume
    write_run_metadata(out, settings, name=f"bc_{layout}.run.json")
    (out / f"bc_{layout}.summary.json").write_text(json.dumps(summary, indent=2))
    return summary


class BCPolicy:
    """The trained proxy as a partner: samples its action (or argmax with stochastic=False), with unstuck."""

    name = "bc"

    def __init__(self, model: nn.Module, stochastic: bool = True, stuck_steps: int = 3):
        self.model, self.stochastic, self.stuck_steps = model.eval(), stochastic, stuck_steps

    def reset(self, mdp, player_index: int, seed: int = 0) -> None:
        self.mdp, self.player_index = mdp, player_index
        self.rng = np.random.default_rng(seed)
        self.history: list = []  # (pose, action) of the last `stuck_steps` steps

    def action_probs(self, state) -> np.ndarray:
        with torch.no_grad():
            logits = self.model(torch.as_tensor(state_features(self.mdp, state, self.player_index)))
        return torch.softmax(logits, -1).numpy().astype(np.float64)

    def act(self, state) -> int:
        probs = self.action_probs(state)
        pose = state.players[self.player_index].pos_and_or
        if len(self.history) == self.stuck_steps and all(p == pose for p, _ in self.history):
            for _, action in self.history:  # stuck: none of the actions that kept it in place
                probs[action] = 0.0
        probs = probs / probs.sum()
        action = int(self.rng.choice(6, p=probs)) if self.stochastic else int(probs.argmax())
        self.history = (self.history + [(pose, action)])[-self.stuck_steps:]
        return action


def load_bc_policy(layout: str | None, bc_dir: str | Path | None = None, stochastic: bool = True) -> BCPolicy:
    if layout is None:
        raise AccordError("the bc partner needs a layout")
    path = (Path(bc_dir) if bc_dir else default_bc_dir()) / f"bc_{layout}.pt"
    if not path.exists():
        raise AccordError(f"no trained BC proxy at {path}; train it with `accord agents train-bc --layout {layout}`")
    saved = torch.load(path, weights_only=True)
    model = make_model(saved["settings"]["hidden"])
    model.load_state_dict(saved["state_dict"])
    return BCPolicy(model, stochastic=stochastic)


def train_bc_layouts(layouts, data_dir=None, out=None, epochs: int = 300, seed: int = 0):
    """Train each layout's proxy, reading the two data files once; yields each layout's summary."""
    train_path, test_path = split_paths(data_dir)
    splits = (load_human_data(train_path), load_human_data(test_path))
    for layout in layouts:
        yield train_bc(layout, data_dir, out, epochs=epochs, seed=seed, splits=splits)
