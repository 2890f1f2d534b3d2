"""Small statistics shared by the evaluations: percentile-bootstrap confidence intervals.

    mean, low, high = bootstrap_ci([0.2, 0.9, 0.4, 0.7])          # mean and its 95% interval
"""

from __future__ import annotations

import numpy as np


def bootstrap_ci(values, statistic=np.mean, resamples: int = 2000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """(statistic, low, high): percentile bootstrap over the items of `values` (resampled with replacement)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    stats = np.array([statistic(values[row]) for row in picks]) if statistic is not np.mean else values[picks].mean(1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return float(statistic(values)), float(low), float(high)
