"""The PEARL pipeline per seed (Liu et al., ICML 2024, arXiv 2306.03615), with its baselines.

For each seed:

  data       source and target offline datasets from the scripted policies, cut into segments
  transfer   scripted-teacher labels on every pair of source segments; GW coupling source <-> target;
             transferred labels on `target_pairs` random target pairs, and their accuracy against the target's
             true-return labels (cached in OUT/seed<k>/transfer.npz)
  rewards    one reward model per method (below), its pair accuracy on held-out target pairs
  policy     IQL on the target data relabelled by that reward (BC needs no reward); success rate

Methods (the rows of the report):

  pearl        robust Gaussian PT (rpt) on transferred labels: zero target labels
  pt           plain Preference Transformer on transferred labels
  mlp          Markovian MLP Bradley-Terry reward on transferred labels
  oracle       plain PT on the target's scripted-teacher labels (the upper bound: target labels)
  bc           behaviour cloning on the target data
  true_reward  IQL on the environment's own reward (the learner's ceiling; not in the paper's tables)

One finished (seed, method) is one line of OUT/results.jsonl (accord.runs.ResultStore): a rerun skips what is
there. run.json holds every setting.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from accord.errors import AccordError
from accord.pbrl.iql import IQLConfig, flatten_episodes, train_bc, train_iql
from accord.pbrl.rewards import RewardConfig, pair_accuracy, relabel, train_reward
from accord.pbrl.segments import make_segments, sample_pairs, teacher_labels
from accord.pbrl.transfer import gromov_coupling, label_accuracy, label_matrix, segment_features, transfer_labels
from accord.runs import ResultStore, write_run_metadata

METHODS = ["pearl", "pt", "mlp", "oracle", "bc", "true_reward"]
# reward model and label source of each reward-learning method
METHOD_REWARDS = {"pearl": ("rpt", "transferred"), "pt": ("pt", "transferred"), "mlp": ("mlp", "transferred"),
                  "oracle": ("pt", "target_teacher")}
ENVIRONMENTS = {"pointmass": "accord.pbrl.pointmass", "metaworld": "accord.pbrl.metaworld_tasks"}


@dataclass
class ExperimentConfig:
    env: str = "pointmass"
    """pointmass, or metaworld (optional extra)"""
    pair: str = ""
    """task pair of the environment ("" = its default; metaworld: SOURCE->TARGET task names)"""
    episodes: int = 200
    """episodes per domain in the offline datasets"""
    data_mix: str = "standard"
    """quality mix of the scripted data, a key of the environment's MIXES (metaworld: standard or decoy)"""
    segment_length: int = 20
    """steps per preference segment"""
    source_flip: float = 0.0
    """probability of flipping each scripted source label"""
    target_pairs: int = 2000
    """target pairs that receive transferred labels (and the oracle's teacher labels)"""
    test_pairs: int = 2000
    """held-out target pairs for the reward models' accuracy"""
    gw_method: str = "exact"
    """exact or entropic Gromov-Wasserstein"""
    gw_epsilon: float = 5e-3
    """entropic regularisation (entropic only)"""
    eval_episodes: int = 100
    """evaluation episodes per policy"""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """reward-model settings shared by all methods (kind is set per method)"""
    iql: IQLConfig = field(default_factory=IQLConfig)
    """policy-learning settings shared by IQL and BC"""


def environment(name: str):
    if name not in ENVIRONMENTS:
        raise AccordError(f"unknown environment {name!r}; choose from {', '.join(ENVIRONMENTS)}")
    try:
        return importlib.import_module(ENVIRONMENTS[name])
    except ImportError as error:
        raise AccordError(f"environment {name!r} needs an optional package ({error}); "
                          "pip install 'accord[metaworld]'") from None


def data_mix(config: ExperimentConfig) -> dict:
    """The environment's scripted-data mix named by `config.data_mix`."""
    mixes = environment(config.env).MIXES
    if config.data_mix not in mixes:
        raise AccordError(f"unknown data mix {config.data_mix!r} for {config.env}; choose from {', '.join(mixes)}")
    return mixes[config.data_mix]


def prepare_transfer(config: ExperimentConfig, seed: int, cache: Path | None = None) -> dict:
    """Datasets, segments, transferred labels and their accuracy for one seed (cached as npz when `cache`)."""
    env = environment(config.env)
    source_task, target_task = env.task_pair(config.pair) if config.pair else env.task_pair()
    mix = data_mix(config)
    source_data = env.collect(source_task, config.episodes, seed=2 * seed, mix=mix)
    target_data = env.collect(target_task, config.episodes, seed=2 * seed + 1, mix=mix)
    source = make_segments(source_data, config.segment_length)
    target = make_segments(target_data, config.segment_length)
    rng = np.random.default_rng(10_000 + seed)
    target_pairs = sample_pairs(config.target_pairs, len(target["returns"]), rng)
    test_pairs = sample_pairs(config.test_pairs, len(target["returns"]), rng)
    prepared = {"source_task": source_task, "target_task": target_task, "target_data": target_data,
                "target": target, "target_pairs": target_pairs, "test_pairs": test_pairs,
                "target_labels": teacher_labels(target["returns"], target_pairs),
                "test_labels": teacher_labels(target["returns"], test_pairs)}
    if cache is not None and cache.exists():
        stored = np.load(cache)
        prepared.update(transferred=stored["transferred"], transfer_seconds=float(stored["transfer_seconds"]))
    else:
        count = len(source["returns"])
        all_pairs = np.stack(np.triu_indices(count, k=1), axis=1)
        source_labels = teacher_labels(source["returns"], all_pairs, flip=config.source_flip,
                                           rng=np.random.default_rng(20_000 + seed))
        values, mask = label_matrix(source_labels, all_pairs, count)
        start = time.perf_counter()
        coupling = gromov_coupling(segment_features(source["observations"], source["actions"]),
                                   segment_features(target["observations"], target["actions"]),
                                   method=config.gw_method, epsilon=config.gw_epsilon)
        prepared["transferred"] = transfer_labels(coupling, values, mask, target_pairs)[0]
        prepared["transfer_seconds"] = time.perf_counter() - start
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, transferred=prepared["transferred"], transfer_seconds=prepared["transfer_seconds"])
    prepared["transfer_accuracy"] = label_accuracy(prepared["transferred"], prepared["target_labels"])
    return prepared


def run_method(config: ExperimentConfig, prepared: dict, method: str, seed: int, progress=None) -> dict:
    """Train one method on one seed's prepared data; the result record."""
    env = environment(config.env)
    torch.manual_seed(seed)
    data, target = prepared["target_data"], prepared["target"]
    iql_config = IQLConfig(**{**asdict(config.iql), "seed": seed})
    record = {"key": f"{seed}/{method}", "seed": seed, "method": method,
              "transfer_accuracy": prepared["transfer_accuracy"]}
    start = time.perf_counter()
    if method in METHOD_REWARDS:
        kind, label_source = METHOD_REWARDS[method]
        labels = prepared["transferred"] if label_source == "transferred" else prepared["target_labels"]
        reward_config = RewardConfig(**{**asdict(config.reward), "kind": kind, "seed": seed})
        model = train_reward(reward_config, target["observations"], target["actions"], prepared["target_pairs"],
                             labels)
        record["reward_accuracy"] = pair_accuracy(model, target["observations"], target["actions"],
                                                  prepared["test_pairs"], prepared["test_labels"])
        rewards = relabel(model, data["observations"], data["actions"], config.segment_length)
        policy = train_iql(iql_config, flatten_episodes(data, rewards), progress)
    elif method == "true_reward":
        policy = train_iql(iql_config, flatten_episodes(data, data["rewards"]), progress)
    elif method == "bc":
        policy = train_bc(iql_config, flatten_episodes(data, data["rewards"]))
    else:
        raise AccordError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    record["success"] = env.evaluate(prepared["target_task"], policy.act, config.eval_episodes,
                                     seed=1_000_000 + seed)
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record


def settings_of(config: ExperimentConfig) -> dict:
    """run.json settings: everything that changes a result. Seeds and methods are not in them, so a rerun may
    add seeds or methods to a run directory (each record names its own seed and method)."""
    return {"method": "PEARL (arXiv 2306.03615) and baselines", "protocol": "accord-pointmass-v1"
            if config.env == "pointmass" else f"accord-{config.env}-v1", **asdict(config)}


def run_experiment(config: ExperimentConfig, out_dir: str | Path, seeds: list[int], methods: list[str],
                   progress: bool = True) -> list[dict]:
    """All (seed, method) results, appended to OUT/results.jsonl as they finish; resumes."""
    from tqdm import tqdm

    unknown = [method for method in methods if method not in METHODS]
    if unknown:
        raise AccordError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    data_mix(config)
    out_dir = Path(out_dir)
    write_run_metadata(out_dir, settings_of(config))
    store = ResultStore(out_dir / "results.jsonl")
    bar = tqdm(total=len(seeds) * len(methods), desc="pbrl", unit="run", disable=not progress)
    for seed in seeds:
        todo = [method for method in methods if f"{seed}/{method}" not in store.done]
        bar.update(len(methods) - len(todo))
        if not todo:
            continue
        prepared = prepare_transfer(config, seed, cache=out_dir / f"seed{seed}" / "transfer.npz")
        for method in todo:
            bar.set_postfix_str(f"seed {seed} {method}")
            store.append(run_method(config, prepared, method, seed))
            bar.update(1)
    bar.close()
    return store.records
