"""PEARL (accord.pbrl): point-mass task pair, GW label transfer, reward models, IQL, the command line.

Known answers: identical source and target give the identity coupling and the source labels back; a rotated
copy of a dataset is recovered exactly; the expectile (value) update of IQL matches a hand computation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from accord.pbrl import pointmass
from accord.pbrl.pointmass import collect, task_pair
from accord.pbrl.segments import make_segments, sample_pairs, teacher_labels
from accord.pbrl.transfer import (gromov_coupling, label_accuracy, label_matrix, segment_features,
                                  transfer_labels)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small networks on a shared CPU: one thread is faster and the results do not depend on the core count."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


@pytest.mark.filterwarnings("ignore:Sinkhorn did not converge")
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


# ---- reward models --------------------------------------------------------------------------------------

import torch  # noqa: E402

from accord.pbrl.rewards import (RewardConfig, build_reward_model, pair_accuracy, preference_loss, relabel,  # noqa: E402
                                 segment_scores, train_reward, uncertainty_loss)


def _linear_reward_segments(count=80, length=4, seed=0):
    rng = np.random.default_rng(seed)
    observations = rng.standard_normal((count, length, 2)).astype(np.float32)
    actions = rng.standard_normal((count, length, 2)).astype(np.float32)
    returns = observations[..., 0].sum(1)  # true step reward: the first state coordinate
    return observations, actions, returns


@pytest.mark.parametrize("kind", ["pt", "rpt", "mlp"])
def test_reward_models_learn_a_linear_reward_from_teacher_labels(kind):
    observations, actions, returns = _linear_reward_segments()
    rng = np.random.default_rng(1)
    pairs, test = sample_pairs(256, len(returns), rng), sample_pairs(500, len(returns), rng)
    config = RewardConfig(kind=kind, embed_dim=16, heads=2, hidden=16, epochs=10, lr=3e-3)
    model = train_reward(config, observations, actions, pairs, teacher_labels(returns, pairs))
    assert pair_accuracy(model, observations, actions, test, teacher_labels(returns, test)) > 0.85
    rewards = relabel(model, observations.reshape(20, 16, 2), actions.reshape(20, 16, 2), segment_length=4)
    assert rewards.shape == (20, 16) and np.isfinite(rewards).all()


def test_transformer_is_causal_step_rewards_ignore_the_future():
    model = build_reward_model(RewardConfig(kind="pt", embed_dim=16, heads=2), 2, 2, max_length=6).eval()
    observations, actions = torch.randn(1, 6, 2), torch.randn(1, 6, 2)
    changed_observations, changed_actions = observations.clone(), actions.clone()
    changed_observations[:, 4:] += 1.0
    changed_actions[:, 3:] -= 1.0  # a_3 sits after s_3 in the token order: r_3 reads it, r_0..r_2 do not
    with torch.no_grad():
        before = model.step_rewards(observations, actions)[0]
        after = model.step_rewards(changed_observations, changed_actions)[0]
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_uncertainty_regulariser_is_zero_at_and_above_the_level_and_linear_below():
    level = 0.2
    log_sigma = torch.log(torch.tensor([0.2, 0.5, 0.2 / np.e]))
    assert uncertainty_loss(log_sigma[:2], level).item() == pytest.approx(0.0, abs=1e-7)
    assert uncertainty_loss(log_sigma[2:], level).item() == pytest.approx(1.0, abs=1e-6)  # entropy 1 nat short


def test_sampled_returns_soften_the_pull_of_a_confidently_wrong_label():
    # Same means, a flipped label (y = 0) on a pair the model ranks first: the expected BT gradient on the
    # score difference under Gaussian sampling is E[sigmoid(d + s eps)] < sigmoid(d) for d > 0.
    difference = torch.tensor(2.0)
    samples = difference + 1.5 * torch.randn(200_000, generator=torch.Generator().manual_seed(0))
    assert torch.sigmoid(samples).mean().item() < torch.sigmoid(difference).item() - 0.05


@pytest.fixture(scope="module")
def clean_pt_and_probe_pairs():
    """A PT trained on clean teacher labels of a linear reward, and 40 pairs it ranks right by a margin > 1,
    the first half of them with flipped labels."""
    observations, actions, returns = _linear_reward_segments(seed=3)
    rng = np.random.default_rng(3)
    pairs = sample_pairs(256, len(returns), rng)
    config = RewardConfig(kind="pt", embed_dim=16, heads=2, epochs=10, lr=3e-3, seed=3)
    model = train_reward(config, observations, actions, pairs, teacher_labels(returns, pairs))
    scores = segment_scores(model, observations, actions)
    probe = sample_pairs(400, len(returns), rng)
    margin = scores[probe[:, 0]] - scores[probe[:, 1]]
    right = np.sign(margin) == np.sign(returns[probe[:, 0]] - returns[probe[:, 1]])
    probe = probe[right & (np.abs(margin) > 1.0)][:40]
    labels = teacher_labels(returns, probe)
    flipped = np.arange(len(probe)) < len(probe) // 2
    labels[flipped] = 1.0 - labels[flipped]
    return model, config, torch.as_tensor(observations), torch.as_tensor(actions), probe, labels, flipped


def _robust_copy(model, config, sigma):
    """An RPT with the PT's network and mean head, and log sigma_t = log(sigma) at every step."""
    robust = build_reward_model(RewardConfig(**{**vars(config), "kind": "rpt"}), 2, 2, max_length=4)
    robust.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("reward.")},
                           strict=False)
    with torch.no_grad():
        robust.reward.weight.zero_()
        robust.reward.weight[0] = model.reward.weight[0]
        robust.reward.bias.copy_(torch.tensor([model.reward.bias[0].item(), math.log(sigma)]))
    return robust.eval()


def _sampled_bt(model, config, observations, actions, pairs, labels, draws, seed):
    """Bradley-Terry loss of each pair, averaged over `draws` reparameterised samples (one per copy)."""
    copies = torch.as_tensor(pairs).repeat_interleave(draws, 0)
    targets = torch.as_tensor(labels, dtype=torch.float32).repeat_interleave(draws)
    generator = torch.Generator().manual_seed(seed) if model.robust else None
    _, loss = preference_loss(model, observations, actions, copies, targets, config, generator)
    return loss


def test_sampled_bradley_terry_never_favours_a_larger_sigma_not_even_on_flipped_pairs(clean_pt_and_probe_pairs):
    # Known answer: E[softplus(x + s eps)] is convex and even in s, so non-decreasing for s >= 0, whatever the
    # sign of x. The BT term therefore pushes sigma down on flipped pairs as on clean ones: a learned sigma
    # cannot single out noisy labels; only the regulariser's floor holds it up.
    model, config, observations, actions, pairs, labels, flipped = clean_pt_and_probe_pairs
    with torch.no_grad():
        for subset in (flipped, ~flipped):
            losses = [_sampled_bt(_robust_copy(model, config, sigma), config, observations, actions, pairs[subset],
                                  labels[subset], draws=256, seed=0).item() for sigma in (0.25, 1.0, 2.0, 4.0)]
            assert all(later > earlier + 0.01 for earlier, later in zip(losses, losses[1:])), losses


def test_sampled_rewards_shift_the_pull_from_flipped_to_clean_labels(clean_pt_and_probe_pairs):
    # Same mean network, one pair at a time: the gradient of the BT loss on the mean head is
    # (E[sigmoid(d + noise)] - y) * grad d. For a pair ranked right (d > 1), sampling strictly shrinks the pull
    # of a flipped label and strictly grows the pull of a correct one (sigmoid is odd about 1/2 and concave
    # for d > 0), so the flipped labels' share of the total pull falls. Checked over 5 seeds of this set-up:
    # at sigma 2, share 0.94-0.96 -> 0.88-0.91, clean pull x1.8-2.3, flipped pull x0.93-0.96.
    model, config, observations, actions, pairs, labels, flipped = clean_pt_and_probe_pairs

    def pulls(network, draws):
        norms = []
        for index in range(len(pairs)):
            network.zero_grad()
            _sampled_bt(network, config, observations, actions, pairs[index:index + 1], labels[index:index + 1],
                        draws, seed=index).backward()
            norms.append(network.reward.weight.grad[0].norm().item())
        return np.array(norms)

    plain, robust = pulls(model, 1), pulls(_robust_copy(model, config, 2.0), 256)
    share = lambda norms: norms[flipped].sum() / norms.sum()  # noqa: E731
    assert share(robust) < share(plain) - 0.02
    assert robust[~flipped].sum() > 1.5 * plain[~flipped].sum()
    assert robust[flipped].sum() < 0.99 * plain[flipped].sum()


def test_preference_loss_adds_the_weighted_regulariser_for_rpt_only():
    observations, actions, returns = _linear_reward_segments(count=6)
    pairs = torch.tensor([[0, 1], [2, 3]])
    labels = torch.tensor([1.0, 0.0])
    for kind in ("pt", "rpt"):
        config = RewardConfig(kind=kind, embed_dim=16, heads=2, uncertainty_weight=0.5, std_level=50.0)
        model = build_reward_model(config, 2, 2, max_length=4)
        total, bradley_terry = preference_loss(model, torch.as_tensor(observations), torch.as_tensor(actions),
                                               pairs, labels, config, torch.Generator().manual_seed(0))
        if kind == "pt":
            assert total.item() == bradley_terry.item()
        else:  # sigma ~ 1 at initialisation, far below 50: the hinge is active
            assert total.item() > bradley_terry.item() + 0.5 * 3.0


# ---- IQL and behaviour cloning ----------------------------------------------------------------------------

from accord.pbrl.iql import IQL, IQLConfig, expectile_loss, flatten_episodes, scale_rewards, train_bc  # noqa: E402


def _hand_iql(expectile=0.7, lr=0.1):
    """IQL on 1-D states and actions with linear networks set by hand and plain SGD."""
    agent = IQL(1, 1, IQLConfig(expectile=expectile, discount=0.5))
    agent.value = torch.nn.Linear(1, 1)
    agent.target_critics = torch.nn.ModuleList([torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)])
    with torch.no_grad():
        agent.value.weight.fill_(0.0)
        agent.value.bias.fill_(2.0)
        for critic, weights in zip(agent.target_critics, ([1.0, 0.0], [1.0, 1.0])):
            critic.weight.copy_(torch.tensor([weights]))
            critic.bias.fill_(0.0)
    agent.value_optimizer = torch.optim.SGD(agent.value.parameters(), lr=lr)
    return agent


def test_expectile_loss_hand_case():
    # u = Q - V = (-1, 1): weights 0.3 and 0.7, loss (0.3 + 0.7) / 2
    assert expectile_loss(torch.tensor([-1.0, 1.0]), 0.7).item() == pytest.approx(0.5)
    assert expectile_loss(torch.tensor([-2.0, 0.0]), 0.9).item() == pytest.approx(0.1 * 4 / 2)


def test_value_update_matches_hand_computation():
    agent = _hand_iql()
    observations = torch.tensor([[1.0], [3.0]])
    actions = torch.tensor([[0.0], [5.0]])  # min(s, s + a) = s: Q = (1, 3); V = 2 everywhere
    loss = agent.update_value(observations, actions)
    assert loss == pytest.approx(0.5)
    # dL/db = mean(-2 w u) = (0.6 - 1.4) / 2 = -0.4;  dL/dw = mean(-2 w u s) = (0.6 - 4.2) / 2 = -1.8
    assert agent.value.bias.item() == pytest.approx(2.0 + 0.1 * 0.4)
    assert agent.value.weight.item() == pytest.approx(0.0 + 0.1 * 1.8)


def test_value_converges_to_the_expectile_of_the_q_values():
    agent = _hand_iql(lr=0.2)
    with torch.no_grad():
        agent.value.weight.requires_grad_(False)
    agent.value_optimizer = torch.optim.SGD([agent.value.bias], lr=0.2)
    observations, actions = torch.zeros(2, 1), torch.tensor([[0.0], [0.0]])
    with torch.no_grad():  # Q = (1, 3) through the critics' biases, state 0 for both
        agent.target_critics[0].weight.zero_()
        agent.target_critics[1].weight.zero_()
        agent.target_critics[0].bias.fill_(1.0)
        agent.target_critics[1].bias.fill_(1.0)
    agent.target_q = lambda obs, act: torch.tensor([1.0, 3.0])
    for _ in range(300):
        agent.update_value(observations, actions)
    # the 0.7-expectile v of {1, 3}: 0.7 (3 - v) = 0.3 (v - 1)  ->  v = 2.4
    assert agent.value.bias.item() == pytest.approx(2.4, abs=1e-4)


def test_critic_target_is_reward_plus_discounted_next_value():
    agent = _hand_iql()
    agent.critics = torch.nn.ModuleList([torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)])
    with torch.no_grad():
        for critic in agent.critics:
            critic.weight.zero_()
            critic.bias.zero_()
    agent.critic_optimizer = torch.optim.SGD(agent.critics.parameters(), lr=0.1)
    loss = agent.update_critic(torch.zeros(1, 1), torch.zeros(1, 1), torch.tensor([1.0]), torch.zeros(1, 1),
                               torch.tensor([0.0]))
    assert loss == pytest.approx(2 * (1.0 + 0.5 * 2.0) ** 2)  # two critics, each (0 - 2)^2


def test_rewards_scale_to_unit_interval_and_episodes_flatten():
    np.testing.assert_allclose(scale_rewards(np.array([[-2.0, 0.0], [2.0, 1.0]])), [[0.0, 0.5], [1.0, 0.75]])
    source, _ = task_pair()
    data = collect(source, episodes=3, seed=0)
    flat = flatten_episodes(data, data["rewards"])
    assert flat["observations"].shape == (3 * source.horizon, 2) and float(flat["rewards"].max()) == 1.0
    np.testing.assert_allclose(flat["next_observations"][0].numpy(), data["next_observations"][0, 0])


def test_behaviour_cloning_recovers_a_linear_expert():
    observations = torch.rand(512, 2) * 2 - 1
    transitions = {"observations": observations, "actions": torch.clamp(-0.5 * observations, -1, 1)}
    policy = train_bc(IQLConfig(steps=300, batch_size=128, hidden=32, lr=3e-3), transitions)
    np.testing.assert_allclose(policy.act(np.array([[0.8, -0.4]], dtype=np.float32)), [[-0.4, 0.2]], atol=0.1)


# ---- command line ------------------------------------------------------------------------------------------

from accord.cli import main  # noqa: E402

TINY_RUN = ["pbrl", "run", "--episodes", "6", "--target-pairs", "40", "--reward-epochs", "1", "--embed-dim", "8",
            "--iql-steps", "5", "--hidden", "8", "--eval-episodes", "4", "--seeds", "1"]


@pytest.mark.parametrize("argv, message", [
    (["pbrl", "run", "--env", "mujoco-soup"], "unknown environment 'mujoco-soup'"),
    (["pbrl", "run", "--methods", "pearl,magic"], "unknown method(s) magic"),
    (["pbrl", "transfer", "--gw", "sinkhorn"], "unknown GW solver(s) sinkhorn"),
    (["pbrl", "run", "--source-flip", "1.5"], "--source-flip must be a probability"),
    (["pbrl", "run", "--data-mix", "decoy"], "unknown data mix 'decoy' for pointmass"),
    (["pbrl", "report", "/nonexistent/pbrl-run"], "holds no results.jsonl"),
])
def test_bad_input_is_one_clear_line(capsys, tmp_path, argv, message):
    assert main(argv + (["--out", str(tmp_path / "run")] if argv[1] == "run" else [])) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_run_resumes_without_repeating_and_reports(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(TINY_RUN + ["--methods", "pearl,bc", "--out", str(out)]) == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["0/pearl", "0/bc"]
    assert json.loads((out / "run.json").read_text())["settings"]["reward"]["embed_dim"] == 8
    assert (out / "seed0" / "transfer.npz").exists() and (out / "pbrl.png").exists()
    assert main(TINY_RUN + ["--methods", "pearl,bc", "--out", str(out)]) == 0  # all done: nothing repeated
    assert (out / "results.jsonl").read_text().splitlines() == lines
    capsys.readouterr()
    assert main(["pbrl", "report", str(out)]) == 0
    table = capsys.readouterr().out
    assert "PEARL (RPT, transferred labels)" in table and "behaviour cloning" in table
    assert main(TINY_RUN + ["--methods", "pearl,bc", "--iql-steps", "6", "--out", str(out)]) == 2  # other settings
    assert main(TINY_RUN[:-1] + ["0,1", "--methods", "bc", "--out", str(out)]) == 0  # another seed may be added
    assert [json.loads(line)["key"] for line in (out / "results.jsonl").read_text().splitlines()] == [
        "0/pearl", "0/bc", "1/bc"]


@pytest.mark.filterwarnings("ignore:Sinkhorn did not converge")
def test_transfer_command_prints_accuracy_per_solver(capsys):
    assert main(["pbrl", "transfer", "--episodes", "10", "--target-pairs", "50", "--gw-epsilon", "0.02", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["gw"] for row in rows] == ["exact", "entropic"]
    assert all(0.0 <= row["transfer_accuracy"] <= 1.0 for row in rows)


# ---- Meta-World (optional extra) -----------------------------------------------------------------------------

import importlib.util  # noqa: E402

HAS_METAWORLD = importlib.util.find_spec("metaworld") is not None
needs_metaworld = pytest.mark.skipif(not HAS_METAWORLD, reason="optional extra not installed: "
                                     "pip install 'accord[metaworld]' (metaworld 3.x, MuJoCo 3)")


@pytest.mark.skipif(HAS_METAWORLD, reason="checks the message shown when metaworld is missing")
def test_metaworld_missing_is_one_clear_line(capsys, tmp_path):
    assert main(["pbrl", "run", "--env", "metaworld", "--out", str(tmp_path / "run")]) == 2
    assert "pip install 'accord[metaworld]'" in capsys.readouterr().err


@needs_metaworld
def test_metaworld_pair_collects_scripted_episodes_headless():
    from accord.pbrl import metaworld_tasks
    from accord.errors import AccordError

    source, target = metaworld_tasks.task_pair("button-press-topdown-v3->button-press-v3", horizon=40)
    data = metaworld_tasks.collect(target, episodes=3, seed=0, mix={"expert": (0.1, 1.0)})
    assert data["observations"].shape == (3, 40, 39) and data["actions"].shape == (3, 40, 4)
    np.testing.assert_array_equal(data["observations"][:, 1:], data["next_observations"][:, :-1])
    again = metaworld_tasks.collect(target, episodes=3, seed=0, mix={"expert": (0.1, 1.0)})
    np.testing.assert_array_equal(data["rewards"], again["rewards"])
    with pytest.raises(AccordError):
        metaworld_tasks.task_pair("button-press-v3")
    with pytest.raises(AccordError):
        metaworld_tasks.task_pair("button-press-v3->no-such-task-v3")


@needs_metaworld
def test_metaworld_tiny_run_end_to_end(tmp_path):
    out = tmp_path / "mw"
    argv = ["pbrl", "run", "--env", "metaworld", "--episodes", "4", "--target-pairs", "20", "--reward-epochs", "1",
            "--embed-dim", "8", "--iql-steps", "3", "--hidden", "8", "--eval-episodes", "1", "--seeds", "1",
            "--methods", "pearl,bc", "--out", str(out)]
    assert main(argv) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 2


@needs_metaworld
def test_metaworld_decoy_level_poor_episodes_miss_the_button_and_experts_press_it():
    from accord.pbrl import metaworld_tasks

    _, target = metaworld_tasks.task_pair()
    levels = metaworld_tasks.MIXES["decoy"]
    poor = metaworld_tasks.collect(target, episodes=3, seed=0, mix={"poor": levels["poor"]})
    expert = metaworld_tasks.collect(target, episodes=3, seed=0, mix={"expert": levels["expert"]})
    assert not poor["success"].any() and expert["success"].all()
    assert poor["rewards"].sum(1).max() < expert["rewards"].sum(1).min()
