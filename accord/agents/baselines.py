"""Baseline pairs on the paper's layouts: greedy + greedy, BC + BC and PPO self-play (ProAgent, Zhang et al.,
AAAI 2024, arXiv 2308.11339, Table 1's baselines; BC and PPO_SP after Carroll et al. 2019).

Each pair is an evaluation cell of episodes.py (the same folders `accord agents overcooked` writes, so one
`accord agents report` covers baselines and ProAgent): one row per episode, a rerun plays only the missing
episodes, and the table gives the mean return with a 95% bootstrap interval, soups and seconds per episode.

    python -m accord.agents.baselines --episodes 5 --out runs/oc        # BC/PPO from $ACCORD_CACHE/agents
"""

from __future__ import annotations

import argparse

from tqdm import tqdm

from accord.agents.episodes import cell_dir, load_cells, run_cell
from accord.agents.overcooked_env import LAYOUTS
from accord.agents.partners import make_partner
from accord.agents.report import format_table, summarize
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
        write_run_metadata(cell, {"method": f"baseline {pair}", "layout": layout, "agent": name, "partner": name,
                                  "seat": 0, "seed": seed, "protocol": "overcooked-2019 (ProAgent's setting)"})
        run_cell(cell, layout, agent, partner, 0, episodes, seed=seed,
                 labels={"layout": layout, "agent": name, "partner": name})
        cells.append(cell)
    return summarize(load_cells(cells))


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description="Play the Overcooked baseline pairs and print a table.")
    parser.add_argument("--layout", action="append", choices=list(LAYOUTS), help="default: all five")
    parser.add_argument("--pair", action="append", choices=list(PAIRS), help="default: greedy+greedy and bc+bc")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bc-dir", default=None, help="trained BC proxies (default $ACCORD_CACHE/agents/bc)")
    parser.add_argument("--ppo-dir", default=None, help="PPO runs, <dir>/<layout>/checkpoint.pt (default $ACCORD_CACHE/agents/ppo)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # one-state forward passes of tiny networks: more threads only spin
    rows = run_baselines(args.out, args.layout or list(LAYOUTS), args.pair or ["greedy+greedy", "bc+bc"],
                         args.episodes, args.seed, args.bc_dir, args.ppo_dir)
    print(format_table(rows))
    return rows


if __name__ == "__main__":
    try:
        main()
    except AccordError as error:
        raise SystemExit(f"error: {error}") from None
