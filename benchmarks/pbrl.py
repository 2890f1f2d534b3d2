"""Benchmark: exact vs entropic Gromov-Wasserstein for PEARL's label transfer on the point-mass pair.

For each dataset size (segments per domain), both POT solvers align the same source and target segments;
the table gives wall time, the time ratio entropic / exact (the baseline, measured in the same run) and the
accuracy of the transferred labels against the target's true-return labels. Best of `--repeats` times.

    python benchmarks/pbrl.py                       # writes benchmarks/results/pbrl.json
    python benchmarks/pbrl.py --episodes 50,100 --repeats 1    # quicker
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accord.pbrl.pointmass import collect, task_pair  # noqa: E402
from accord.pbrl.segments import make_segments, sample_pairs, teacher_labels  # noqa: E402
from accord.pbrl.transfer import (gromov_coupling, label_accuracy, label_matrix, segment_features,  # noqa: E402
                                  transfer_labels)
from accord.runs import versions  # noqa: E402


def measure(episodes: int, method: str, repeats: int, epsilon: float, seed: int = 0) -> dict:
    source_task, target_task = task_pair()
    source = make_segments(collect(source_task, episodes, seed=2 * seed), 20)
    target = make_segments(collect(target_task, episodes, seed=2 * seed + 1), 20)
    count = len(source["returns"])
    all_pairs = np.stack(np.triu_indices(count, k=1), axis=1)
    values, mask = label_matrix(teacher_labels(source["returns"], all_pairs), all_pairs, count)
    target_pairs = sample_pairs(2000, len(target["returns"]), np.random.default_rng(seed))
    source_features = segment_features(source["observations"], source["actions"])
    target_features = segment_features(target["observations"], target["actions"])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        coupling = gromov_coupling(source_features, target_features, method=method, epsilon=epsilon)
        times.append(time.perf_counter() - start)
    transferred = transfer_labels(coupling, values, mask, target_pairs)[0]
    return {"segments": count, "method": method, "seconds": min(times),
            "accuracy": label_accuracy(transferred, teacher_labels(target["returns"], target_pairs))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", default="50,100,200", help="episodes per domain (2 segments each)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per solver and size (best kept)")
    parser.add_argument("--epsilon", type=float, default=5e-3, help="entropic regularisation")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "pbrl.json"))
    args = parser.parse_args()
    rows = []
    print(f"{'segments':>8s} {'exact s':>8s} {'entropic s':>10s} {'ratio':>6s} {'exact acc':>9s} {'entropic acc':>12s}")
    for episodes in [int(part) for part in args.episodes.split(",")]:
        exact = measure(episodes, "exact", args.repeats, args.epsilon)
        entropic = measure(episodes, "entropic", args.repeats, args.epsilon)
        ratio = entropic["seconds"] / exact["seconds"]
        rows.append({"segments": exact["segments"], "exact": exact, "entropic": entropic,
                     "entropic_over_exact_time": ratio})
        print(f"{exact['segments']:8d} {exact['seconds']:8.2f} {entropic['seconds']:10.2f} {ratio:6.2f} "
              f"{exact['accuracy']:9.3f} {entropic['accuracy']:12.3f}", flush=True)
    result = {"benchmark": "pbrl GW exact vs entropic", "epsilon": args.epsilon, "repeats": args.repeats,
              "rows": rows, "versions": versions(), "machine": platform.machine(),
              "processor": platform.processor()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
