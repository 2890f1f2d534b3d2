"""Baseline pairs on the paper's layouts: greedy + greedy, BC + BC and PPO self-play (ProAgent, Zhang et al.,
AAAI 2024, arXiv 2308.11339, Table 1's baselines; BC and PPO_SP after Carroll et al. 2019).

Each pair plays `episodes` episodes per layout through partners.play_episodes; one row per episode is
appended to <out>/results.jsonl (a rerun plays only the missing episodes), and the summary gives the mean
return with a 95% bootstrap interval (accord.stats), soups and seconds per episode.

    python -m accord.agents.baselines --episodes 5 --bc-dir ~/.cache/accord/agents/bc \
        --ppo cramped_room=runs/ppo_cr/checkpoint.pt --out runs/oc_baselines
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from accord.agents.bc import default_bc_dir, load_bc_policy
from accord.agents.overcooked_env import LAYOUTS
from accord.agents.partners import GreedyPolicy, play_episodes
from accord.errors import AccordError
from accord.runs import ResultStore, write_run_metadata
from accord.stats import bootstrap_ci


def make_pair(pair: str, layout: str, bc_dir=None, ppo_checkpoints: dict | None = None):
    if pair == "greedy+greedy":
        return GreedyPolicy(), GreedyPolicy()
    if pair == "bc+bc":
        return load_bc_policy(layout, bc_dir), load_bc_policy(layout, bc_dir)
    if pair == "ppo+ppo":
        from accord.agents.ppo import PPOPolicy

        checkpoint = (ppo_checkpoints or {}).get(layout)
        if checkpoint is None:
            raise AccordError(f"no PPO checkpoint given for {layout} (--ppo {layout}=PATH)")
        return PPOPolicy(checkpoint), PPOPolicy(checkpoint)
    raise AccordError(f"unknown pair {pair!r}; pairs: greedy+greedy, bc+bc, ppo+ppo")


def run_baselines(out, layouts, pairs, episodes: int = 5, seed: int = 0, bc_dir=None, ppo_checkpoints=None) -> list[dict]:
    """Play every (layout, pair) for `episodes` episodes (resuming), and return one summary row per cell."""
    out = Path(out)
    write_run_metadata(out, {"method": "Overcooked baselines", "layouts": list(layouts), "pairs": list(pairs),
                             "seed": seed, "bc_dir": str(bc_dir or default_bc_dir()),
                             "ppo": {k: str(v) for k, v in (ppo_checkpoints or {}).items()}})
    store = ResultStore(out / "results.jsonl")
    cells = [(layout, pair) for layout in layouts for pair in pairs if pair != "ppo+ppo" or layout in (ppo_checkpoints or {})]
    for layout, pair in tqdm(cells, desc="baselines"):
        for k in range(episodes):
            key = f"{layout}|{pair}|{k}"
            if key in store.done:
                continue
            policy_0, policy_1 = make_pair(pair, layout, bc_dir, ppo_checkpoints)
            (result,) = play_episodes(layout, policy_0, policy_1, episodes=1, seed=seed + 2 * k)
            store.append({"key": key, "layout": layout, "pair": pair, "episode": k, **result})
    return summarise(store.records)


def summarise(records: list[dict]) -> list[dict]:
    rows = []
    for layout in LAYOUTS:
        for pair in sorted({r["pair"] for r in records if r["layout"] == layout}):
            cell = [r for r in records if r["layout"] == layout and r["pair"] == pair]
            mean, low, high = bootstrap_ci([r["return"] for r in cell])
            rows.append({"layout": layout, "pair": pair, "episodes": len(cell), "mean_return": mean, "low": low,
                         "high": high, "mean_soups": sum(r["soups"] for r in cell) / len(cell),
                         "seconds_per_episode": sum(r["seconds"] for r in cell) / len(cell)})
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| layout | pair | episodes | mean return [95% CI] | soups | s / episode |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['layout']} | {r['pair']} | {r['episodes']} | {r['mean_return']:.1f} "
                     f"[{r['low']:.1f}, {r['high']:.1f}] | {r['mean_soups']:.1f} | {r['seconds_per_episode']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description="Play the Overcooked baseline pairs and print a table.")
    parser.add_argument("--layout", action="append", choices=list(LAYOUTS), help="default: all five")
    parser.add_argument("--pair", action="append", choices=["greedy+greedy", "bc+bc", "ppo+ppo"],
                        help="default: greedy+greedy and bc+bc, plus ppo+ppo where --ppo gives a checkpoint")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bc-dir", default=None, help="trained BC proxies (default $ACCORD_CACHE/agents/bc)")
    parser.add_argument("--ppo", action="append", default=[], help="LAYOUT=CHECKPOINT of a PPO self-play run")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # one-state forward passes of tiny networks: more threads only spin
    try:
        ppo = dict(item.split("=", 1) for item in args.ppo)
    except ValueError:
        raise AccordError("--ppo takes LAYOUT=CHECKPOINT") from None
    pairs = args.pair or ["greedy+greedy", "bc+bc"] + (["ppo+ppo"] if ppo else [])
    rows = run_baselines(args.out, args.layout or list(LAYOUTS), pairs, args.episodes, args.seed, args.bc_dir, ppo)
    table = markdown_table(rows)
    (Path(args.out) / "summary.md").write_text(table + "\n")
    print(table)
    return rows


if __name__ == "__main__":
    try:
        main()
    except AccordError as error:
        raise SystemExit(f"error: {error}") from None
