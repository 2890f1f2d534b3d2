"""PEARL (accord.pbrl): point-mass task pair, GW label transfer, reward models, IQL, the command line.

Known answers: identical source and target give the identity coupling and the source labels back; a rotated
copy of a dataset is recovered exactly; the expectile (value) update of IQL matches a hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from accord.pbrl import pointmass
from accord.pbrl.pointmass import collect, make_segments, sample_pairs, task_pair, teacher_labels
from accord.pbrl.transfer import (gromov_coupling, label_accuracy, label_matrix, segment_features,
                                  transfer_labels)


# ---- environments and data -------------------------------------------------------------------------------

def test_point_mass_step_moves_clips_and_rewards_minus_distance():
    task = pointmass.PointMassTask(goal=(0.5, 0.0))
    position, reward = task.step(np.array([[0.0, 0.0], [0.95, 0.0]]), np.array([[1.0, 0.0], [3.0, 0.0]]))
    np.testing.assert_allclose(position, [[0.1, 0.0], [1.0, 0.0]])  # action clipped to 1, position to the box
    np.testing.assert_allclose(reward, [-0.4, -0.5])
    assert task.succeeded(np.array([[0.45, 0.0], [0.7, 0.0]])).tolist() == [True, False]


def test_target_goal_is_the_source_goal_rotated():
    source, target = task_pair(rotation=90.0)
    np.testing.assert_allclose(target.goal, [-source.goal[1], source.goal[0]], atol=1e-12)


def test_collect_is_seeded_and_quality_levels_are_ordered():
    source, _ = task_pair()
    data = collect(source, episodes=120, seed=3)
    again = collect(source, episodes=120, seed=3)
    np.testing.assert_array_equal(data["observations"], again["observations"])
    assert data["observations"].shape == (120, source.horizon, 2) and data["actions"].shape == (120, source.horizon, 2)
    returns = data["rewards"].sum(1)
    expert, poor = data["quality"] == "expert", data["quality"] == "poor"
    assert data["success"][expert].mean() > 0.9 and data["success"][poor].mean() < 0.3
    assert returns[expert].mean() > returns[data["quality"] == "medium"].mean() > returns[poor].mean()


def test_segments_partition_episodes_and_keep_their_returns():
    source, _ = task_pair()
    data = collect(source, episodes=5, seed=0)
    segments = make_segments(data, length=10)
    assert segments["observations"].shape == (5 * source.horizon // 10, 10, 2)
    np.testing.assert_allclose(segments["returns"].reshape(5, -1).sum(1), data["rewards"].sum(1), rtol=1e-5)
    with pytest.raises(ValueError):
        make_segments(data, length=7)


def test_teacher_labels_follow_true_returns_and_flip():
    returns = np.array([3.0, 1.0, 2.0, 2.0])
    pairs = np.array([[0, 1], [1, 2], [2, 3]])
    np.testing.assert_array_equal(teacher_labels(returns, pairs), [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(teacher_labels(returns, pairs, flip=1.0), [0.0, 1.0, 0.5])
    pairs = sample_pairs(500, 7, np.random.default_rng(0))
    assert (pairs[:, 0] != pairs[:, 1]).all() and pairs.max() < 7


# ---- label transfer -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_segments():
    source, _ = task_pair()
    return make_segments(collect(source, episodes=30, seed=1), length=20)  # 60 segments


@pytest.mark.parametrize("method", ["exact", "entropic"])
def test_identical_domains_give_identity_coupling_and_source_labels(small_segments, method):
    features = segment_features(small_segments["observations"], small_segments["actions"])
    count = len(features)
    coupling = gromov_coupling(features, features, method=method)
    np.testing.assert_allclose(coupling.sum(), 1.0, atol=1e-6)
    np.testing.assert_array_equal(coupling.argmax(0), np.arange(count))
    pairs = sample_pairs(200, count, np.random.default_rng(0))
    labels = teacher_labels(small_segments["returns"], pairs)
    values, mask = label_matrix(labels, pairs, count)
    transferred, mass = transfer_labels(coupling, values, mask, pairs)
    if method == "exact":
        np.testing.assert_allclose(coupling, np.eye(count) / count, atol=1e-9)
        np.testing.assert_allclose(transferred, labels, atol=1e-9)
    assert label_accuracy(transferred, labels) == 1.0


def test_transfer_weights_are_normalised_not_shrunk():
    # a permutation coupling with uniform marginals: entries 1/n, so raw products are 1/n^2
    count = 4
    permutation = np.array([2, 0, 3, 1])  # target i corresponds to source permutation[i]
    coupling = np.zeros((count, count))
    coupling[permutation, np.arange(count)] = 1.0 / count
    source_pairs = np.array([[0, 1], [2, 3], [0, 2], [1, 3], [0, 3], [1, 2]])
    source_labels = np.array([1.0, 0.0, 0.25, 0.5, 1.0, 0.75])
    values, mask = label_matrix(source_labels, source_pairs, count)
    target_pairs = np.array([[1, 3], [0, 2], [2, 1]])  # -> source (0, 1), (2, 3), (3, 0)
    transferred, mass = transfer_labels(coupling, values, mask, target_pairs)
    np.testing.assert_allclose(transferred, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(mass, 1.0 / count**2)  # what the raw product would have scaled the labels by


def test_transfer_averages_over_split_correspondences():
    # target 0 corresponds half to source 0, half to source 1; target 1 wholly to source 2
    coupling = np.array([[0.25, 0.0], [0.25, 0.0], [0.0, 0.5]])
    values, mask = label_matrix(np.array([1.0, 0.0]), np.array([[0, 2], [1, 2]]), 3)
    transferred, _ = transfer_labels(coupling, values, mask, np.array([[0, 1], [1, 0]]))
    np.testing.assert_allclose(transferred, [0.5, 0.5])
    values, mask = label_matrix(np.array([1.0]), np.array([[0, 2]]), 3)  # (1, 2) unlabelled: only (0, 2) counts
    transferred, _ = transfer_labels(coupling, values, mask, np.array([[0, 1]]))
    np.testing.assert_allclose(transferred, [1.0])


def test_gw_recovers_a_rotated_copy(small_segments):
    observations, actions = small_segments["observations"], small_segments["actions"]
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    order = np.random.default_rng(5).permutation(len(observations))
    target_features = segment_features(observations[order] @ rotation.T, actions[order] @ rotation.T)
    coupling = gromov_coupling(segment_features(observations, actions), target_features, method="exact")
    np.testing.assert_array_equal(coupling.argmax(0), order)


def test_label_accuracy_counts_ties_in_transfer_as_wrong_and_skips_true_ties():
    assert label_accuracy(np.array([0.9, 0.2, 0.5, 0.7]), np.array([1.0, 0.0, 1.0, 0.5])) == pytest.approx(2 / 3)
