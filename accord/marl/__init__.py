"""Multi-agent credit assignment under episodic team rewards.

STAS (Chen, Zhang, Yang, Du, "STAS: Spatial-Temporal Return Decomposition for Multi-agent Reinforcement
Learning", AAAI 2024, arXiv 2304.07520): a reward model splits the team's episode return over time steps
and agents; independent PPO learns from the split.

    envs/           Alice & Bob (key-and-door gridworld) and MPE simple_spread, PettingZoo parallel API
    reward_model.py STAS, STAS-ML and the learned baselines (temporal-only, AREL-style)
    credit.py       every credit scheme behind one call, plus the episode buffer the models learn from
    ppo.py          independent PPO with a shared actor-critic (one file, CleanRL style)
    presets.py      the paper's per-environment settings and accord's CPU scale, as data
    report.py       learning curves with bands over seeds, final table with bootstrap intervals
"""
