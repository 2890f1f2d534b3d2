"""Cost of one ProAgent decision with the constrained-choice planner on llama.cpp: prompt length in tokens,
tokens evaluated and seconds per decision under three prompt-prefix settings, measured on the same scenes
in one run (ratios against the first).

    none     keep_prefix off: every decision evaluates the whole prompt (instructions included)
    system   keep_prefix on, the prefix is the instructions (the planner before the scene prefix)
    scene    keep_prefix on, the prefix runs to the end of the scene (planner.scene_prefix, the default now):
             a decision evaluates what follows the head it shares with the last one, and the intention
             question (--belief) shares the scene

One call reads all seven skills' letters from one next-token distribution, so nothing is evaluated per
skill. The scenes are the states at which seat 0 of a greedy + greedy game starts a skill (no model; the
same for every setting). Per setting the first decision (which evaluates the instructions) is reported
apart from the later ones. The answers of the three settings are compared (argmax and largest probability
difference: the f16 KV cache rounds a prompt evaluated in other splits slightly differently).

    ACCORD_LLAMACPP_THREADS=1 python benchmarks/proagent_cost.py --model qwen2.5-coder-1.5b --scenes 6
    python benchmarks/proagent_cost.py --model qwen2.5-coder-0.5b --scenes 3 --belief   # quick look

Results go to benchmarks/results/proagent_cost.json (with the load average before and after: timings on a
shared machine are only comparable within one run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import accord.agents.planner as planner_module  # noqa: E402
from accord.agents.overcooked_env import OvercookedParallelEnv  # noqa: E402
from accord.agents.partners import GreedyPolicy  # noqa: E402
from accord.agents.proagent import ProAgent, ProAgentConfig  # noqa: E402
from accord.lm.llamacpp import LlamaCppLM  # noqa: E402
from accord.lm.packaged import packaged_gguf_path  # noqa: E402
from accord.runs import versions  # noqa: E402


def decision_states(layout: str, count: int, horizon: int = 400) -> list:
    """States at which seat 0 of a greedy + greedy game starts a skill (the first `count`)."""
    env = OvercookedParallelEnv(layout, horizon=horizon)
    env.reset(seed=0)
    players = [GreedyPolicy(), GreedyPolicy()]
    for i, player in enumerate(players):
        player.reset(env.mdp, i, i)
    states = []
    while env.agents and len(states) < count:
        before = players[0].skills_chosen
        actions = {f"player_{i}": p.act(env.state) for i, p in enumerate(players)}
        if players[0].skills_chosen > before:
            states.append(env.state)
        env.step(actions)
    return states


def counting(lm) -> list:
    counts, original = [], lm._decode

    def decode(tokens, positions, seq_ids, outputs):
        counts.append(len(tokens))
        return original(tokens, positions, seq_ids, outputs)

    lm._decode = decode
    return counts


def run_setting(name: str, path, args, states) -> dict:
    lm = LlamaCppLM(path, name=args.model, n_ctx=4096)
    lm.keep_prefix = name != "none"
    scene_prefix = planner_module.scene_prefix
    if name == "system":
        planner_module.scene_prefix = lambda *a: ""  # the instructions only, as before the scene prefix
    agent = ProAgent(lm, ProAgentConfig(layout=args.layout, planner_mode="choice", belief=args.belief))
    agent.reset(OvercookedParallelEnv(args.layout).mdp, 0)
    counts = counting(lm)
    decisions = []
    try:
        for state in states:
            user = agent.user_text(state)
            before = len(counts)
            start = time.perf_counter()
            plan = agent.planner.plan(user)
            decisions.append({"seconds": time.perf_counter() - start, "evaluated": sum(counts[before:]),
                              "skill": plan.skill, "probs": plan.probs})
    finally:
        planner_module.scene_prefix = scene_prefix
    asked, _ = agent.planner.questions(agent.user_text(states[0]), agent.planner.skills)
    system_part, _ = planner_module.split_chat(lm, agent.system, agent.user_text(states[0]))
    prompt_tokens = [len(lm.tokenize(lm.chat_prompt(q, system=agent.system))) for q in asked]
    later = decisions[1:] or decisions
    summary = {"setting": name, "decisions": decisions, "prompt_tokens": prompt_tokens,
               "instruction_tokens": len(lm.tokenize(system_part)),
               "scene_tokens": len(lm.tokenize(agent.user_text(states[0]))),
               "first_seconds": decisions[0]["seconds"], "first_evaluated": decisions[0]["evaluated"],
               "later_seconds": sum(d["seconds"] for d in later) / len(later),
               "later_evaluated": sum(d["evaluated"] for d in later) / len(later)}
    lm.close()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="packaged GGUF model (default 1.5B)")
    parser.add_argument("--layout", default="cramped_room")
    parser.add_argument("--scenes", type=int, default=6, help="decision scenes per setting (default 6)")
    parser.add_argument("--none-scenes", type=int, default=3, help="scenes for the costly 'none' setting (default 3)")
    parser.add_argument("--belief", action="store_true", help="also ask the teammate's intention (two questions)")
    parser.add_argument("--out", default="benchmarks/results/proagent_cost.json")
    args = parser.parse_args()
    path = packaged_gguf_path(args.model)
    states = decision_states(args.layout, args.scenes)
    load_before = os.getloadavg()
    results = [run_setting("none", path, args, states[:args.none_scenes])]
    results += [run_setting(name, path, args, states) for name in ("system", "scene")]
    base = results[0]
    print(f"{args.model}, {args.layout}, belief={args.belief}, {len(states)} scenes; prompt "
          f"{base['prompt_tokens']} tokens (instructions {base['instruction_tokens']}, user message "
          f"{base['scene_tokens']}); load {load_before[0]:.1f}")
    print("| setting | first decision: tokens, s | later decisions: tokens, s | later s vs none |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['setting']} | {r['first_evaluated']}, {r['first_seconds']:.2f} | {r['later_evaluated']:.0f}, "
              f"{r['later_seconds']:.2f} | {r['later_seconds'] / base['later_seconds']:.2f} |")
    n = args.none_scenes
    agree = {r["setting"]: [d["skill"] for d in r["decisions"][:n]] == [d["skill"] for d in base["decisions"]]
             for r in results[1:]}
    gap = {r["setting"]: max(abs(p - q) for d, e in zip(r["decisions"], base["decisions"])
                             for p, q in zip(d["probs"].values(), e["probs"].values())) for r in results[1:]}
    print(f"same skills as 'none' on the first {n} scenes: {agree}; largest probability difference: "
          f"{ {k: round(v, 4) for k, v in gap.items()} }")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "model": args.model, "layout": args.layout, "belief": args.belief, "scenes": len(states),
        "threads": os.environ.get("ACCORD_LLAMACPP_THREADS"), "load_before": load_before,
        "load_after": os.getloadavg(), "versions": versions(), "same_skills_as_none": agree,
        "largest_probability_difference": gap, "settings": results}, indent=1))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
