"""Preference data shared by every task: segments cut from episodes, random segment pairs, and the scripted
teacher of preference-based RL (labels from true returns, Lee et al. 2021 B-Pref, arXiv 2111.03026), with
optional label noise.

    segments = make_segments(data, length=20)             # [N, H, ...] arrays + true returns
    pairs = sample_pairs(2000, len(segments["returns"]), rng)
    labels = teacher_labels(segments["returns"], pairs, flip=0.1, rng=rng)
"""

from __future__ import annotations

import numpy as np


def make_segments(data: dict, length: int) -> dict:
    """Cut every episode into consecutive segments of `length` steps; returns [N, H, ...] arrays and the
    true return of each segment (the scripted teacher's score)."""
    episodes, horizon = data["rewards"].shape
    if horizon % length:
        raise ValueError(f"segment length {length} does not divide the horizon {horizon}")
    pieces = horizon // length
    cut = lambda array: array.reshape(episodes * pieces, length, *array.shape[2:])  # noqa: E731
    observations, actions, rewards = cut(data["observations"]), cut(data["actions"]), cut(data["rewards"])
    return {"observations": observations, "actions": actions, "returns": rewards.sum(1),
            "episode": np.repeat(np.arange(episodes), pieces)}


def sample_pairs(count: int, segments: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random pairs (i, j) of distinct segment indices, shape [count, 2]."""
    first = rng.integers(0, segments, count)
    second = (first + rng.integers(1, segments, count)) % segments
    return np.stack([first, second], axis=1)


def teacher_labels(returns: np.ndarray, pairs: np.ndarray, flip: float = 0.0,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Scripted-teacher labels: 1 when the first segment of a pair has the higher true return, 0 when the
    second has, 0.5 on a tie; each label is flipped (y -> 1 - y) with probability `flip`."""
    first, second = returns[pairs[:, 0]], returns[pairs[:, 1]]
    labels = np.where(first > second, 1.0, np.where(first < second, 0.0, 0.5))
    if flip > 0:
        flipped = (rng or np.random.default_rng(0)).random(len(labels)) < flip
        labels = np.where(flipped, 1.0 - labels, labels)
    return labels
