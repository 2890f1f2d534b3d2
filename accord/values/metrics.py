"""Metrics of the value-understanding run: accuracy, macro-F1, expected calibration error, and percentile
bootstrap intervals."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def accuracy(gold: Sequence, pred: Sequence) -> float:
    gold, pred = list(gold), list(pred)
    if not gold:
        return float("nan")
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def macro_f1(gold: Sequence, pred: Sequence) -> float:
    """Unweighted mean of per-class F1 = 2TP / (2TP + FP + FN) over every class that occurs in gold or pred."""
    gold, pred = list(gold), list(pred)
    if not gold:
        return float("nan")
    scores = []
    for label in sorted(set(gold) | set(pred)):
        tp = sum(g == label and p == label for g, p in zip(gold, pred))
        fp = sum(g != label and p == label for g, p in zip(gold, pred))
        fn = sum(g == label and p != label for g, p in zip(gold, pred))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE = sum over equal-width confidence bins of (n_bin / n) * |accuracy_bin - mean confidence_bin|.

    Bins are (0, 0.1], (0.1, 0.2], ... with 0 itself in the first bin; confidence is the probability of
    the predicted answer."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if confidence.size == 0:
        return float("nan")
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.sum() / confidence.size * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


