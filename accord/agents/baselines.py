"""Baseline pairs on the paper's layouts: greedy + greedy, BC + BC and PPO self-play (ProAgent, Zhang et al.,
AAAI 2024, arXiv 2308.11339, Table 1's baselines; BC and PPO_SP after Carroll et al. 2019).

Each pair is an evaluation cell of episodes.py (the same folders `accord agents overcooked` writes, so one
`accord agents report` covers baselines and ProAgent): one row per episode, a rerun plays only the missing
episodes, and the table gives the mean return with a 95% bootstrap interval, soups and seconds per episode.

    accord agents baselines --episodes 5 --out runs/oc        # BC and PPO weights from $ACCORD_CACHE/agents
"""

from __future__ import annotations

from tqdm import tqdm

from accord.agents.episodes import cell_dir, cell_settings, load_cells, run_cell
from accord.agents.overcooked_env import HORIZON
from accord.agents.partners import make_partner
from accord.agents.report import summarize
from accord.errors import AccordError
from accord.runs import write_run_metadata

PAIRS = {"greedy+greedy": "greedy", "bc+bc": "bc", "ppo+ppo": "ppo"}


def run_baselines(out, layouts, pairs, episodes: int = 5, seed: int = 0, bc_dir=None, ppo_dir=None) -> list[dict]:
    """Play every (layout, pair) cell for `episodes` episodes (resuming); the summary table's rows."""
    for pair in pairs:
        if pair not in PAIRS:
            raise AccordError(f"unknown pair {pair!r}; pairs: {', '.join(PAIRS)}")
    cells = []
    for layout, pair in tqdm([(layout, pair) for layout in layouts for pair in pairs], desc="baselines"):
        name = PAIRS[pair]
        agent = make_partner(name, layout, bc_dir, ppo_dir)
        partner = make_partner(name, layout, bc_dir, ppo_dir)
        cell = cell_dir(out, layout, name, name, 0)
        # the settings `accord agents overcooked --agent X --partner X` writes: one cell for both commands
        write_run_metadata(cell, cell_settings(layout, name, name, 0, HORIZON, seed, bc_dir, ppo_dir))
        run_cell(cell, layout, agent, partner, 0, episodes, seed=seed,
                 labels={"layout": layout, "agent": name, "partner": name})
        cells.append(cell)
    return summarize(load_cells(cells))
