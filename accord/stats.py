"""Small statistics shared by the evaluations: percentile-bootstrap confidence intervals.

    mean, low, high = bootstrap_ci([0.2, 0.9, 0.4, 0.7])          # mean and its 95% interval
"""

from __future__ import annotations

import numpy as np


def bootstrap_ci(values, statistic=np.mean, resamples: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """(statistic, low, high): percentile bootstrap over the items of `values` (seeded resamples with
    replacement). Empty input gives three NaNs."""
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(resamples, len(values)))
    if statistic is np.mean:
        stats = values[draws].mean(axis=1)
    else:
        stats = np.array([statistic(values[row]) for row in draws])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(statistic(values)), float(low), float(high)
