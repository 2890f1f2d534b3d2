"""PEARL: zero-shot preference transfer across tasks (Liu, Du, Bai, Lyu, Li; ICML 2024, arXiv 2306.03615).

  pointmass.py        a fast 2-D point-mass task pair (reach goal A -> reach goal B) and scripted datasets
  metaworld_tasks.py  the same interface over Meta-World task pairs (optional extra `metaworld`)
  segments.py         segments, random pairs and the scripted teacher (labels from true returns)
  transfer.py         cross-task preference alignment: Gromov-Wasserstein coupling (POT) and label transfer
  rewards.py          reward models: Preference Transformer, its robust Gaussian variant, an MLP Bradley-Terry
  iql.py              Implicit Q-Learning on relabelled offline data, and behaviour cloning
  experiment.py       the whole pipeline per seed and method, with resumable results
  report.py           table with bootstrap intervals over seeds, and a bar chart
"""
