"""Resumable evaluation cells for Overcooked: one agent in one seat with one partner on one layout, N
episodes, one appended row per episode (return, soups, re-plans, model calls, seconds).

A cell lives in its own folder under the run root, so one root holds a whole table and a rerun of any
command resumes where it stopped:

    <out>/<layout>/<agent label>/<partner>-seat<k>/run.json        settings, prompts, versions
                                                   results.jsonl   one row per finished episode
                                                   decisions/ep<k>.json   ProAgent's plans per decision
                                                   checkpoints/ep<k>.pkl  a running episode's state

    cell = cell_dir("runs/oc", "cramped_room", "proagent-choice-qwen2.5-coder-1.5b", "greedy", 0)
    run_cell(cell, "cramped_room", agent, partner, seat=0, episodes=5, seed=0)

Episode k plays with policy seeds seed + 2k (player_0) and seed + 2k + 1 (player_1), so any episode can be
replayed alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from accord.agents.overcooked_env import HORIZON
from accord.agents.partners import play_episode
from accord.runs import ResultStore

AGENT_STATS = ("decisions", "model_calls", "replans", "fallbacks", "unparsed", "belief_mismatches")
"""Per-episode counters a ProAgent reports (other agents: 0)."""


def safe_name(text: str) -> str:
    """A folder-safe form of a label (model paths and URLs included)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "x"


def cell_dir(out, layout: str, agent_label: str, partner: str, seat: int) -> Path:
    return Path(out) / safe_name(layout) / safe_name(agent_label) / f"{safe_name(partner)}-seat{seat}"


def cell_settings(layout: str, agent: str, partner: str, seat: int, horizon: int, seed: int, bc_dir=None,
                  ppo_dir=None) -> dict:
    """The run.json settings every command writes for a cell (so `overcooked` and `baselines` share cells);
    when BC or PPO plays, the weights file and its sha256."""
    settings = {"layout": layout, "agent": agent, "partner": partner, "seat": seat, "horizon": horizon, "seed": seed,
                "protocol": "overcooked-2019 (ProAgent's setting)", "method": agent}
    if "bc" in (agent, partner):
        from accord.agents.bc import default_bc_dir
        from accord.runs import sha256_file

        weights = (Path(bc_dir) if bc_dir else default_bc_dir()) / f"bc_{layout}.pt"
        if weights.is_file():
            settings.update(bc_weights=str(weights), bc_sha256=sha256_file(weights))
    if "ppo" in (agent, partner):
        from accord.agents.ppo import default_ppo_dir
        from accord.runs import sha256_file

        checkpoint = (Path(ppo_dir) if ppo_dir else default_ppo_dir()) / layout / "checkpoint.pt"
        if checkpoint.is_file():
            settings.update(ppo_checkpoint=str(checkpoint), ppo_sha256=sha256_file(checkpoint))
    return settings


def episode_key(k: int) -> str:
    return f"ep{k}"


class Stopped(Exception):
    """run_cell stopped mid-episode on `should_stop` (the episode's state is saved; rerun to continue)."""


def checkpoint_path(cell, k: int) -> Path:
    return Path(cell) / "checkpoints" / f"{episode_key(k)}.pkl"


def run_cell(cell: Path, layout: str, agent, partner, seat: int, episodes: int, seed: int = 0,
             horizon: int = HORIZON, labels: dict | None = None, on_step=None, on_episode=None,
             checkpoint_every: int = 0, should_stop=None) -> list[dict]:
    """Play the episodes of one cell that are not yet in cell/results.jsonl; returns every row of the cell.

    agent / partner: policies (partners.py interface); the agent sits in `seat`. labels: fields copied into
    every row (layout, agent, partner names). on_step(k, t, state): after every step of episode k;
    on_episode(row): after each episode. checkpoint_every: save the running episode's state to
    cell/checkpoints/ep<k>.pkl every that many skill decisions (0: never), so a rerun continues a killed
    episode from its last save (checkpoint.py); should_stop(): checked after each step, when true the
    state is saved and `Stopped` raised."""
    store = ResultStore(Path(cell) / "results.jsonl")
    for k in range(episodes):
        saved = checkpoint_path(cell, k)
        if episode_key(k) in store.done:
            saved.unlink(missing_ok=True)  # a kill between storing the row and deleting the checkpoint
            continue
        players = (agent, partner) if seat == 0 else (partner, agent)
        step = (lambda t, state, *rest: on_step(k, t, state)) if on_step is not None else None
        result = play_episode(layout, *players, seed=seed + 2 * k, horizon=horizon, on_step=step,
                              checkpoint=saved,
                              checkpoint_every=checkpoint_every, should_stop=should_stop)
        if result is None:
            raise Stopped(f"stopped in episode {k} of {cell}; its state is saved in {saved}")
        stats = agent.episode_stats() if hasattr(agent, "episode_stats") else {}
        row = {"key": episode_key(k), "episode": k, "seed": seed + 2 * k, "seat": seat, **(labels or {}),
               "return": result["return"], "soups": result["soups"], "steps": result["steps"],
               "seconds": round(result["seconds"], 3), **{name: stats.get(name, 0) for name in AGENT_STATS}}
        if getattr(agent, "decisions", None) is not None:
            folder = Path(cell) / "decisions"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{episode_key(k)}.json").write_text(json.dumps(agent.decisions, indent=1))
        store.append(row)
        saved.unlink(missing_ok=True)
        if on_episode is not None:
            on_episode(row)
    return store.records


def load_cells(roots) -> list[dict]:
    """Every episode row under the given run roots (or cell folders), with its cell folder."""
    rows = []
    for root in roots:
        root = Path(root)
        for path in sorted(root.rglob("results.jsonl")) if root.is_dir() else []:
            for row in ResultStore(path).records:
                rows.append({**row, "cell": str(path.parent)})
    return rows
